"""RFC 9457 problem details: the body of every error answer."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi.responses import JSONResponse

PROBLEM_JSON = "application/problem+json"


def problem(status: int, detail: str, **extensions: Any) -> JSONResponse:
    """An `application/problem+json` response (RFC 9457 §3); `type` is
    about:blank, so `title` is the status phrase (§4.2.1)."""
    body = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        **extensions,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)
