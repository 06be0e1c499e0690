"""Hosted MTA-STS policies (RFC 8461): versions, ids, the `max_age` ramp,
rollout decisions and the DNS records to publish. Pure: no I/O, the clock
is a parameter. The versions are stored by `tlsrpt.store.hosted`, served
by `tlsrpt.web.policy_host` and managed with `tlsrpt mta-sts`.

- `versions`: `PolicyVersion`, `new_version(domain, history, Change, now=,
  created_by=)`, `policy_id(created_at, version)` (`20261207T120000Z1`),
  `edit_mx`, `PolicyError`.
- `ramp`: `RAMP` (testing 1 day, enforce 1 week, 30 days, 1 year),
  `step_index`, `next_step(history, now)`.
- `rollout`: `plan_promotion(history, readiness, now, force=)`,
  `plan_rollback(history, now)`.
- `status`: `rollout_status(domain, history, readiness, now, settings)`,
  where a domain is in its rollout and what comes next (the dashboard).
- `publish`: `expected_records(domain, version, settings)` -> `DnsRecord`s,
  `publish_notes`, `public_url_error`, `policy_host_domain` (`mta-sts.D` -> `d`).

`as_json(version, records)` is the `--json` object of `tlsrpt mta-sts`:
`{"domain", "policy": {"mode", "mx", "max_age", "id", "text", "version",
"created_at", "created_by", "note"}, "records": [{"name", "type", "value"}]}`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tlsrpt.mtasts.publish import (
    DnsRecord,
    Publish,
    PublishSettings,
    expected_records,
    policy_host_domain,
    public_url_error,
    publish_notes,
)
from tlsrpt.mtasts.ramp import RAMP, NextStep, RampStep, default_max_age, next_step, step_index
from tlsrpt.mtasts.rollout import (
    Promotion,
    Rollback,
    plan_promotion,
    plan_rollback,
)
from tlsrpt.mtasts.status import RolloutStatus, rollout_status
from tlsrpt.mtasts.versions import (
    Change,
    PolicyError,
    PolicyVersion,
    edit_mx,
    new_version,
    policy_id,
)


def as_json(version: PolicyVersion, records: Sequence[DnsRecord], **extra: Any) -> dict[str, Any]:
    """The `--json` object of a hosted policy (see module doc), plus `extra` keys."""
    return {
        "domain": version.domain,
        "policy": version.policy_dict(),
        "records": [r.as_dict() for r in records],
        **extra,
    }


__all__ = [
    "RAMP",
    "Change",
    "DnsRecord",
    "NextStep",
    "PolicyError",
    "PolicyVersion",
    "Promotion",
    "Publish",
    "PublishSettings",
    "RampStep",
    "Rollback",
    "RolloutStatus",
    "as_json",
    "default_max_age",
    "edit_mx",
    "expected_records",
    "new_version",
    "next_step",
    "plan_promotion",
    "plan_rollback",
    "policy_host_domain",
    "policy_id",
    "public_url_error",
    "publish_notes",
    "rollout_status",
    "step_index",
]
