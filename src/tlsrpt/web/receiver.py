"""The HTTP report receiver (RFC 8460 §5.4): `POST /v1/reports`.

Answers: 201 a new report was stored, 200 a duplicate, 400 nothing usable
(the raw input is still kept in quarantine), 408 body not received in
time (a body trickled in to hold the connection), 413 body over the limit,
415 unsupported media type or content coding, 503 the store is unavailable
(the sender retries, R8460-5.4-e). Every error body is RFC 9457
problem+json. A 2xx is sent only once `ingest` has committed the raw bytes
(R8460-5.4-d); reports arriving together share one commit (`GroupCommitter`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
import sqlalchemy as sa
from fastapi import APIRouter, Request, Response

from tlsrpt.ingest.group_commit import GroupCommitter
from tlsrpt.ingest.model import IngestResult, RawInput, SourceInfo
from tlsrpt.store.url import StoreError
from tlsrpt.web.problems import problem

log = logging.getLogger("tlsrpt.receiver")

# RFC 8460 §5.4 (R8460-5.4-b), and the generic types some senders use. The
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
# R8460-5.4-c: gzip may also arrive as a content coding; the bytes are
# stored as sent and the parser inflates them.
ACCEPTED_CODINGS = frozenset({"", "identity", "gzip", "x-gzip"})
RETRY_AFTER_S = 60


class _TooLarge(Exception):
    pass


def media_type(header: str | None) -> str:
    return (header or "").split(";", 1)[0].strip().lower()


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refused as soon as it passes `limit`: never held whole
    when oversized, whatever Content-Length claims."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _TooLarge
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _TooLarge
    return bytes(body)


def _peer(request: Request) -> str:
    client = request.client
    return f"{client.host}:{client.port}" if client else "unknown"


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
    return problem(
        400,
        f"no usable report: {result.reason}",
        reason_code=result.reason_code,
        raw_id=result.raw_id,
        quarantined=True,
    )


def build_router(path: str, max_body_bytes: int, body_timeout_s: float) -> APIRouter:
    router = APIRouter()

    @router.post(path, summary="Receive a TLS-RPT report (RFC 8460 §5.4)")
    async def receive_report(request: Request) -> Response:
        # Every answer of this route is logged here (`tlsrpt serve` leaves
        # uvicorn's access line for it out).
        ctype = media_type(request.headers.get("content-type"))
        if ctype not in ACCEPTED_TYPES:
            log.info("refused %s: media type %r", _peer(request), ctype)
            return problem(
                415,
                f"unsupported media type {ctype or '(none)'!r}: "
                "send application/tlsrpt+gzip or application/tlsrpt+json",
            )
        coding = request.headers.get("content-encoding", "").strip().lower()
        if coding not in ACCEPTED_CODINGS:
            log.info("refused %s: content coding %r", _peer(request), coding)
            return problem(415, f"unsupported content coding {coding!r}: only gzip")
        try:
            async with asyncio.timeout(body_timeout_s):
                data = await _read_body(request, max_body_bytes)
        except TimeoutError:
            log.info("refused %s: body not received within %ss", _peer(request), body_timeout_s)
            return problem(408, f"the body was not received within {body_timeout_s} seconds")
        except _TooLarge:
            log.info("refused %s: body over %d bytes", _peer(request), max_body_bytes)
            return problem(413, f"the body exceeds the limit of {max_body_bytes} bytes")
        source = SourceInfo(
            kind="http",
            detail=_peer(request),
            content_type=request.headers.get("content-type"),
            # R8460-5.4-g: anyone can POST; the report is unauthenticated.
            meta={
                "authenticated": False,
                "content_encoding": coding or None,
                "user_agent": request.headers.get("user-agent"),
            },
        )
        committer: GroupCommitter = request.app.state.committer
        try:
            result = await committer.submit(RawInput(data, source))
        except (StoreError, sa.exc.DBAPIError) as exc:
            log.error("store unavailable for %s: %s", source.detail, exc)
            answer = problem(503, "the report store is unavailable; retry later")
            answer.headers["Retry-After"] = str(RETRY_AFTER_S)
            return answer
        log.info(
            "report from %s: %s (raw input %d)%s",
            source.detail,
            result.outcome,
            result.raw_id,
            f": {result.reason}" if result.reason else "",
        )
        return _answer(result)

    return router
