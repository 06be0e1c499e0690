"""How the dashboard writes times, counts, sizes and stored lists: UTC with
its offset and how long ago, singular and plural, byte sizes, a policy's
MX hosts (and text that is not a list, shown as it is)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from tlsrpt.web.dashboard.formats import ago, json_list, plural, size, when

NOW = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)


def test_how_long_ago() -> None:
    cases = {
        timedelta(seconds=20): "just now",
        timedelta(minutes=5): "5 min ago",
        timedelta(hours=3, minutes=59): "3 h ago",
        timedelta(hours=47): "47 h ago",
        timedelta(days=2): "2 days ago",
        timedelta(days=400): "400 days ago",
        -timedelta(hours=3): "in 3 h",
    }
    for before, text in cases.items():
        assert ago(NOW - before, NOW) == text, before
    naive = (NOW - timedelta(minutes=5)).replace(tzinfo=None)  # SQLite: naive UTC
    assert ago(naive, NOW) == "5 min ago"


def test_when_is_utc_with_its_offset_and_relative() -> None:
    shown = when(datetime(2026, 12, 7, 12, 0), NOW)
    assert shown == (
        '<time datetime="2026-12-07T12:00:00+00:00">2026-12-07 12:00 UTC+00:00</time>'
        ' <small class="ago">3 h ago</small>'
    )
    elsewhere = datetime(2026, 12, 7, 13, 0, tzinfo=timezone(timedelta(hours=1)))
    assert "2026-12-07 12:00 UTC+00:00" in when(elsewhere, NOW)  # shown in UTC
    assert "2026-12-07 12:00 UTC" in when("2026-12-07T12:00:00Z", NOW)  # stored text
    assert when("<b>not a time</b>", NOW) == "&lt;b&gt;not a time&lt;/b&gt;"
    assert when(None) == "–"


def test_singular_and_plural() -> None:
    assert plural(1, "domain") == "1 domain"
    assert plural(0, "domain") == "0 domains"
    assert plural(1000, "report") == "1,000 reports"
    assert plural(2, "analysis", "analyses") == "2 analyses"


def test_sizes() -> None:
    assert [size(n) for n in (1, 512, 65536, 1536 * 1024)] == [
        "1 byte",
        "512 bytes",
        "64 KiB",
        "1.5 MiB",
    ]


def test_mx_hosts_of_a_policy() -> None:
    assert json_list('["mx1.example.com", "*.example.net"]') == ["mx1.example.com", "*.example.net"]
    assert json_list("[]") == [] and json_list(None) == []
    assert json_list("not json <b>") == ["not json <b>"]
    assert json_list('{"a": 1}') == ['{"a": 1}']
