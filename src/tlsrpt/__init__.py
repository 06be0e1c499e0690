"""tlsrpt: SMTP TLS Reporting (RFC 8460) and MTA-STS (RFC 8461)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("tlsrpt")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"
