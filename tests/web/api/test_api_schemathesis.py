"""schemathesis against the app's OpenAPI schema: generated calls to every
API operation, as an admin, never answer 5xx, and every answer matches the
schema (status codes, content types, bodies)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is in the test extra")


def test_api_matches_its_schema(world: Any) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", world.client.app)
    headers = {"Authorization": f"Bearer {world.admin_token}"}
    checked = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if not operation.path.startswith("/api/v1/"):
            continue  # the receiver has tests of its own; it would store what it gets

        @given(case=operation.as_strategy())
        @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
        def check(case: Any) -> None:
            case.call_and_validate(headers=headers)

        check()
        checked.append(f"{operation.method.upper()} {operation.path}")
    assert len(checked) >= 9, checked
