"""What the browser tests share: Debian's chromium driven by Playwright
(never `playwright install`), a page whose dialogs and console messages
are recorded, and the check that nothing a report carried ran."""

from __future__ import annotations

from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).parents[3] / "test-artifacts"
NO_CHROMIUM = "browser tests need Debian's chromium at /usr/bin/chromium (apt-get install chromium)"
NO_PLAYWRIGHT = "browser tests need the playwright package (the test extra)"


class Watched:
    """A page with every dialog and console message recorded."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.dialogs: list[str] = []
        self.console: list[str] = []
        page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        page.on("console", lambda m: self.console.append(m.text))


def assert_nothing_ran(watched: Watched) -> None:
    """No payload ran: no `window.__pwned`, no script element, no event
    handler attribute, no javascript: link, no dialog, no CSP violation
    (which would mean markup got through escaping)."""
    page = watched.page
    assert page.evaluate("() => window.__pwned === undefined")
    assert page.evaluate("() => document.querySelectorAll('script').length") == 0
    handlers = page.evaluate(
        """() => Array.from(document.querySelectorAll('*')).flatMap(
            el => Array.from(el.attributes).filter(a => a.name.startsWith('on')).map(a => a.name))"""
    )
    assert handlers == []
    assert page.locator("a[href^='javascript:' i]").count() == 0
    assert watched.dialogs == []
    assert not [m for m in watched.console if "Content Security Policy" in m]
