"""What the web app and the HTTP receiver share, below both: the RFC 9457
problem response every HTTP error answer is, and the key a client is
counted under (rate limits, the quarantine budget).

Here rather than in `tlsrpt.web`: the HTTP receiver (`tlsrpt.receive.http`)
answers with problem details and counts clients as the web app's rate
limits do, and nothing outside `tlsrpt.web` imports it.
"""

from __future__ import annotations

import ipaddress
from http import HTTPStatus
from typing import Any

from starlette.responses import JSONResponse
from starlette.types import Scope

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


def client_key(scope: Scope) -> str:
    """The key a client's requests are counted under: its address as the
    server resolved it, an IPv6 address by its /64 (what one subscriber is
    usually given, RFC 6177 §2: counting single addresses of it would let
    one client take 2^64 keys), an IPv4-mapped one as IPv4."""
    client = scope.get("client")
    if not client:
        return "unknown"
    host = str(client[0])
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:  # a Unix socket path, or a proxy's odd value
        return host[:64]
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return str(addr.ipv4_mapped)
        return str(ipaddress.IPv6Network((addr, 64), strict=False))
    return str(addr)
