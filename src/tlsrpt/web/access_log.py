"""One access-log line per HTTP request (logger `tlsrpt.access`).

Takes the place of uvicorn's access log (`tlsrpt serve` turns that off): a
POST to the reports path is logged by the receiver itself, with the outcome
and the raw input's id, so it gets no second line here; uvicorn would make
that line before it could be dropped. Format as uvicorn's:
`client - "METHOD path HTTP/version" status`.
"""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("tlsrpt.access")


class AccessLog:
    def __init__(self, app: ASGIApp, reports_path: str) -> None:
        self.app = app
        self.reports_path = reports_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or (scope["method"] == "POST" and scope["path"] == self.reports_path)
            or not log.isEnabledFor(logging.INFO)
        ):
            await self.app(scope, receive, send)
            return
        status = 0

        async def sent(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sent)
        except Exception:
            status = status or 500  # the outer error handler answers 500
            raise
        finally:
            client = scope.get("client")
            query = scope.get("query_string", b"")
            log.info(
                '%s - "%s %s%s HTTP/%s" %d',
                f"{client[0]}:{client[1]}" if client else "-",
                scope["method"],
                scope.get("root_path", "") + scope["path"],
                f"?{query.decode('latin-1')}" if query else "",
                scope.get("http_version", "1.1"),
                status,
            )
