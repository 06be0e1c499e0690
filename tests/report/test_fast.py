"""The fast path (`tlsrpt.report.fast`) against the full path (`decode_full`).

Whenever the fast path returns a report, it must be the report and the
deviations, in the same order, that the full path gives for the same bytes;
when in doubt it must step aside. Checked on every fixture, on the shared
corpus when present, and on generated and mutated reports (docs/conformance.md#parser-leniency:
every quirk accepted is reported, whatever path the bytes take).
"""

from __future__ import annotations

import contextlib
import copy
import gzip
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from tlsrpt.report import ReportError, fast, parse_message
from tlsrpt.report.limits import DEFAULT_LIMITS, Limits
from tlsrpt.report.normalize import Findings
from tlsrpt.report.parse import BOM, decode_full
from tlsrpt.report.serialize import to_json

FIXTURES = Path(__file__).parent.parent / "fixtures" / "reports"
CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus"
MINIMAL: dict[str, Any] = json.loads((FIXTURES / "conformant-minimal.json").read_bytes())


def both(body: bytes, limits: Limits = DEFAULT_LIMITS) -> bool:
    """Compare the paths on `body`; True when the fast path took it."""
    quick: list[Any] = []
    report = fast.decode(body, quick, limits)
    if report is None:
        assert quick == [], "the fast path must leave no trace when it steps aside"
        return False
    full = Findings()
    # encoded, so that equal instants in different zones still differ
    assert msgspec.json.encode(decode_full(body, full, limits)) == msgspec.json.encode(report)
    assert [(d.code, d.path, d.message, d.violation) for d in quick] == [
        (d.code, d.path, d.message, d.violation) for d in full
    ]
    return True


def fixture_body(name: str) -> bytes:
    return (FIXTURES / name).read_bytes().removeprefix(BOM)


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.json")), ids=lambda p: p.name)
def test_fixture_paths_agree(path):
    both(path.read_bytes().removeprefix(BOM))


@pytest.mark.parametrize(
    "name",
    [
        "conformant-minimal.json",
        "all-result-types.json",
        "google-sts-success.json",  # failure-details absent
        "microsoft-no-offset.json",  # date-times without offset, mx-host absent
        "microsoft-sts-tlsa.json",  # policy-string JSON-encoded
        "microsoft-fetch-error.json",  # policy-string and mx-host absent
        "mailru-fetch-error.json",  # end at the next midnight
        "postfix-no-policy-domain.json",  # policy-domain absent, failure-details []
        "contact-null.json",  # contact-info null (docs/conformance.md#contact-info)
    ],
)
def test_big_senders_take_the_fast_path(name):
    assert both(fixture_body(name))


@pytest.mark.parametrize(
    "name",
    [
        "empty-ips.json",  # "" where text belongs
        "numbers-as-strings.json",
        "prose-keys.json",  # unknown members to the model
        "rfc-style-string-mx.json",  # string mx-host, uncompressed IPv6
        "unknown-types.json",
    ],
)
def test_other_quirks_take_the_full_path(name):
    assert not both(fixture_body(name))


def corpus_bodies() -> list[tuple[str, bytes]]:
    found = []
    for path in sorted(CORPUS.rglob("*")):
        data = path.read_bytes() if path.is_file() else b""
        if path.suffix == ".json" or path.name.endswith(".json.gz"):
            data = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
            found.append((path.name, data.removeprefix(BOM)))
        elif path.suffix == ".eml":  # the message's report, as we would write it
            with contextlib.suppress(ReportError):  # one holds no report
                for part in parse_message(data).reports:
                    found.append((path.name, to_json(part.parsed.report)))
    return found


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not present")
def test_corpus_paths_agree():
    taken = [name for name, body in corpus_bodies() if both(body)]
    assert taken, "no corpus report took the fast path"


def test_limits_send_reports_down_the_full_path():
    body = fixture_body("conformant-minimal.json")
    assert not both(body, Limits(max_policies=0))
    assert not both(body, Limits(max_failure_details=0))
    assert not both(body, Limits(max_sessions=10))  # 10 successful, 1 failed
    assert both(body, Limits(max_sessions=11))
    assert both(body)


def test_memoized_quirks_are_found_again():
    """Dates, domains and unwrapped policy strings are memoized across
    reports (Microsoft; docs/conformance.md#policy-string, #date-times): the second report gets the
    same answer as the first, and a changed value is not mistaken for a known one."""
    doc = json.loads(fixture_body("microsoft-sts-tlsa.json"))
    for _ in range(2):
        assert both(json.dumps(doc).encode())
    doc["date-range"] = {
        "start-datetime": "2025-03-04T00:00:00",  # no offset
        "end-datetime": "2025-03-05T00:00:00",  # ... and the next midnight
    }
    for _ in range(2):
        assert both(json.dumps(doc).encode())
    doc["policies"][0]["policy"]["policy-domain"] = "Example.COM"
    assert not both(json.dumps(doc).encode())  # normalize rewrites it
    doc["policies"][0]["policy"]["policy-domain"] = "example.com"
    assert both(json.dumps(doc).encode())


# ---- generated variants -------------------------------------------------

TEXTS = [
    "",
    " ",
    "null",
    "sts",
    "STS",
    "tlsa",
    "no-policy-found",
    "certificate-expired",
    "Certificate-Expired",
    "x-custom",
    "example.com",
    "Example.COM",
    "example.com.",
    " example.com",
    "123.456",
    "bücher.example",
    "192.0.2.1",
    "2001:DB8::1",
    "2001:db8::1",
    "2001:db8:0:0::1",
    "::ffff:192.0.2.1",
    "10",
    '["a", "b"]',
    '["3 1 1 ab"]',
    "[broken",
    "2025-03-07T00:00:00Z",
    "2025-03-07T23:59:59Z",
    "2025-03-07T00:00:00",
    "2025-03-07t00:00:00z",
    "2025-03-07 00:00:00+02:00",
    "2025-03-07T00:00:00.9999999Z",
    "2025-03-07T00:00:00.5+0000",
    "2025-03-08T00:00:00Z",
    "2025-03-06T23:59:59-01:00",
    "2025-03-07T00:00Z",
]
text = st.sampled_from(TEXTS) | st.text(max_size=6)
scalar = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-3, max_value=2**54)
    | st.floats(allow_nan=False, allow_infinity=False)
    | text
)
anything = st.recursive(scalar, lambda inner: st.lists(inner, max_size=3), max_leaves=4)
KEYS = [
    "policy-domain",
    "policy-string",
    "mx-host",
    "mx-host-pattern",
    "failure-details",
    "contact-info",
    "additional-info-uri",
    "x-extension",
]


def like(old: Any) -> st.SearchStrategy[Any]:
    """Mostly a value of the same JSON kind as `old`, sometimes anything."""
    if isinstance(old, bool) or old is None:
        same: st.SearchStrategy[Any] = scalar
    elif isinstance(old, int):
        same = st.integers(min_value=0, max_value=2**53 + 2)
    elif isinstance(old, str):
        same = text
    elif isinstance(old, list) and all(isinstance(x, str) for x in old):
        same = st.lists(text, max_size=3)
    else:
        same = anything
    return st.one_of(same, same, same, anything)


@st.composite
def variant(draw: st.DrawFn) -> dict[str, Any]:
    """The minimal report with a few members dropped, replaced or added."""
    doc = copy.deepcopy(MINIMAL)
    if draw(st.booleans()):
        doc["policies"].append(copy.deepcopy(doc["policies"][0]))
    for _ in range(draw(st.integers(1, 3))):
        node: Any = doc
        while True:
            keys = list(node) if isinstance(node, dict) else list(range(len(node)))
            if not keys:
                break
            key = draw(st.sampled_from(keys))
            child = node[key]
            if isinstance(child, (dict, list)) and child and draw(st.integers(0, 2)):
                node = child
                continue
            action = draw(st.sampled_from(["replace", "replace", "drop", "add"]))
            if action == "drop" and isinstance(node, dict):
                del node[key]
            elif action == "add" and isinstance(node, dict):
                node[draw(st.sampled_from(KEYS))] = draw(anything)
            else:
                node[key] = draw(like(child))
            break
    return doc


def paths(node: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [at] if at else []
    if isinstance(node, dict):
        for key, child in node.items():
            found += paths(child, (*at, key))
    elif isinstance(node, list):
        for i, child in enumerate(node):
            found += paths(child, (*at, i))
    return found


DROP = object()
VALUES: list[Any] = [
    *TEXTS,
    *(t.upper() for t in TEXTS[16:22]),
    None,
    True,
    0,
    -1,
    1.0,
    2**53 - 1,
    2**53,
    "5",
    [],
    [""],
    ["a"],
    ["mx.example.com", None],
    {},
    DROP,
]


def test_every_single_change_to_a_report_agrees():
    """Each member of a report (two policies) replaced by each value, or
    dropped, and each optional or unknown member added: both paths agree."""
    base = copy.deepcopy(MINIMAL)
    base["policies"].append(copy.deepcopy(base["policies"][0]))
    base["policies"][1]["policy"]["policy-type"] = "tlsa"
    taken = 0
    edits: list[tuple[tuple[Any, ...], Any]] = [(at, v) for at in paths(base) for v in VALUES]
    for at in [
        (),
        ("policies", 0),
        ("policies", 0, "policy"),
        ("policies", 1, "failure-details", 0),
    ]:
        edits += [((*at, key), v) for key in KEYS for v in VALUES if v is not DROP]
    for at, new in edits:
        doc = copy.deepcopy(base)
        parent = doc
        for key in at[:-1]:
            parent = parent[key]
        if new is DROP:
            del parent[at[-1]]
        else:
            parent[at[-1]] = new
        body = json.dumps(doc).encode()
        try:
            taken += both(body)
        except ReportError:
            pass
        except AssertionError as exc:
            raise AssertionError(f"paths differ for {at} = {new!r}") from exc
    assert taken > len(edits) // 10


@given(variant(), st.booleans())
@settings(max_examples=1500, deadline=None)
def test_generated_variants_agree(doc, pretty):
    body = json.dumps(doc, indent=1 if pretty else None, ensure_ascii=False).encode()
    try:
        event("fast path" if both(body) else "full path")
    except ReportError:
        event("rejected")  # by the full path; the fast path stepped aside (checked)


@given(st.lists(st.sampled_from(["failure-details", "policy-string", "mx-host"]), min_size=1))
def test_escaped_member_names_are_not_mistaken_for_absent(names):
    """`"mx\\u002dhost": []` is the member given empty, not absent."""
    doc = copy.deepcopy(MINIMAL)
    for name in names:
        holder = doc["policies"][0]
        (holder if name == "failure-details" else holder["policy"])[name] = []
    body = json.dumps(doc)
    for name in names:
        escaped = name.replace("-", "\\u002d")
        body = body.replace(f'"{name}": ', f'"{escaped}": ', 1)
    both(body.encode())
