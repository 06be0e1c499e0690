"""The dashboard: server-rendered pages over the read model (`tlsrpt.store.reads`).

Every page handler is a top-level function in a module named for its
pages (`session_pages`, `domain_pages`, `report_pages`, `alert_pages`,
`quarantine_pages`); its dependencies (store, session, period) are
FastAPI dependencies (`deps`), so a handler can be mounted and tested
alone. `build_router` lists the routes. Every page needs a session
(`auth`); a domain or report the user may not see is a 404.

Templates are Jinja2 with autoescape on and never `|safe` (`render`; the
daily chart is Markup serialized by pygal's element tree, which escapes);
the pages carry no script, and the Content-Security-Policy forbids any
(`tlsrpt.web.headers` sets it on every answer). A domain's page is
reachable whatever its name: links write it as one percent-encoded
segment (`tlsrpt.web.segments`).
"""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from tlsrpt.web.dashboard import (
    alert_pages,
    auth,
    domain_pages,
    quarantine_pages,
    report_pages,
    rollout_pages,
    session_pages,
)
from tlsrpt.web.dashboard.domain_pages import PAGE_SIZE
from tlsrpt.web.dashboard.rdns import ReverseNames
from tlsrpt.web.dashboard.render import (
    HERE,
    Forbidden,
    NotFound,
    forbidden_page,
    not_found_page,
    templates,
)

__all__ = ["PAGE_SIZE", "build_router", "error_page", "install"]

# (method, path, handler): the order matters where paths overlap.
ROUTES: tuple[tuple[str, str, Callable[..., Any]], ...] = (
    ("GET", "/login", session_pages.login_form),
    ("POST", "/login", session_pages.login),
    ("POST", "/logout", session_pages.logout),
    ("GET", "/", domain_pages.overview),
    ("GET", "/export/{kind}.csv", domain_pages.domain_csv),
    ("GET", "/domains/{domain:path}", domain_pages.domain_page),
    ("GET", "/charts/failure-rate.svg", domain_pages.failure_rate_svg),
    ("GET", "/reports", report_pages.report_list),
    ("GET", "/reports/{pk}", report_pages.report_page),
    ("GET", "/reports/{pk}/raw", report_pages.report_raw),
    ("GET", "/quarantine", quarantine_pages.quarantine),
    ("GET", "/quarantine/{raw_id}", quarantine_pages.raw_page),
    ("GET", "/quarantine/{raw_id}/raw", quarantine_pages.raw_download),
    ("POST", "/quarantine/{raw_id}/retry", quarantine_pages.retry),
    ("GET", "/explanations", report_pages.explanations),
    ("GET", "/alerts", alert_pages.alert_list),
    ("POST", "/alerts/{alert_id}/ack", alert_pages.ack_alert),
    ("POST", "/alerts/{alert_id}/mute", alert_pages.mute_alert),
    ("POST", "/rollout/promote", rollout_pages.promote_domain),
    ("POST", "/rollout/rollback", rollout_pages.rollback_domain),
)


def build_router() -> APIRouter:
    router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
    for method, path, handler in ROUTES:
        router.add_api_route(path, handler, methods=[method], response_model=None)
    return router


def error_page(request: Request, status: int, detail: str) -> Response:
    """An error as a page, for a browser (`tlsrpt.web.problems`): no
    session is looked up, `detail` is escaped like every other text."""
    return templates().TemplateResponse(
        request,
        "error.html",
        {"session": None, "title": HTTPStatus(status).phrase, "status": status, "detail": detail},
        status_code=status,
    )


def install_errors(app: FastAPI) -> None:
    """Answer the dashboard's exceptions with their pages (also for a
    handler mounted alone in a test)."""

    async def on_login_required(request: Request, _exc: Exception) -> Response:
        return auth.login_redirect(request)

    app.add_exception_handler(auth.LoginRequired, on_login_required)
    app.add_exception_handler(NotFound, not_found_page)
    app.add_exception_handler(Forbidden, forbidden_page)


def install(app: FastAPI) -> None:
    """Add the dashboard and its static files to `app`."""
    settings = app.state.settings
    app.state.reverse_names = ReverseNames(
        settings.dns_nameservers, settings.dns_port, enabled=settings.reverse_dns
    )
    install_errors(app)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(build_router())
    # Compiled now, at startup, not by the first view after a restart.
    for template in (HERE / "templates").glob("*.html"):
        templates().env.get_template(template.name)
