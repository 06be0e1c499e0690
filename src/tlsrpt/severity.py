"""One `Severity` for every coded result: records' problems, report
deviations and the checker's findings (docs/architecture.md, "Coded
results").

A StrEnum, so a member equals and hashes as its string (`Severity.ERROR ==
"error"`) and JSON encoders write the string.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["SEVERITY_ORDER", "Severity"]


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


SEVERITY_ORDER = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}
