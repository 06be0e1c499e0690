"""Fixtures for the checker tests: the lab (see checklab/) started once per session."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# checklab is a helper package next to the tests (also used by benchmarks/check.py).
sys.path.insert(0, str(Path(__file__).parent))

from checklab.lab import Lab
from checklab.scenarios import add_scenarios


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    lab = Lab(tmp_path_factory.mktemp("checklab"))
    add_scenarios(lab)
    lab.start()
    try:
        yield lab
    finally:
        lab.stop()
