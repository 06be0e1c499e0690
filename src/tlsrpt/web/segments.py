"""Policy domains in URL paths, routed as sent.

A policy domain is text from a report and may hold any character, "/"
and "%" included (the parser keeps what it is given). A link writes it as
one percent-encoded path segment (`segment("a/b")` is "a%2Fb"). Servers
decode the path before routing, which would split that segment in two;
under the given prefixes `EncodedSegments` keeps the path as it was sent,
so the route sees one segment, and `decoded` turns it back into the name.
A path sent without any percent-escape is routed as usual.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote, unquote

from fastapi import Request
from starlette.types import ASGIApp, Receive, Scope, Send

_KEPT = "tlsrpt.encoded_path"  # scope key: the path is still percent-encoded


def segment(domain: str) -> str:
    """`domain` as one path segment: every reserved character escaped
    (a segment can then never be "." or "..", which clients would resolve)."""
    return quote(domain, safe="")


def decoded(request: Request, value: str) -> str:
    """A path parameter's text, decoded if `EncodedSegments` kept it encoded."""
    return unquote(value) if request.scope.get(_KEPT) else value


class EncodedSegments:
    def __init__(self, app: ASGIApp, prefixes: Sequence[str]) -> None:
        self.app = app
        self.prefixes = tuple(prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self.prefixes):
            raw = scope.get("raw_path") or b""
            if b"%" in raw:
                sent = raw.decode("ascii", errors="replace")
                if sent.startswith(self.prefixes):  # the prefix itself written plainly
                    scope = {**scope, "path": sent, _KEPT: True}
        await self.app(scope, receive, send)
