from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).parent.parent / "fixtures" / "reports"


@pytest.fixture
def fixture_bytes() -> Callable[[str], bytes]:
    def load(name: str) -> bytes:
        return (FIXTURES / name).read_bytes()

    return load


MINIMAL: dict[str, Any] = json.loads((FIXTURES / "conformant-minimal.json").read_bytes())


@pytest.fixture
def minimal() -> dict[str, Any]:
    """A fully RFC 8460 conformant report as a dict, fresh for each test."""
    return copy.deepcopy(MINIMAL)


def dumps(obj: Any) -> bytes:
    return json.dumps(obj).encode()
