"""tlsrpt.store: the database behind every source and reader.

The front door for Python callers::

    from tlsrpt.store import open_store
    store = open_store("sqlite:///tlsrpt.db")   # thread-safe, one per process

Names load on first use (PEP 562), so importing one submodule, or the
CLI's fast start, does not pull in SQLAlchemy through this package.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tlsrpt.store.engine import Store, open_store
    from tlsrpt.store.url import StoreError, StoreMissing

__all__ = ["Store", "StoreError", "StoreMissing", "open_store"]

_HOME = {"Store": "engine", "StoreError": "url", "StoreMissing": "url", "open_store": "engine"}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
