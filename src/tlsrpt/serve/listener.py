"""The HTTP listener of `tlsrpt serve`: the ASGI app under uvicorn, with
the connection limits of `tlsrpt.web.connections`, and whether a port is
free before anything is built."""

from __future__ import annotations

import errno
import logging
import socket

import uvicorn
from starlette.types import ASGIApp

from tlsrpt.serve import StartError
from tlsrpt.settings import Settings
from tlsrpt.web.connections import (
    ConnectionGuard,
    max_connections_for_descriptors,
    protocol_class,
)


def _connection_guard(settings: Settings) -> ConnectionGuard:
    """The HTTP connection limits (`tlsrpt.web.connections`), with
    max_connections lowered to what the descriptor limit allows."""
    limit = max_connections_for_descriptors(settings.max_connections)
    if limit < settings.max_connections:
        logging.getLogger("tlsrpt.connections").warning(
            "max_connections lowered from %d to %d: the descriptor limit (ulimit -n) "
            "allows no more; raise it to serve more connections",
            settings.max_connections,
            limit,
        )
    return ConnectionGuard(limit, settings.header_timeout_s, settings.http.body_timeout_s)


def uvicorn_config(app: ASGIApp, settings: Settings, log_level: str) -> uvicorn.Config:
    """How `tlsrpt serve` runs `app` under uvicorn."""
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        ssl_certfile=settings.certfile,
        ssl_keyfile=settings.keyfile,
        # Client addresses from X-Forwarded-For only when the peer is a
        # configured proxy.
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=list(settings.trusted_proxies) or None,
        log_config=None,
        log_level=log_level,
        access_log=False,  # the app logs each request (tlsrpt.web.access_log)
        timeout_graceful_shutdown=30,
        # h11 with a header timeout and a bound on connections
        http=protocol_class(_connection_guard(settings)),
        # No WebSocket (the app has none): an upgraded connection would leave
        # the guard's count without ever being released.
        ws="none",
        timeout_keep_alive=settings.keepalive_timeout_s,
    )


def _bind_error(host: str, port: int) -> OSError | None:
    """Why `host:port` cannot be listened on now, or None (bound as uvicorn
    binds: SO_REUSEADDR, so a closed connection's TIME_WAIT is no obstacle)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as exc:
        return exc
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            return exc
    return None


def check_port(host: str, port: int) -> None:
    """StartError unless `host:port` is free; when in use, name one that is."""
    error = _bind_error(host, port)
    if error is None:
        return
    if error.errno != errno.EADDRINUSE:
        raise StartError(f"cannot listen on {host}:{port}: {error.strerror or error}")
    free = next(
        (p for p in range(port + 1, min(port + 100, 65535) + 1) if _bind_error(host, p) is None),
        port + 1,
    )
    raise StartError(f"port {port} is in use; try --port {free}")
