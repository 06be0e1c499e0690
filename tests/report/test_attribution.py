"""Attribution of policy results to the domain their owner knows
(tlsrpt.report.attribution): every rule with the input that triggers it,
and properties over generated reports."""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tlsrpt.report import DateRange, Policy, PolicyResult, Report, Summary, parse_report
from tlsrpt.report.attribution import (
    NO_CONTEXT,
    Attributed,
    Attribution,
    Context,
    StaticRegistry,
    attribute,
)

A = Attribution
CUSTOMER = "customer.example"
MX = "mx1.provider.example"


def _report(*policies: tuple[str, str | None]) -> Report:
    """A report with one policy result per (policy type, policy-domain)."""
    return Report(
        organization_name="mail.sender.example",
        date_range=DateRange(
            datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC)
        ),
        contact_info="tls@mail.sender.example",
        report_id="r1",
        policies=[
            PolicyResult(Policy(ptype, [], domain, []), Summary(5, 1), [])
            for ptype, domain in policies
        ],
    )


def _one(ptype: str, domain: str | None, context: Context = NO_CONTEXT) -> Attributed:
    (found,) = attribute(_report((ptype, domain)), context)
    return found


def _how(found: Attributed) -> tuple[str, Attribution]:
    return found.domain, found.attribution


# --- the Postfix / sys4 libtlsrpt report, as it arrives ---------------------


def test_postfix_dane_report_goes_to_the_recipient_domain(fixture_bytes: Any) -> None:
    """Postfix with sys4 libtlsrpt: the tlsa policy names the MX host (the
    TLSA base domain, RFC 8460 §1.1), the no-policy-found one names nothing;
    the mail's TLS-Report-Domain (RFC 8460 §5.3) names the recipient domain."""
    report = parse_report(fixture_bytes("postfix-dane-mx-host.json")).report
    dane, nameless = attribute(report, Context(header=CUSTOMER))
    assert _how(dane) == (CUSTOMER, A.HEADER)
    assert dane.deviation is not None
    assert dane.deviation.code == "policy-domain-attributed"
    assert dane.deviation.path == "$.policies[0].policy.policy-domain"
    assert dane.deviation.message == (
        f"sessions for {MX} attributed to {CUSTOMER}, from the TLS-Report-Domain header"
    )
    assert _how(nameless) == (CUSTOMER, A.HEADER)
    assert nameless.deviation is not None
    assert nameless.deviation.code == "policy-domain-inferred"
    # POSTed to /v1/reports/customer.example instead
    dane, nameless = attribute(report, Context(path=CUSTOMER))
    assert (_how(dane), _how(nameless)) == ((CUSTOMER, A.PATH), (CUSTOMER, A.PATH))
    # POSTed to /v1/reports: the DANE host's one registered owner, nothing for the other
    registry = StaticRegistry({CUSTOMER}, {MX: [CUSTOMER]})
    dane, nameless = attribute(report, Context(registry=registry))
    assert (_how(dane), _how(nameless)) == ((CUSTOMER, A.MX), ("", A.UNKNOWN))


# --- policies with a policy-domain -------------------------------------------


@pytest.mark.parametrize("ptype", ["sts", "x-future-type"])
def test_an_sts_domain_is_never_moved(ptype: str) -> None:
    """RFC 8460 §5.6: the body wins over any header, path or registry."""
    everything = Context(
        header="other.example",
        path="path.example",
        subject="subject.example",
        filename="file.example",
        registry=StaticRegistry({"other.example"}, {CUSTOMER: ["other.example"]}),
    )
    found = _one(ptype, CUSTOMER, everything)
    assert (found.domain, found.attribution, found.deviation) == (CUSTOMER, A.REPORTED, None)


@pytest.mark.parametrize("ptype", ["tlsa", "no-policy-found"])
def test_a_dane_host_that_is_registered_stays(ptype: str) -> None:
    """Its owner sees it: no header, path or sts policy takes it away."""
    registry = StaticRegistry({MX, CUSTOMER}, {MX: [CUSTOMER]})
    context = Context(header=CUSTOMER, path=CUSTOMER, registry=registry)
    assert _how(_one(ptype, MX, context)) == (MX, A.REPORTED)
    report = _report(("sts", CUSTOMER), (ptype, MX))
    assert [_how(f) for f in attribute(report, Context(registry=registry))] == [
        (CUSTOMER, A.REPORTED),
        (MX, A.REPORTED),
    ]


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        (Context(header=CUSTOMER), (CUSTOMER, A.HEADER)),
        (Context(header=" Customer.EXAMPLE. "), (CUSTOMER, A.HEADER)),
        (Context(path=CUSTOMER), (CUSTOMER, A.PATH)),
        (Context(path=CUSTOMER, header="other.example"), (CUSTOMER, A.PATH)),
        (Context(header="  "), (MX, A.REPORTED)),  # blank: no header
        (Context(header=MX), (MX, A.REPORTED)),  # the sender filed it under the host
        (Context(path=MX.upper()), (MX, A.REPORTED)),
        # weaker hints never move a named host
        (Context(subject=CUSTOMER, filename=CUSTOMER), (MX, A.REPORTED)),
        (Context(), (MX, A.REPORTED)),
    ],
)
def test_a_dane_host_goes_to_the_recipient_the_delivery_names(
    context: Context, expected: tuple[str, Attribution]
) -> None:
    for ptype in ("tlsa", "no-policy-found"):
        found = _one(ptype, MX, context)
        assert _how(found) == expected
        assert (found.deviation is None) == (found.attribution == A.REPORTED)


def test_the_report_sts_policy_names_the_recipient() -> None:
    report = _report(("sts", CUSTOMER), ("tlsa", MX), ("tlsa", "mx2.provider.example"))
    assert [_how(f) for f in attribute(report)] == [
        (CUSTOMER, A.REPORTED),
        (CUSTOMER, A.STS),
        (CUSTOMER, A.STS),
    ]
    # the body wins over a header or path naming another domain (RFC 8460 §5.6)
    for context in (Context(header="other.example"), Context(path="other.example")):
        assert _how(attribute(report, context)[1]) == (CUSTOMER, A.STS)
    # a header naming the same domain says how it arrived
    assert _how(attribute(report, Context(header=CUSTOMER))[1]) == (CUSTOMER, A.HEADER)


def test_sts_policies_of_several_domains_name_no_recipient() -> None:
    report = _report(("sts", CUSTOMER), ("sts", "other.example"), ("tlsa", MX), ("sts", CUSTOMER))
    assert _how(attribute(report)[2]) == (MX, A.REPORTED)
    assert _how(attribute(report, Context(header="third.example"))[2]) == (
        "third.example",
        A.HEADER,
    )


@pytest.mark.parametrize(
    ("owners", "expected"),
    [
        ({MX: [CUSTOMER]}, (CUSTOMER, A.MX)),
        ({MX: [CUSTOMER, "other.example"]}, (MX, A.REPORTED)),  # shared: not guessed
        ({"mx2.provider.example": [CUSTOMER]}, (MX, A.REPORTED)),
        ({}, (MX, A.REPORTED)),
    ],
)
def test_a_dane_host_of_one_registered_domain(
    owners: dict[str, list[str]], expected: tuple[str, Attribution]
) -> None:
    registry = StaticRegistry({CUSTOMER, "other.example"}, owners)
    found = _one("tlsa", MX, Context(registry=registry))
    assert _how(found) == expected
    if found.attribution == A.MX:
        assert found.deviation is not None
        assert found.deviation.message == (
            f"sessions for {MX} attributed to {CUSTOMER}, "
            "from the MX hosts of the registered domain"
        )


class _Asked:
    """A registry that records what it was asked."""

    def __init__(self, registered: Collection[str] = (), mx: dict[str, list[str]] | None = None):
        self.static = StaticRegistry(frozenset(registered), mx or {})
        self.asked: list[tuple[str, str]] = []

    def is_registered(self, domain: str) -> bool:
        self.asked.append(("registered", domain))
        return self.static.is_registered(domain)

    def mx_owners(self, host: str) -> Collection[str]:
        self.asked.append(("mx", host))
        return self.static.mx_owners(host)


def test_the_registry_is_asked_only_what_decides() -> None:
    """The MX sets (the costly question) only when nothing else names the
    recipient; nothing at all for sts or nameless policies."""
    asked = _Asked()
    attribute(_report(("sts", CUSTOMER), ("no-policy-found", None)), Context(registry=asked))
    assert asked.asked == []
    attribute(_report(("tlsa", MX)), Context(header=CUSTOMER, registry=asked))
    assert asked.asked == [("registered", MX)]
    asked.asked.clear()
    attribute(_report(("tlsa", MX)), Context(registry=asked))
    assert asked.asked == [("registered", MX), ("mx", MX)]


# --- policies without a policy-domain ----------------------------------------

_ALL_HINTS = {
    "path": "p.example",
    "header": "h.example",
    "subject": "s.example",
    "filename": "f.example",
}


@pytest.mark.parametrize(
    ("dropped", "expected"),
    [
        ((), ("p.example", A.PATH)),
        (("path",), ("h.example", A.HEADER)),
        (("path", "header"), ("s.example", A.SUBJECT)),
        (("path", "header", "subject"), ("f.example", A.FILE_NAME)),
        (("path", "header", "subject", "filename"), ("", A.UNKNOWN)),
    ],
)
def test_a_nameless_policy_falls_back_in_order(
    dropped: tuple[str, ...], expected: tuple[str, Attribution]
) -> None:
    hints = {k: v for k, v in _ALL_HINTS.items() if k not in dropped}
    found = _one("no-policy-found", None, Context(**hints))
    assert _how(found) == expected
    assert found.deviation is not None
    if found.attribution == A.UNKNOWN:
        assert (found.deviation.code, found.deviation.message) == (
            "policy-domain-unknown",
            "no policy-domain anywhere",
        )
    else:
        assert found.deviation.code == "policy-domain-inferred"
        assert not found.deviation.violation


def test_a_nameless_policy_takes_the_report_sts_domain_before_subject_and_file_name() -> None:
    report = _report(("no-policy-found", None), ("sts", CUSTOMER))
    context = Context(subject="s.example", filename="f.example")
    assert _how(attribute(report, context)[0]) == (CUSTOMER, A.STS)
    assert attribute(report, context)[0].deviation is not None
    assert _how(attribute(report, Context(header="h.example"))[0]) == (CUSTOMER, A.STS)


# --- properties ----------------------------------------------------------------

_names = st.sampled_from(
    [CUSTOMER, "other.example", MX, "mx2.provider.example", "MX1.Provider.example."]
)
_policy = st.tuples(
    st.sampled_from(["sts", "tlsa", "no-policy-found", "x-new"]), st.none() | _names
)
_opt = st.none() | _names | st.just("")


@settings(max_examples=300, deadline=None)
@given(
    policies=st.lists(_policy, min_size=1, max_size=5),
    header=_opt,
    path=_opt,
    subject=_opt,
    registered=st.sets(_names.map(str.lower)),
    owners=st.dictionaries(
        st.sampled_from([MX, "mx2.provider.example"]),
        st.lists(st.sampled_from([CUSTOMER, "other.example"]), max_size=2),
    ),
)
def test_attribution_properties(
    policies: list[tuple[str, str | None]],
    header: str | None,
    path: str | None,
    subject: str | None,
    registered: set[str],
    owners: dict[str, list[str]],
) -> None:
    report = _report(*policies)
    context = Context(header, path, subject, None, StaticRegistry(registered, owners))
    found = attribute(report, context)
    assert len(found) == len(policies)
    fold: Callable[[str], str] = lambda n: n.strip().rstrip(".").lower()  # noqa: E731
    for (ptype, domain), f in zip(policies, found, strict=True):
        assert (f.domain == "") == (f.attribution == A.UNKNOWN)
        assert (f.deviation is None) == (f.attribution == A.REPORTED)
        if f.attribution == A.REPORTED:
            assert domain is not None and f.domain == fold(domain)
        if domain is not None and (
            ptype not in ("tlsa", "no-policy-found") or fold(domain) in registered
        ):
            assert (f.domain, f.attribution) == (fold(domain), A.REPORTED)
        if f.attribution in (A.HEADER, A.PATH, A.SUBJECT):
            named = {A.HEADER: header, A.PATH: path, A.SUBJECT: subject}[f.attribution]
            assert named is not None and f.domain == fold(named)
        if f.attribution == A.MX:
            assert domain is not None
            assert set(owners[fold(domain)]) == {f.domain}
        if f.attribution == A.STS:
            assert f.domain in {fold(d) for t, d in policies if t == "sts" and d}
    assert attribute(report, context) == found  # a function of its input
