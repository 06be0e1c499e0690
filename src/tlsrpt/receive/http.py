"""The HTTP report receiver (RFC 8460 §5.4): `POST /v1/reports`, and
`POST /v1/reports/DOMAIN` to name the recipient domain the report is for
(a domain owner publishes `rua=https://HOST/v1/reports/DOMAIN`): sessions
a report files under an MX host or under no domain are then attributed to
it (`tlsrpt.report.attribution`; docs/conformance.md#attribution).

Answers: 201 a new report was stored, 200 a duplicate, 400 nothing usable
(the raw input is still kept in quarantine), 408 body not received in
time (a body trickled in to hold the connection), 413 body over the limit,
415 unsupported media type or content coding, 429 nothing usable and the
client is over its quarantine budget for the UTC day (not stored;
Retry-After: the next UTC midnight), 503 the bodies held in memory are at
`max_inflight_body_bytes`, or the store is unavailable (the sender
retries, RFC 8460 §5.4). Every error body is RFC 9457 problem+json. A 2xx
is sent only once `ingest` has committed the raw bytes (RFC 8460 §5.4);
reports arriving together share one commit (`GroupCommitter`).

The web app (`tlsrpt.web.app`) mounts `receiver_route(...)` and adds its
rate limit, access log and metrics around it; the receiver itself needs
nothing of `tlsrpt.web` (problem answers and client keys: `tlsrpt.asgi`).
"""

from __future__ import annotations

import asyncio
import io
import logging
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import sqlalchemy as sa
from fastapi import FastAPI
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from tlsrpt.asgi import client_key, problem
from tlsrpt.domains import DomainError, normalize_domain
from tlsrpt.ingest.group_commit import GroupCommitter
from tlsrpt.ingest.model import (
    RECEIVER_DOMAIN,
    IngestResult,
    QuarantineBudget,
    RawInput,
    SourceInfo,
)
from tlsrpt.metrics import observe_ingest
from tlsrpt.receive.inflight import Holding, InflightBytes
from tlsrpt.receive.settings import HttpSettings
from tlsrpt.store.url import StoreError

log = logging.getLogger("tlsrpt.receiver")

# RFC 8460 §5.4 (docs/conformance.md#http-media-types), and the generic types some senders use. The
# type is never trusted for parsing: gzip is recognised by its magic bytes.
ACCEPTED_TYPES = frozenset(
    {
        "application/tlsrpt+gzip",
        "application/tlsrpt+json",
        "application/gzip",
        "application/x-gzip",
        "application/json",
        "application/octet-stream",
    }
)
# RFC 8460 §5.4; docs/conformance.md#gzip-detection: gzip may also arrive as a content coding; the
# bytes are stored as sent and the parser inflates them.
ACCEPTED_CODINGS = frozenset({"", "identity", "gzip", "x-gzip"})
RETRY_AFTER_S = 60
RETRY_BUSY_S = 5  # the bodies in memory are at their limit: one moment


class _TooLarge(Exception):
    pass


class _Busy(Exception):
    """Holding the body would pass `max_inflight_body_bytes`."""


class _Gone(Exception):
    """The client disconnected before sending the whole body."""


def media_type(header: str | None) -> str:
    return (header or "").split(";", 1)[0].strip().lower()


async def _read_body(receive: Receive, limit: int, declared: str, holding: Holding) -> bytes:
    """The body, refused as soon as it passes `limit`: never held whole
    when oversized, whatever Content-Length claims. Its bytes are reserved
    in `holding` before they are kept: the declared length up front, else
    as the chunks come."""
    if declared.isdigit():
        if int(declared) > limit:
            raise _TooLarge
        if not holding.reserve_up_to(int(declared)):
            raise _Busy
    # BytesIO grows one buffer and hands it over as the bytes object
    # (getvalue() shares it): no second copy of the body, as b"".join of
    # the chunks would make while they are still held.
    body = io.BytesIO()
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Gone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        if not holding.reserve_up_to(size):
            raise _Busy
        body.write(chunk)
        if not message.get("more_body", False):
            return body.getvalue()


def seconds_to_utc_midnight(now: datetime | None = None) -> int:
    """Until the quarantine budget's day ends (at least 1)."""
    now = now or datetime.now(UTC)
    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), UTC)
    return max(1, math.ceil((midnight - now).total_seconds()))


def _peer(scope: Scope) -> str:
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else "unknown"


def _json(body: dict[str, Any], status: int) -> Response:
    # orjson: a third of the cost of JSONResponse's json.dumps, per report.
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _answer(result: IngestResult) -> Response:
    body = {
        "outcome": result.outcome,
        "raw_id": result.raw_id,
        "report_ids": list(result.report_ids),
        "conflict": result.conflict,
        "warnings": list(result.warnings),
    }
    if result.outcome == "accepted":
        return _json(body, 201)
    if result.outcome == "duplicate":
        return _json({**body, "reason": result.reason}, 200)
    if result.outcome == "refused":
        answer = problem(
            429,
            f"no usable report, and not stored: {result.reason}",
            reason_code=result.reason_code,
            quarantined=False,
        )
        answer.headers["Retry-After"] = str(seconds_to_utc_midnight())
        return answer
    return problem(
        400,
        f"no usable report: {result.reason}",
        reason_code=result.reason_code,
        raw_id=result.raw_id,
        quarantined=True,
    )


class ReportReceiver:
    """The ASGI app of the reports path (POST only: the route sees to it).

    A plain ASGI app rather than a FastAPI endpoint: it needs none of the
    framework's request parsing, and the path is the one every sender
    calls. Every answer is logged here, once (the web app's access log
    leaves this path to it).
    """

    def __init__(self, settings: HttpSettings) -> None:
        self.max_body_bytes = settings.max_body_bytes
        self.body_timeout_s = settings.body_timeout_s
        self.inflight = InflightBytes(settings.max_inflight_body_bytes)
        self.budget_inputs = settings.quarantine_budget_inputs
        self.budget_bytes = settings.quarantine_budget_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The body's share of `max_inflight_body_bytes` is held until the
        # answer is decided: the body is held that long (then by the batch).
        with self.inflight.holding() as holding:
            answer = await self._handle(scope, receive, holding)
        if answer is not None:  # None: the client is gone, nobody to answer
            await answer(scope, receive, send)

    async def _handle(self, scope: Scope, receive: Receive, holding: Holding) -> Response | None:
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        peer = _peer(scope)
        named = scope.get(PATH_DOMAIN)
        recipient = None
        if named is not None:
            try:  # RFC 8460 §3: a policy domain, queried (and reported) in A-labels
                recipient = normalize_domain(named, "idna")
            except DomainError:
                log.info("refused %s: path names no domain", peer)
                return problem(404, "no report receiver here: the path names no domain")
        ctype = media_type(headers.get("content-type"))
        if ctype not in ACCEPTED_TYPES:
            log.info("refused %s: media type %r", peer, ctype)
            return problem(
                415,
                f"unsupported media type {ctype or '(none)'!r}: "
                "send application/tlsrpt+gzip or application/tlsrpt+json",
            )
        coding = headers.get("content-encoding", "").strip().lower()
        if coding not in ACCEPTED_CODINGS:
            log.info("refused %s: content coding %r", peer, coding)
            return problem(415, f"unsupported content coding {coding!r}: only gzip")
        limit, timeout = self.max_body_bytes, self.body_timeout_s
        try:
            async with asyncio.timeout(timeout):
                data = await _read_body(receive, limit, headers.get("content-length", ""), holding)
        except TimeoutError:
            log.info("refused %s: body not received within %ss", peer, timeout)
            return problem(408, f"the body was not received within {timeout} seconds")
        except _TooLarge:
            log.info("refused %s: body over %d bytes", peer, limit)
            return problem(413, f"the body exceeds the limit of {limit} bytes")
        except _Busy:
            log.warning(
                "refused %s: request bodies in memory at their limit of %d bytes",
                peer,
                self.inflight.limit,
            )
            answer = problem(503, "the server holds as many request bodies as it may; retry later")
            answer.headers["Retry-After"] = str(RETRY_BUSY_S)
            return answer
        except _Gone:
            log.info("%s went away before the end of the body", peer)
            return None
        source = SourceInfo(
            kind="http",
            detail=peer,
            content_type=headers.get("content-type"),
            # RFC 8460 §5.4: anyone can POST; the report is unauthenticated.
            meta={
                "authenticated": False,
                "content_encoding": coding or None,
                "user_agent": headers.get("user-agent"),
                **({RECEIVER_DOMAIN: recipient} if recipient else {}),
            },
        )
        budget = QuarantineBudget(client_key(scope), self.budget_inputs, self.budget_bytes)
        return await self._ingest(scope, RawInput(data, source, budget=budget), peer)

    async def _ingest(self, scope: Scope, raw: RawInput, peer: str) -> Response:
        committer: GroupCommitter = scope["app"].state.committer
        try:
            result = await committer.submit(raw)
        except (StoreError, sa.exc.DBAPIError) as exc:
            log.error("store unavailable for %s: %s", peer, exc)
            answer = problem(503, "the report store is unavailable; retry later")
            answer.headers["Retry-After"] = str(RETRY_AFTER_S)
            return answer
        observe_ingest("http", result.outcome)
        log.log(
            logging.WARNING if result.outcome == "refused" else logging.INFO,
            "report from %s: %s (%s)%s",
            peer,
            result.outcome,
            f"raw input {result.raw_id}" if result.raw_id else "not stored",
            f": {result.reason}" if result.reason else "",
        )
        return _answer(result)


# The scope key of the domain a `POST {reports_path}/DOMAIN` named.
PATH_DOMAIN = "tlsrpt.receiver_domain"


class DomainPath:
    """ASGI middleware, outermost: `POST {reports_path}/DOMAIN` goes on as
    `POST {reports_path}` with DOMAIN in the scope (`PATH_DOMAIN`), so the
    receiver's rate limit, metrics and logging apply to both paths alike;
    the receiver checks the name."""

    def __init__(self, app: ASGIApp, reports_path: str) -> None:
        self.app, self.path = app, reports_path
        self.prefix = reports_path.rstrip("/") + "/"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and scope["method"] == "POST" and path.startswith(self.prefix):
            named = path[len(self.prefix) :]
            if named:
                raw = self.path.encode()
                scope = {**scope, "path": self.path, "raw_path": raw, PATH_DOMAIN: named}
        await self.app(scope, receive, send)


def _problem_answer(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": {"type": "object"}}},
    }


# The route is plain ASGI, so FastAPI does not describe it: this does.
OPENAPI_OPERATION: dict[str, Any] = {
    "summary": "Receive a TLS-RPT report (RFC 8460 §5.4)",
    "operationId": "receive_report",
    "requestBody": {
        "required": True,
        "content": {
            media: {"schema": {"type": "string", "format": "binary"}}
            for media in ("application/tlsrpt+gzip", "application/tlsrpt+json")
        },
    },
    "responses": {
        "201": {"description": "a new report, stored and committed"},
        "200": {"description": "a report already stored (a duplicate)"},
        "400": _problem_answer("no usable report; the input is kept in quarantine"),
        "408": _problem_answer("the body did not arrive in time"),
        "413": _problem_answer("the body is over the limit"),
        "415": _problem_answer("unsupported media type or content coding"),
        "429": _problem_answer(
            "no usable report, and the client is over its quarantine budget for the "
            "UTC day: not stored; Retry-After names the next UTC midnight"
        ),
        "503": _problem_answer(
            "request bodies in memory at their limit, or the store is unavailable; "
            "retry after Retry-After"
        ),
    },
}


def document(app: FastAPI, path: str) -> None:
    """Add the receiver (both paths) to the app's OpenAPI schema."""
    generate = app.openapi
    named = {
        **OPENAPI_OPERATION,
        "summary": "Receive a TLS-RPT report for the recipient domain DOMAIN (RFC 8460 §5.4)",
        "operationId": "receive_report_for_domain",
        "parameters": [
            {"name": "domain", "in": "path", "required": True, "schema": {"type": "string"}}
        ],
    }
    named["responses"] = {
        **OPENAPI_OPERATION["responses"],
        "404": _problem_answer("the path names no domain"),
    }

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            schema["paths"][path] = {"post": OPENAPI_OPERATION}
            schema["paths"][path.rstrip("/") + "/{domain}"] = {"post": named}
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def receiver_route(settings: HttpSettings) -> Route:
    """`POST settings.reports_path` (RFC 8460 §5.4); other methods get 405."""
    return Route(
        settings.reports_path,
        ReportReceiver(settings),
        methods=["POST"],
        name="receive_report",
    )
