"""Security headers on every HTTP answer, as pure ASGI middleware.

It wraps the whole application, outside the framework's own error
handling, so pages, JSON, downloads, redirects and every error (404, 405,
422, 429, 500 ...) carry them, `/openapi.json` included. A header the
response set itself is kept (the standalone SVG charts allow their inline
style); the others are added.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The dashboard's pages load only their own stylesheet and images and post
# forms only to themselves; nothing may run a script or frame them. For
# JSON and every other answer the same policy does no harm.
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",  # every answer but the stylesheet is per user
}
CACHEABLE_PREFIX = "/static/"  # the stylesheet: the same for everyone


def _encoded(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]


_ALL = _encoded(SECURITY_HEADERS)
_CACHEABLE = _encoded({k: v for k, v in SECURITY_HEADERS.items() if k != "Cache-Control"})


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = _CACHEABLE if scope["path"].startswith(CACHEABLE_PREFIX) else _ALL

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend((k, v) for k, v in extra if k not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
