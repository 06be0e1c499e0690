"""The one error type every report parser raises."""

from __future__ import annotations


class ReportError(ValueError):
    """Input rejected. `code` is stable, `path` a JSON path or MIME location.

    Codes: empty-input, too-large, decompressed-too-large, gzip-invalid,
    gzip-truncated, not-utf8, json-invalid, duplicate-key, too-deep,
    too-many-policies, too-many-failure-details, count-implausible, schema, strict-violation,
    not-a-report, no-report-in-message, mime-invalid.
    """

    def __init__(self, code: str, reason: str, path: str = "$") -> None:
        super().__init__(f"{code} at {path}: {reason}")
        self.code = code
        self.reason = reason
        self.path = path

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "path": self.path, "reason": self.reason}
