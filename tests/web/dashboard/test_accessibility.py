"""Every dashboard page in a real browser at a desktop (1366 px) and a phone
(375 px) width: Debian's chromium driven by Playwright, against a real
uvicorn server on loopback, over the demo data plus hostile input in every
place a page shows text from outside (reports, a quarantined input's
source, watcher snapshots and alerts, a user's e-mail address, lines of a
domain import).

On each page: nothing ran (`browser_kit.assert_nothing_ran`), a full-page
screenshot is saved under test-artifacts/accessibility/, and axe-core,
injected by the test (never served by the app, whose Content-Security-Policy
allows no script), reports no serious or critical violation. Every rule
that fired at all is written to test-artifacts/accessibility/axe.json.
Each page is loaded once, at the desktop width, and audited again after
the viewport narrows to the phone's (the layout follows the width; loading
and logging in twice would double the run's time). The main pages are also
loaded in an emulated phone (mobile viewport, touch, device pixel ratio
2.75), which lays a page out at the phone's width only if the page asks for it.

Which pages: every GET route of the app that answers a page; a new page
without a visit here fails `test_every_page_is_visited`. axe-core comes
from the npm registry (package.json, pinned by package-lock.json;
`npm ci` at the repository root, which scripts/test runs).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
import pytest
from tests.web.dashboard import browser_kit
from tests.web.dashboard.browser_kit import ARGS, CHROMIUM, Watched, assert_nothing_ran
from tests.web.dashboard.conftest import ADMIN, CUSTOMER, HOSTILE_DOMAIN, PASSWORD, Site
from tests.web.dashboard.test_dashboard_watch import (
    EXPIRING,
    NOW,
    SILENT,
    _evaluate,
    _record,
    snapshot,
)

from tlsrpt.ingest.model import SourceInfo
from tlsrpt.ingest.pipeline import ingest
from tlsrpt.settings import Settings
from tlsrpt.store import reads
from tlsrpt.store.users import add_domain, add_user, issue_token
from tlsrpt.web.app import create_app

AXE = Path(
    os.environ.get("TLSRPT_AXE_JS")
    or Path(__file__).parents[3] / "node_modules/axe-core/axe.min.js"
)
ARTIFACTS = browser_kit.ARTIFACTS / "accessibility"
WIDTHS = {"desktop": {"width": 1366, "height": 900}, "phone": {"width": 375, "height": 812}}
BLOCKING = ("serious", "critical")
# Paths the app answers that are not pages (downloads, images, machines).
NOT_PAGES = {
    "/export/{kind}.csv",
    "/charts/failure-rate.svg",
    "/reports/{pk}/raw",
    "/quarantine/{raw_id}/raw",
}
MACHINE = ("/api/", "/v1/", "/.well-known/", "/openapi.json", "/healthz", "/readyz", "/metrics")
HOSTILE_EMAIL = (
    "<script>window.__pwned='email'</script><img/src=x/onerror=alert('email')>@evil.example"
)
HOSTILE_SOURCE = "<script>window.__pwned='source'</script><img src=x onerror=\"alert('source')\">"
HOSTILE_LINES = "\n".join(
    [
        "<script>window.__pwned='line'</script>",
        "<img src=x onerror=\"window.__pwned='line'\">",
        "good-import.example",
        "javascript:alert('line')",
    ]
)

if not CHROMIUM.exists():
    pytest.skip(browser_kit.NO_CHROMIUM, allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason=browser_kit.NO_PLAYWRIGHT)
if not AXE.is_file():
    pytest.skip(
        f"accessibility tests need axe-core at {AXE}: run `npm ci` at the repository root "
        "(scripts/test does when npm is installed), or set TLSRPT_AXE_JS",
        allow_module_level=True,
    )


@dataclass
class Visit:
    """A page: who looks at it, how to get there, and the status it answers."""

    name: str
    who: str  # "admin", "customer" or "anonymous"
    route: str | None  # the route it covers
    path: str = ""
    status: int = 200
    action: Callable[[Any, str], Any] | None = None  # instead of a GET of path


@dataclass
class Findings:
    blocking: list[str] = field(default_factory=list)
    rules: dict[str, dict[str, Any]] = field(default_factory=dict)


def _routes(routes: list[Any]) -> Iterator[tuple[str, set[str]]]:
    for route in routes:
        inner = getattr(route, "original_router", None)  # FastAPI >= 0.165 wraps routers
        if inner is not None:
            yield from _routes(inner.routes)
        elif getattr(route, "path", None):
            yield route.path, set(getattr(route, "methods", None) or ())


def page_routes() -> set[str]:
    app = create_app(Settings())
    return {
        path
        for path, methods in _routes(app.routes)
        if "GET" in methods and path not in NOT_PAGES and not path.startswith(MACHINE)
    }


@pytest.fixture(scope="module")
def world(site: Site) -> Site:
    """The demo site plus hostile text where the other pages show it."""
    with site.store.write() as conn:
        add_user(conn, HOSTILE_EMAIL, PASSWORD, admin=False)
        add_domain(conn, "example.com", HOSTILE_EMAIL)
        issue_token(conn, CUSTOMER, None)
        issue_token(conn, ADMIN, None)
    quarantined = ingest(
        site.store, b"<script>alert('bytes')</script>", SourceInfo("file", HOSTILE_SOURCE)
    )
    assert quarantined.outcome == "quarantined"
    _record(site.store, "example.com", snapshot(100, extra_mx=False), NOW - timedelta(days=3))
    _record(site.store, "example.com", snapshot(12, extra_mx=True), NOW - timedelta(hours=1))
    _evaluate(site.store, "example.com", [EXPIRING, SILENT], NOW - timedelta(days=2))
    _evaluate(site.store, "example.com", [EXPIRING], NOW - timedelta(days=1))
    return site


def _submit_import(page: Any, base: str) -> Any:
    page.goto(f"{base}/admin/domains/import")
    page.fill("#import-text", HOSTILE_LINES)
    with page.expect_navigation():
        page.click("form[action='/admin/domains/import'] button[type=submit]")
    page.locator("#import-lines").wait_for(state="attached")
    return None


def _create_token(page: Any, base: str) -> Any:
    page.goto(f"{base}/account/tokens")
    with page.expect_navigation():
        page.click("form[action='/account/tokens'] button[type=submit]")
    assert page.locator("[data-field=token]").inner_text().startswith("tlsrpt_")
    return None


def visits(site: Site) -> list[Visit]:
    hostile_domain = f"/domains/{quote(HOSTILE_DOMAIN, safe='')}"
    with site.store.read() as conn:
        quarantined = reads.quarantine_page(conn, 100).rows
    return [
        Visit("login", "anonymous", "/login", "/login"),
        Visit("overview", "admin", "/", "/?days=90"),
        Visit("domain", "admin", "/domains/{domain:path}", "/domains/example.com"),
        Visit("domain-hostile", "admin", None, hostile_domain),
        Visit("reports", "admin", "/reports", "/reports"),
        Visit("report", "admin", "/reports/{pk}", "/reports/1"),
        Visit("report-hostile", "admin", None, f"/reports/{site.hostile_report_pk}"),
        Visit("report-shipped-hostile", "admin", None, f"/reports/{site.shipped_hostile_pk}"),
        Visit("quarantine", "admin", "/quarantine", "/quarantine"),
        *(
            Visit(f"quarantined-{n}", "admin", "/quarantine/{raw_id}" if n == 0 else None, url)
            for n, url in enumerate(f"/quarantine/{q['id']}" for q in quarantined)
        ),
        Visit("alerts", "admin", "/alerts", "/alerts"),
        Visit("explanations", "admin", "/explanations", "/explanations"),
        Visit("not-found", "admin", None, "/reports/999999999", 404),
        Visit("error", "admin", None, "/no-such-page", 404),
        Visit("admin-users", "admin", "/admin/users", "/admin/users"),
        Visit("admin-tokens", "admin", "/admin/tokens", "/admin/tokens"),
        Visit("admin-domains", "admin", "/admin/domains", "/admin/domains"),
        Visit("admin-import", "admin", "/admin/domains/import", "/admin/domains/import"),
        Visit("admin-import-result", "admin", None, action=_submit_import),
        Visit("admin-owners", "admin", "/admin/owners", "/admin/owners"),
        Visit("own-tokens", "customer", "/account/tokens", "/account/tokens"),
        Visit("own-token-created", "customer", None, action=_create_token),
        Visit("customer-overview", "customer", None, "/"),
        Visit("forbidden", "customer", None, "/admin/users", 403),
    ]


def test_every_page_is_visited(site: Site) -> None:
    covered = {v.route for v in visits(site) if v.route}
    missing = page_routes() - covered
    assert not missing, (
        f"pages without an accessibility visit: {sorted(missing)} (add them to visits())"
    )


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield launched
        launched.close()


def _context(browser: Any, base: str, who: str, **options: Any) -> Any:
    context = browser.new_context(**(options or {"viewport": WIDTHS["desktop"]}))
    if who != "anonymous":
        page = context.new_page()
        page.goto(f"{base}/login")
        page.fill("#email", ADMIN if who == "admin" else CUSTOMER)
        page.fill("#password", PASSWORD)
        with page.expect_navigation():
            page.click("form[action='/login'] button[type=submit]")
        page.close()
    return context


# The elements reaching (or whose text reaches) past the right edge of the
# page, but for those inside a table's own scrolling box.
WIDEST = """() => Array.from(document.querySelectorAll('body *'))
    .filter(el => el.getBoundingClientRect().left + el.scrollWidth
                  > document.documentElement.clientWidth + 1)
    .filter(el => !el.parentElement.closest('.scroll'))
    .slice(0, 5).map(el => `${el.tagName}.${el.className}#${el.id}`)"""
AXE_RUN = """async () => {
    const result = await axe.run(document, {resultTypes: ['violations']});
    return result.violations.map(v => ({
        id: v.id, impact: v.impact, help: v.help,
        targets: v.nodes.slice(0, 5).map(n => n.target.join(' ')),
    }));
}"""


def _audit(page: Any, name: str, width: str, findings: Findings) -> None:
    """A screenshot and axe's findings at the page's current width."""
    # JPEG: a tall page's PNG takes seconds to encode on a busy machine.
    page.screenshot(path=str(ARTIFACTS / width / f"{name}.jpeg"), full_page=True, quality=80)
    for v in page.evaluate(AXE_RUN):
        rule = findings.rules.setdefault(
            v["id"], {"impact": v["impact"], "help": v["help"], "pages": []}
        )
        rule["pages"].append(f"{width}/{name}: {v['targets']}")
        if v["impact"] in BLOCKING:
            findings.blocking.append(
                f"{width}/{name}: {v['id']} ({v['impact']}) {v['help']} at {v['targets']}"
            )


def _at_both_widths(watched: Watched, name: str, findings: Findings) -> None:
    """The page as loaded (at the desktop width), then narrowed to a phone's:
    both audited, nothing run, and at the phone width no sideways scrolling
    of the page itself (a wide table scrolls in its own box)."""
    page = watched.page
    assert_nothing_ran(watched)
    # Evaluated by the test through the DevTools protocol: the page's CSP,
    # which refuses every script, does not apply (nothing is added to it).
    page.evaluate(AXE.read_text(encoding="utf-8"))
    _audit(page, name, "desktop", findings)
    page.set_viewport_size(WIDTHS["phone"])
    try:
        _audit(page, name, "phone", findings)
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= WIDTHS["phone"]["width"], (name, page.evaluate(WIDEST))
    finally:
        page.set_viewport_size(WIDTHS["desktop"])
    assert_nothing_ran(watched)


def test_every_page_at_both_widths_is_accessible_and_runs_nothing(
    browser: Any, world: Site, live_url: str
) -> None:
    for width in WIDTHS:
        (ARTIFACTS / width).mkdir(parents=True, exist_ok=True)
    findings = Findings()
    contexts: dict[str, Watched] = {}
    try:
        for visit in visits(world):
            if visit.who not in contexts:
                contexts[visit.who] = Watched(_context(browser, live_url, visit.who).new_page())
            watched = contexts[visit.who]
            if visit.action is not None:
                visit.action(watched.page, live_url)
            else:
                answer = watched.page.goto(f"{live_url}{visit.path}")
                assert answer is not None and answer.status == visit.status, visit.name
            _at_both_widths(watched, visit.name, findings)
    finally:
        for watched in contexts.values():
            watched.page.context.close()
        (ARTIFACTS / "axe.json").write_bytes(
            orjson.dumps(findings.rules, option=orjson.OPT_INDENT_2)
        )
    assert not findings.blocking, "axe found serious or critical violations:\n" + "\n".join(
        findings.blocking
    )


# A phone as Chromium emulates one (the Pixel 5 of Playwright's device list):
# a mobile viewport that honours the page's <meta name="viewport">, touch
# and a device pixel ratio above 1. The audit above narrows a desktop window.
PHONE = {
    "viewport": {"width": 393, "height": 727},
    "device_scale_factor": 2.75,
    "is_mobile": True,
    "has_touch": True,
    "user_agent": "Mozilla/5.0 (Linux; Android 11; Pixel 5) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36",
}
PHONE_PAGES = ("/?days=90", "/domains/example.com", "/reports", "/alerts", "/quarantine")


def test_the_main_pages_fit_an_emulated_phone(browser: Any, world: Site, live_url: str) -> None:
    """Laid out at the phone's own width (a page without a working viewport
    meta is laid out 980 px wide on a mobile browser), with no sideways
    scrolling of the page; the overview shows each domain's verdict on screen."""
    (ARTIFACTS / "emulated-phone").mkdir(parents=True, exist_ok=True)
    context = _context(browser, live_url, "admin", **PHONE)
    try:
        page = context.new_page()
        for path in PHONE_PAGES:
            answer = page.goto(f"{live_url}{path}")
            assert answer is not None and answer.status == 200, path
            name = path.strip("/").split("?")[0].replace("/", "-") or "overview"
            page.screenshot(path=str(ARTIFACTS / "emulated-phone" / f"{name}.jpeg"), quality=80)
            layout = page.evaluate(
                "() => [window.innerWidth, document.documentElement.scrollWidth]"
            )
            assert layout[0] == 393 and layout[1] <= 393, (path, layout)
        page.goto(f"{live_url}/?days=90")
        verdict = page.locator("[data-field=readiness]").first
        box = verdict.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 393
    finally:
        context.close()
