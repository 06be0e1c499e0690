"""STARTTLS probe of one MX address over asyncio streams.

Banner, EHLO, STARTTLS (RFC 3207) and a TLS handshake with the MX host name
as SNI (RFC 8461 §7.1); the served chain is captured as DER for `certs` and
`tlsa` to judge. No mail is sent: the probe says QUIT after the handshake.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from dataclasses import dataclass

MAX_REPLY_LINES = 200
MAX_LINE = 4096


@dataclass(frozen=True, slots=True)
class SmtpProbe:
    """What one SMTP conversation with one MX address showed."""

    host: str
    address: str
    port: int
    refused: str | None = None
    connect_error: str | None = None
    banner: str | None = None
    banner_code: int | None = None
    capabilities: tuple[str, ...] = ()
    starttls_offered: bool = False
    tls_error: str | None = None
    tls_version: str | None = None
    cipher: str | None = None
    chain: tuple[bytes, ...] = ()
    elapsed: float = 0.0

    @property
    def reachable(self) -> bool:
        return self.refused is None and self.connect_error is None and self.banner_code == 220

    @property
    def tls_ok(self) -> bool:
        return self.tls_version is not None

    def to_json(self) -> dict[str, object]:
        return {
            "address": self.address,
            "port": self.port,
            "refused": self.refused,
            "connect_error": self.connect_error,
            "banner": self.banner,
            "capabilities": list(self.capabilities),
            "starttls": self.starttls_offered,
            "tls_error": self.tls_error,
            "tls_version": self.tls_version,
            "cipher": self.cipher,
            "elapsed": round(self.elapsed, 3),
        }


class _SmtpError(Exception):
    pass


async def _reply(reader: asyncio.StreamReader) -> tuple[int, list[str]]:
    """One (possibly multi-line) SMTP reply: code and text lines (RFC 5321 §4.2)."""
    lines: list[str] = []
    while len(lines) < MAX_REPLY_LINES:
        raw = await reader.readline()
        if not raw:
            raise _SmtpError("connection closed by the server")
        line = raw[:MAX_LINE].decode("utf-8", "replace").rstrip("\r\n")
        if len(line) < 3 or not line[:3].isdigit():
            raise _SmtpError(f"malformed reply line {line[:80]!r}")
        lines.append(line[4:])
        if len(line) == 3 or line[3] != "-":
            return int(line[:3]), lines
    raise _SmtpError(f"reply longer than {MAX_REPLY_LINES} lines")


async def _command(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, command: str
) -> tuple[int, list[str]]:
    writer.write(command.encode("ascii") + b"\r\n")
    await writer.drain()
    return await _reply(reader)


def _served_chain(ssl_object: ssl.SSLObject) -> tuple[bytes, ...]:
    """The chain exactly as the server sent it, leaf first.

    Python 3.13 exposes this as `SSLObject.get_unverified_chain()`; 3.10-3.12
    have the same call on the private `_sslobj`. Without either, only the leaf.
    """
    getter = getattr(ssl_object, "get_unverified_chain", None) or getattr(
        getattr(ssl_object, "_sslobj", None), "get_unverified_chain", None
    )
    if getter is not None:
        chain = getter() or []
        return tuple(
            c if isinstance(c, bytes) else c.public_bytes(ssl._ssl.ENCODING_DER)  # type: ignore[attr-defined]
            for c in chain
        )
    leaf = ssl_object.getpeercert(binary_form=True)
    return (leaf,) if leaf else ()


async def probe_smtp(
    host: str,
    address: str,
    port: int,
    context: ssl.SSLContext,
    timeout: float,
    helo: str,
) -> SmtpProbe:
    """Talk to `address:port` as MX `host`; every failure becomes data, never an exception."""
    started = time.monotonic()
    facts: dict[str, object] = {}

    def result() -> SmtpProbe:
        return SmtpProbe(host, address, port, elapsed=time.monotonic() - started, **facts)  # type: ignore[arg-type]

    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(address, port, limit=MAX_LINE * 4)
    except TimeoutError:
        facts["connect_error"] = f"connection timed out after {timeout:g} s"
        return result()
    except OSError as exc:
        facts["connect_error"] = exc.strerror or str(exc)
        return result()
    try:
        async with asyncio.timeout(timeout):
            await _converse(reader, writer, host, context, helo, facts)
    except TimeoutError:
        _record_error(facts, f"no answer within {timeout:g} s")
    except (_SmtpError, OSError, UnicodeError, ValueError) as exc:
        _record_error(facts, str(exc) or type(exc).__name__)
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError, TimeoutError):
            async with asyncio.timeout(1):
                await writer.wait_closed()
    return result()


def _record_error(facts: dict[str, object], error: str) -> None:
    """Attach an error to the stage the conversation had reached."""
    if "banner_code" not in facts:
        facts["connect_error"] = f"no SMTP greeting: {error}"
    elif facts.get("starttls_offered") and "tls_version" not in facts:
        facts.setdefault("tls_error", error)
    elif "capabilities" not in facts:
        facts["connect_error"] = f"EHLO failed: {error}"


async def _converse(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    host: str,
    context: ssl.SSLContext,
    helo: str,
    facts: dict[str, object],
) -> None:
    code, lines = await _reply(reader)
    facts["banner_code"] = code
    facts["banner"] = f"{code} " + " / ".join(lines)[:500]
    if code != 220:
        with contextlib.suppress(_SmtpError, OSError):
            await _command(reader, writer, "QUIT")
        return
    code, lines = await _command(reader, writer, f"EHLO {helo}")
    if code != 250:
        facts["capabilities"] = ()
        facts["connect_error"] = f"EHLO refused: {code} {' '.join(lines)[:200]}"
        return
    capabilities = tuple(line.strip() for line in lines[1:])
    facts["capabilities"] = capabilities
    offered = any(c.upper().split(" ")[0] == "STARTTLS" for c in capabilities)
    facts["starttls_offered"] = offered
    if not offered:
        await _command(reader, writer, "QUIT")
        return
    code, lines = await _command(reader, writer, "STARTTLS")
    if code != 220:
        facts["tls_error"] = f"STARTTLS refused: {code} {' '.join(lines)[:200]}"
        return
    try:
        await writer.start_tls(context, server_hostname=host)
    except ssl.SSLError as exc:
        facts["tls_error"] = f"TLS handshake failed: {exc.reason or exc}"
        return
    except ConnectionError as exc:
        facts["tls_error"] = f"TLS handshake failed: the server closed the connection ({exc})"
        return
    ssl_object = writer.get_extra_info("ssl_object")
    facts["tls_version"] = ssl_object.version()
    cipher = ssl_object.cipher()
    facts["cipher"] = cipher[0] if cipher else None
    facts["chain"] = _served_chain(ssl_object)
    with contextlib.suppress(_SmtpError, OSError, ssl.SSLError):
        await _command(reader, writer, "QUIT")
