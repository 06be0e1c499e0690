"""The MTA-STS policy host of every hosted domain (`tlsrpt.mtasts`), and the
question a TLS terminator asks before it gets a certificate on demand.

- `GET|HEAD /.well-known/mta-sts.txt` with `Host: mta-sts.DOMAIN` (RFC
  8461 §3.3; case-insensitive, a port and a trailing dot allowed): the
  current policy of DOMAIN, the stored text byte for byte, `Content-Type:
  text/plain` (RFC 8461 §3.2), never a redirect (§3.3: senders do not
  follow them), `Cache-Control: max-age=300` (a short time for caches in
  between; senders themselves cache by the policy's max_age) and an
  `ETag` (the policy id). Any other host name, or a domain whose policy is
  not hosted here, gets 404.
- `GET /v1/mta-sts/allowed?domain=NAME`: 200 when NAME is `mta-sts.` and a
  hosted domain, else 404: Caddy's `on_demand_tls { ask ... }` asks it
  before it requests a certificate for NAME.

No login: senders and the TLS terminator are anonymous. Both are limited
per client address by the rate limiter (`rate_rules`), and carry the
security headers like every answer (the Cache-Control set here is kept).
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response

from tlsrpt.mtasts.publish import policy_host_domain
from tlsrpt.mtasts.versions import PolicyVersion
from tlsrpt.store.engine import Store
from tlsrpt.store.hosted import current_version
from tlsrpt.store.url import StoreError
from tlsrpt.web.problems import problem
from tlsrpt.web.ratelimit import Rule, TokenBuckets

log = logging.getLogger("tlsrpt.policy_host")

POLICY_PATH = "/.well-known/mta-sts.txt"  # RFC 8461 §3.2
ALLOWED_PATH = "/v1/mta-sts/allowed"
CACHE_SECONDS = 300
# Per client address. A large sender fetches many hosted domains' policies
# from few addresses, so the burst is generous; a client asking for the same
# few names in a loop is slowed down.
POLICY_RATE, POLICY_BURST = 50.0, 1000
ALLOWED_RATE, ALLOWED_BURST = 50.0, 1000
RETRY_S = 30

_POLICY_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "the policy", "content": {"text/plain": {}}},
    304: {"description": "not modified (If-None-Match matched the ETag)"},
    404: {"description": "no policy is hosted for this Host"},
}


class _Unavailable(Exception):
    pass


def _lookup(store: Store, domain: str | None) -> PolicyVersion | None:
    if domain is None:
        return None
    try:
        with store.read() as conn:
            return current_version(conn, domain)
    except (StoreError, sa.exc.SQLAlchemyError) as exc:
        log.warning("hosted policy of %s: database unavailable: %s", domain, exc)
        raise _Unavailable from exc


def _unavailable() -> Response:
    answer = problem(503, "the database is unavailable; try again later")
    answer.headers["Retry-After"] = str(RETRY_S)
    return answer


def _matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 §13.1.2: weak comparison against any listed tag, or `*`."""
    if not if_none_match:
        return False
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in tags or etag in tags


def build_router() -> APIRouter:
    router = APIRouter()

    @router.head(POLICY_PATH, include_in_schema=False, response_class=Response)
    @router.get(
        POLICY_PATH,
        summary="The hosted MTA-STS policy of the domain named by Host: mta-sts.DOMAIN",
        response_class=Response,
        responses=_POLICY_RESPONSES,
    )
    def policy(request: Request) -> Response:
        try:
            version = _lookup(
                request.app.state.store, policy_host_domain(request.headers.get("host"))
            )
        except _Unavailable:
            return _unavailable()
        if version is None:
            return problem(404, "no MTA-STS policy is hosted for this host name")
        etag = f'"{version.id}"'
        headers = {"Cache-Control": f"max-age={CACHE_SECONDS}", "ETag": etag}
        if _matches(request.headers.get("if-none-match"), etag):
            return Response(status_code=304, headers=headers)
        # RFC 8461 §3.2: media type text/plain, the stored CRLF text unchanged.
        body = version.text.encode("utf-8")
        return Response(body, headers={**headers, "Content-Type": "text/plain"})

    @router.get(
        ALLOWED_PATH,
        summary="Whether NAME is the policy host of a hosted domain (for on-demand TLS)",
        responses={404: {"description": "not a policy host name of a hosted domain"}},
        response_model=None,
    )
    def allowed(
        request: Request, domain: Annotated[str, Query(min_length=1, max_length=300)]
    ) -> Response:
        name = policy_host_domain(domain)
        try:
            version = _lookup(request.app.state.store, name)
        except _Unavailable:
            return _unavailable()
        if version is None:
            return problem(404, "not the policy host name of a domain hosted here")
        return JSONResponse({"allowed": True, "domain": version.domain})

    return router


def install(app: FastAPI) -> None:
    app.include_router(build_router())


def rate_rules() -> list[Rule]:
    """The rate limiter's rules for these paths (HEAD shares GET's bucket)."""
    policy = TokenBuckets(POLICY_RATE, POLICY_BURST, name="policy")
    return [
        Rule("GET", POLICY_PATH, policy),
        Rule("HEAD", POLICY_PATH, policy),
        Rule("GET", ALLOWED_PATH, TokenBuckets(ALLOWED_RATE, ALLOWED_BURST, name="allowed")),
    ]
