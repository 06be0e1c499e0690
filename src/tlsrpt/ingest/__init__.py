"""tlsrpt.ingest: one pipeline for every source (HTTP, SMTP, IMAP, files).

The front door for Python callers::

    from tlsrpt.ingest import SourceInfo, ingest
    result = ingest(store, body, SourceInfo("http", "203.0.113.7", "application/tlsrpt+gzip"))

Names load on first use (PEP 562), so importing one submodule, or the
CLI's fast start, does not pull in the pipeline and the store.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tlsrpt.ingest.model import (
        IngestResult,
        QuarantineBudget,
        RawInput,
        SourceInfo,
        UnsignedRelease,
    )
    from tlsrpt.ingest.pipeline import (
        Prepared,
        ingest,
        ingest_batch,
        ingest_prepared,
        prepare,
        reprocess,
    )

__all__ = [
    "IngestResult",
    "Prepared",
    "QuarantineBudget",
    "RawInput",
    "SourceInfo",
    "UnsignedRelease",
    "ingest",
    "ingest_batch",
    "ingest_prepared",
    "prepare",
    "reprocess",
]

_MODEL = ("IngestResult", "QuarantineBudget", "RawInput", "SourceInfo", "UnsignedRelease")
_HOME = {name: "model" if name in _MODEL else "pipeline" for name in __all__}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
