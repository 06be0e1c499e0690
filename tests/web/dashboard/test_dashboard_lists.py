"""The dashboard's lists a page at a time, and the quarantine viewer: the
reports page's filters and its pages (joined, exactly the rows the read
model lists), the domain page's failure details a page at a time, a
quarantined input's bytes shown escaped, capped and as hex when binary,
downloadable as an attachment, and Retry answered with a redirect."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape

from fastapi.testclient import TestClient

from tlsrpt.ingest.model import SourceInfo
from tlsrpt.ingest.pipeline import ingest
from tlsrpt.store import reads
from tlsrpt.store.users import get_user
from tlsrpt.web.dashboard.domain_pages import FAILURES_SHOWN
from tlsrpt.web.dashboard.raw import PREVIEW_BYTES, preview

from .conftest import ADMIN, CSRF, Site, login

NEXT = re.compile(r'<a rel="next" href="([^"]+)"')


def _pages(client: TestClient, url: str, pick: re.Pattern[str]) -> list[list[str]]:
    pages = []
    while True:
        answer = client.get(url)
        assert answer.status_code == 200, answer.text
        pages.append(pick.findall(answer.text))
        found = NEXT.search(answer.text)
        if found is None:
            return pages
        url = unescape(found.group(1))


def test_report_pages_and_filters(client: TestClient, site: Site) -> None:
    login(client, ADMIN)
    since = (site.end - timedelta(days=50)).isoformat()
    url = f"/reports?org=Google+Inc.&since={since}&until={site.end}"
    pages = _pages(client, url, re.compile(r'data-label="Report"><a href="/reports/(\d+)"'))
    assert len(pages) > 1 and all(len(p) == 100 for p in pages[:-1])
    shown = [int(x) for p in pages for x in p]
    with site.store.read() as conn:
        admin = get_user(conn, ADMIN)
        assert admin is not None
        where = reads.ReportFilter(
            organization="Google Inc.", since=site.end - timedelta(days=50), until=site.end
        )
        expected = reads.report_page(conn, admin, where, 100_000).rows
    assert shown == [r["id"] for r in expected]
    assert {r["organization"] for r in expected} == {"Google Inc."}
    # the form keeps the filter; a day that is not one is refused, escaped
    first = client.get(url)
    assert 'value="Google Inc."' in first.text and f'value="{since}"' in first.text
    bad = client.get("/reports", params={"since": "<b>x"}, headers={"Accept": "text/html"})
    assert bad.status_code in (400, 422) and "<b>x" not in bad.text
    assert client.get("/reports", params={"cursor": "forged"}).status_code == 404


def test_domain_failures_a_page_at_a_time(client: TestClient, site: Site) -> None:
    login(client, ADMIN)
    url = "/domains/mail.example.org?days=60"
    pages = _pages(
        client,
        url,
        re.compile(r'<td class="date"><a href="/reports/(\d+)">\d{4}-\d\d-\d\d</a></td>'),
    )
    with site.store.read() as conn:
        period = reads.period_of(60)
        everything = reads.failure_page(conn, "mail.example.org", period.start, period.end, 10**6)
    assert len(pages) > 1 and len(pages[0]) == FAILURES_SHOWN
    assert [int(x) for p in pages for x in p] == [f["report"] for f in everything.rows]


def _quarantine(site: Site, data: bytes) -> int:
    result = ingest(site.store, data, SourceInfo("file", "viewer test"))
    assert result.outcome == "quarantined"
    return result.raw_id


def test_a_quarantined_input_is_shown_escaped_and_capped(client: TestClient, site: Site) -> None:
    login(client, ADMIN)
    hostile = _quarantine(site, b"<script>window.__pwned=1</script>" + b"y" * (PREVIEW_BYTES * 2))
    page = client.get(f"/quarantine/{hostile}")
    assert page.status_code == 200
    assert "<script>window" not in page.text and "&lt;script&gt;window" in page.text
    assert 'id="truncated"' in page.text and "64 KiB" in page.text
    binary = _quarantine(site, bytes(range(256)) * 3)
    page = client.get(f"/quarantine/{binary}")
    assert "Binary, 768 bytes" in page.text and "00000000  00 01 02 03" in page.text
    assert 'id="truncated"' not in page.text
    listing = client.get("/quarantine")
    assert f'href="/quarantine/{binary}"' in listing.text


def test_a_quarantined_input_downloads_as_an_attachment(client: TestClient, site: Site) -> None:
    login(client, ADMIN)
    data = b"<html><script>alert(1)</script></html>"
    raw_id = _quarantine(site, data)
    answer = client.get(f"/quarantine/{raw_id}/raw")
    assert answer.status_code == 200 and answer.content == data
    assert answer.headers["content-type"] == "application/octet-stream"
    assert answer.headers["content-disposition"] == f'attachment; filename="input-{raw_id}.bin"'
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert client.get("/quarantine/999999999/raw").status_code == 404


def test_retry_answers_with_a_redirect(client: TestClient, site: Site) -> None:
    login(client, ADMIN)
    raw_id = _quarantine(site, b"not a report " + datetime.now(UTC).isoformat().encode())
    page = client.get(f"/quarantine/{raw_id}")
    token = CSRF.search(page.text)
    assert token is not None
    answer = client.post(
        f"/quarantine/{raw_id}/retry", data={"csrf": token.group(1)}, follow_redirects=False
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/quarantine/{raw_id}?retried=true"
    shown = client.get(answer.headers["location"])
    assert f"Raw input #{raw_id}: quarantined" in shown.text


def test_preview() -> None:
    assert preview(b"plain {json}").text == "plain {json}"
    cut = preview("é".encode() * 10, limit=5)  # a cut through a character
    assert cut.text == "éé" and cut.shown == 4 and cut.truncated
    control = preview(b"text\x1b[31m red")
    assert (
        control.text is None and control.hex == "00000000  74 65 78 74 1b 5b 33 31 6d 20 72 65 64"
    )
    invalid = preview(b"\xff\xfe" * 40, hex_limit=20)
    assert invalid.text is None and invalid.shown == 20 and invalid.hex is not None
    assert invalid.hex.splitlines()[1] == "00000010  ff fe ff fe"


def test_the_report_page_lists_mx_hosts(client: TestClient, site: Site) -> None:
    login(client, ADMIN)
    with site.store.read() as conn:
        admin = get_user(conn, ADMIN)
        assert admin is not None
        where = reads.ReportFilter(domain="shop.example.net")
        pk = reads.report_page(conn, admin, where, 1).rows[0]["id"]
    page = client.get(f"/reports/{pk}")
    cell = re.search(r'<td data-field="mx-hosts">(.*?)</td>', page.text)
    assert cell is not None
    assert re.findall(r"<li><code>([^<]*)</code></li>", cell.group(1)) == [
        "mx1.shop.example.net",
        "mx2.shop.example.net",
    ]
