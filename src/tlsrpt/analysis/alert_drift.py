"""Drift between a hosted MTA-STS policy and what is published. Pure.

For a domain whose policy this server hosts (`tlsrpt.mtasts`), a check's
snapshot (`tlsrpt.watch.snapshot` shape) is compared with the current
hosted version:

- `sts-record-id-stale`: the `_mta-sts` TXT record does not name the
  current version's id (or there is none). Senders fetch the policy again
  only when they see a new id (RFC 8461 §3.1, §5.1), so they keep the
  policy they cached;
- `sts-policy-not-served`: `https://mta-sts.<domain>/.well-known/mta-sts.txt`
  answered with something other than the hosted version's text, byte for
  byte (RFC 8461 §3.3): another server answers for the policy host, or a
  proxy rewrites it. An error when the mode or the mx patterns differ
  (senders apply another policy than the one managed here), else a warning.

A rule the snapshot cannot judge (the `_mta-sts` lookup failed; the policy
could not be fetched, which the checker's own findings report) is
`unknown`: the caller leaves its alert as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tlsrpt.analysis.alert_model import Condition
from tlsrpt.analysis.alert_settings import DomainRules
from tlsrpt.records import parse_sts_policy

ID_STALE = "sts-record-id-stale"
NOT_SERVED = "sts-policy-not-served"
DRIFT_RULES = (ID_STALE, NOT_SERVED)


@dataclass(frozen=True, slots=True)
class HostedPolicy:
    """What the drift rules compare with: the current hosted version."""

    domain: str
    version: int
    id: str
    text: str
    mode: str
    mx: tuple[str, ...]
    max_age: int


@dataclass(frozen=True, slots=True)
class Drift:
    conditions: list[Condition]
    unknown: frozenset[str]  # rules this snapshot cannot judge


def _id_condition(hosted: HostedPolicy, sts: Mapping[str, Any]) -> Condition | None:
    published = sts.get("id")
    if published == hosted.id:
        return None
    name = f"_mta-sts.{hosted.domain}"
    record = f"v=STSv1; id={hosted.id}"
    seen = f"names id {published}" if published else "is not published"
    return Condition(
        ID_STALE,
        name,
        "warning",
        f"{name} {seen}; the hosted policy's current version {hosted.version} has id {hosted.id}",
        "senders fetch the MTA-STS policy again only when the id in the `_mta-sts` TXT record "
        "changes, so they keep using the policy they cached until its max_age ends "
        "(RFC 8461 §3.1, §5.1); without the record they do not use MTA-STS at all",
        f'publish {name} TXT "{record}" (`tlsrpt mta-sts show {hosted.domain}` prints it)',
        {
            "name": name,
            "published_id": published,
            "expected_id": hosted.id,
            "version": hosted.version,
        },
    )


def _differences(hosted: HostedPolicy, text: str) -> tuple[list[str], bool]:
    """What differs between the served text and the hosted version, and
    whether a sender would apply another policy (mode or mx differ, or the
    served text is not a policy)."""
    parsed, _ = parse_sts_policy(text)
    if parsed is None:
        return ["the served text is not a valid policy"], True
    out, serious = [], False
    if parsed.mode != hosted.mode:
        out.append(f"mode {parsed.mode} served, {hosted.mode} hosted")
        serious = True
    if sorted(p.lower() for p in parsed.mx) != sorted(hosted.mx):
        out.append(f"mx {', '.join(parsed.mx) or '(none)'} served, {', '.join(hosted.mx)} hosted")
        serious = True
    if parsed.max_age != hosted.max_age:
        out.append(f"max_age {parsed.max_age} served, {hosted.max_age} hosted")
    if not out:
        out.append(f"the text differs ({len(text)} characters served, {len(hosted.text)} hosted)")
    return out, serious


def _served_condition(hosted: HostedPolicy, policy: Mapping[str, Any]) -> Condition | None:
    text = policy.get("text")
    if not isinstance(text, str) or text == hosted.text:
        return None
    host = f"mta-sts.{hosted.domain}"
    differences, serious = _differences(hosted, text)
    return Condition(
        NOT_SERVED,
        host,
        "error" if serious else "warning",
        f"{host} does not serve the hosted policy (version {hosted.version}, id {hosted.id}): "
        + "; ".join(differences),
        "senders fetch the policy from https://mta-sts.<domain>/.well-known/mta-sts.txt "
        "(RFC 8461 §3.3); it answers with another text than the version hosted here, so "
        "another server answers for the policy host or something rewrites the answer, and "
        "senders apply a policy this server does not manage",
        f"point {host} at this server (the record `tlsrpt mta-sts show {hosted.domain}` "
        "prints) and make the proxy in front pass the Host header and the body unchanged",
        {
            "host": host,
            "url": policy.get("url"),
            "differences": differences,
            "version": hosted.version,
            "expected_id": hosted.id,
        },
    )


def drift_conditions(
    snapshot: Mapping[str, Any] | None, hosted: HostedPolicy | None, rules: DomainRules
) -> Drift:
    """The drift conditions of a check (see the module docstring); none
    when the domain's policy is not hosted here."""
    if hosted is None:
        return Drift([], frozenset())
    if snapshot is None:
        return Drift([], frozenset(DRIFT_RULES))
    unknown: set[str] = set()
    found: list[Condition | None] = []
    sts = snapshot.get("sts") or {}
    if sts.get("status") in ("ok", "nxdomain", "nodata"):
        found.append(_id_condition(hosted, sts) if rules.enabled(ID_STALE) else None)
    else:
        unknown.add(ID_STALE)
    policy = snapshot.get("policy") or {}
    if isinstance(policy.get("text"), str):
        found.append(_served_condition(hosted, policy) if rules.enabled(NOT_SERVED) else None)
    else:
        unknown.add(NOT_SERVED)
    return Drift([c for c in found if c is not None], frozenset(unknown))
