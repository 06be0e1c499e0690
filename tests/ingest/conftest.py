"""The ingest tests build reports as the store tests do."""

from __future__ import annotations

import pytest
from tests.store.conftest import ReportMaker


@pytest.fixture
def make() -> ReportMaker:
    return ReportMaker()
