"""Property tests: serialize/parse round trips; arbitrary input raises only
the documented error type (RFC 8460 §7; docs/conformance.md#untrusted-input: reports are untrusted
input)."""

from __future__ import annotations

import copy
import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tlsrpt.report import (
    RESULT_TYPES,
    DateRange,
    FailureDetail,
    Limits,
    Policy,
    PolicyResult,
    Report,
    ReportError,
    Summary,
    parse_input,
    parse_report,
    to_gzip,
    to_json,
)

MINIMAL = json.loads(
    (Path(__file__).parent.parent / "fixtures" / "reports" / "conformant-minimal.json").read_bytes()
)

text = st.text(min_size=1, max_size=40).filter(lambda s: not s.startswith("["))
label = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=12)
domain = st.lists(label, min_size=2, max_size=4).map(".".join)
count = st.integers(min_value=0, max_value=2**53 - 1)
ip = st.ip_addresses().map(str)
moment = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)

failure = st.builds(
    FailureDetail,
    result_type=st.sampled_from(RESULT_TYPES),
    failed_session_count=count,
    sending_mta_ip=st.none() | ip,
    receiving_mx_hostname=st.none() | domain,
    receiving_mx_helo=st.none() | text,
    receiving_ip=st.none() | ip,
    additional_information=st.none() | text,
    failure_reason_code=st.none() | text,
)
policy = st.builds(
    Policy,
    policy_type=st.sampled_from(["sts", "tlsa", "no-policy-found"]),
    policy_string=st.lists(text, max_size=5),
    policy_domain=st.none() | domain,
    mx_host=st.lists(domain, max_size=3),
)
policy_result = st.builds(
    PolicyResult,
    policy=policy,
    summary=st.builds(Summary, count, count),
    failure_details=st.lists(failure, max_size=4),
)
report = st.builds(
    Report,
    organization_name=st.text(max_size=40),
    date_range=st.builds(DateRange, moment, moment),
    contact_info=st.none() | st.builds("{}@{}".format, label, domain),
    report_id=st.text(max_size=40),
    policies=st.lists(policy_result, min_size=1, max_size=3),
)


# Every I-JSON count round-trips; the plausibility bound on a report's
# sessions (tests/report/test_limits.py) is lifted for that.
UNBOUNDED = Limits(max_sessions=2**62)


@given(report)
@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
def test_serialize_parse_round_trip(r):
    assert parse_report(to_json(r), limits=UNBOUNDED).report == r
    assert parse_report(to_gzip(r), limits=UNBOUNDED).report == r


def _has_null(node: object) -> bool:
    if node is None:
        return True
    if isinstance(node, dict):
        return any(_has_null(v) for v in node.values())
    if isinstance(node, list):
        return any(_has_null(v) for v in node)
    return False


@given(report)
@settings(max_examples=100)
def test_serialized_form_is_rfc_shaped(r):
    """RFC 8460 §4, §4.4; docs/conformance.md#arrays, #optional-failure-members, #date-times:
    arrays, no nulls, Z offsets."""
    doc = json.loads(to_json(r))
    assert isinstance(doc["policies"], list)
    assert not _has_null(doc)
    assert doc["date-range"]["start-datetime"].endswith("Z")
    for p in doc["policies"]:
        assert isinstance(p["policy"]["mx-host"], list)
        assert isinstance(p["failure-details"], list)


@given(st.binary(max_size=2000))
@settings(max_examples=500)
def test_arbitrary_bytes_raise_only_report_error(data):
    for strict in (False, True):
        try:
            parse_input(data, strict=strict)
        except ReportError:
            pass


json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(json_value)
@settings(max_examples=300)
def test_arbitrary_json_raises_only_report_error(value):
    try:
        parse_report(json.dumps(value).encode())
    except ReportError:
        pass


@given(st.data())
@settings(max_examples=300)
def test_mutated_reports_raise_only_report_error(data):
    """Replace one member anywhere in a valid report by an arbitrary value."""
    doc = copy.deepcopy(MINIMAL)
    node = doc
    while isinstance(node, (dict, list)) and node:
        key = data.draw(st.sampled_from(list(node) if isinstance(node, dict) else range(len(node))))
        if data.draw(st.booleans()) or not isinstance(node[key], (dict, list)):
            node[key] = data.draw(json_value)
            break
        node = node[key]
    payload = json.dumps(doc).encode()
    for blob in (payload, gzip.compress(payload)):
        try:
            parse_report(blob)
        except ReportError:
            pass
