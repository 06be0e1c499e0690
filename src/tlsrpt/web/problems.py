"""RFC 9457 problem details: the body of every error answer.

`problem()` (in `tlsrpt.asgi`, shared with the HTTP receiver) builds one;
`install(app, ...)` makes the framework's own errors problem details too:
a path with no route (404), a method the route does not take (405), a
parameter that fails validation (422) and an unexpected exception (500).
A browser asking for a dashboard page (`Accept: text/html`, outside the
API and the receiver) gets the same answer as an escaped HTML page.

A 422 never repeats the input that was refused: it names the parameter
and the rule, not the value (hostile text is not echoed back).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from tlsrpt.asgi import PROBLEM_JSON, problem

# An error page for a browser: (request, status, detail) -> HTML response.
ErrorPage = Callable[[Request, int, str], Response]


# The members of a problem details object (RFC 9457 §3.1), for the OpenAPI schema.
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
    },
}

_DEFAULT_DETAILS = {
    404: "nothing here: no such path",
    405: "this method is not allowed here",
    500: "an internal error; it was logged",
}
_WHERE = {"path": "path parameter", "query": "query parameter", "body": "form field"}
_WHERE.update({"header": "header", "cookie": "cookie"})


def _name(part: Any) -> str | None:
    """A parameter name from a validation location: our own names only,
    never text taken from the request."""
    if isinstance(part, str) and part.isidentifier() and len(part) <= 64:
        return part
    return None


def validation_errors(exc: RequestValidationError) -> list[dict[str, str]]:
    """Each refused parameter: where, its name and the rule it broke. The
    value itself is left out, and so is a message that contains it."""
    out = []
    for error in exc.errors():
        loc = tuple(error.get("loc", ()))
        where = str(loc[0]) if loc and loc[0] in _WHERE else "request"
        name = _name(loc[1]) if len(loc) > 1 else None
        message = str(error.get("msg", ""))
        given = error.get("input")
        if isinstance(given, str) and given and given in message:
            message = str(error.get("type", "invalid"))
        out.append({"in": where, "name": name or "?", "reason": message})
    return out


def _http_detail(exc: HTTPException) -> str:
    detail = exc.detail if isinstance(exc.detail, str) else ""
    if exc.status_code == 405 and exc.headers and "Allow" in exc.headers:
        return f"this method is not allowed here; allowed: {exc.headers['Allow']}"
    if not detail or detail == HTTPStatus(exc.status_code).phrase:
        return _DEFAULT_DETAILS.get(exc.status_code, HTTPStatus(exc.status_code).phrase.lower())
    return detail


def _declare_problems(schema: dict[str, Any]) -> None:
    """Every error answer of every operation is a problem details object,
    and an undeclared status (a 500, a 405) is one too (`default`)."""
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    if "Problem" in schemas:
        return
    schemas["Problem"] = PROBLEM_SCHEMA
    for unused in ("HTTPValidationError", "ValidationError"):  # FastAPI's 422 body
        schemas.pop(unused, None)
    content = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            for code, response in responses.items():
                if code == "default" or int(code) >= 400:
                    response["content"] = content
            if "422" in responses:
                responses["422"]["description"] = "a parameter is not valid"
            responses.setdefault("default", {"description": "any other error", "content": content})


def _document(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()
        _declare_problems(schema)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def install(
    app: FastAPI, error_page: ErrorPage | None = None, json_prefixes: Sequence[str] = ()
) -> None:
    """Answer the framework's errors as problem details; with `error_page`,
    as an HTML page to a browser asking for a path outside `json_prefixes`.
    The OpenAPI schema declares them (call this after any other change to
    the schema)."""

    def answer(request: Request, status: int, detail: str, **extensions: Any) -> Response:
        path = request.url.path
        accept = request.headers.get("accept", "")
        if (
            error_page is not None
            and "text/html" in accept
            and not path.startswith(tuple(json_prefixes))
        ):
            return error_page(request, status, detail)
        return problem(status, detail, **extensions)

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code < 400 or exc.status_code in (204, 304):
            return Response(status_code=exc.status_code, headers=exc.headers)
        response = answer(request, exc.status_code, _http_detail(exc))
        response.headers.update(exc.headers or {})
        return response

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = validation_errors(exc)
        named = "; ".join(
            f"{_WHERE.get(e['in'], e['in'])} {e['name']}: {e['reason']}" for e in errors
        )
        return answer(request, 422, f"invalid request ({named})", errors=errors)

    async def on_error(request: Request, exc: Exception) -> Response:
        # Logged by the server with its traceback (the exception goes on up);
        # the client learns nothing of it.
        return answer(request, 500, _DEFAULT_DETAILS[500])

    app.add_exception_handler(HTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(Exception, on_error)
    _document(app)
