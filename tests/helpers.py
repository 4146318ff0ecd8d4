"""Builders shared by the workflow tests: explicit rules (so every expectation is visible in the test),
incidents, and a draft that passes the document gates."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from afterword.client import Postmortems
from afterword.workflows.models import (
    ActionItemRules,
    DeadlineRule,
    Incident,
    Milestone,
    PostmortemRules,
    PostmortemStatus,
    ReviewRules,
    WaiverRules,
)

SECTIONS = [
    "Summary", "Impact", "Timeline", "Root cause analysis", "Detection", "Resolution",
    "What went well", "What went poorly", "Where we got lucky", "Action items", "Lessons learned",
]
PEOPLE = {
    "olivia": ["sre"],
    "rita": ["reviewer", "sre"],
    "ravi": ["reviewer"],
    "sam": ["security", "cirt"],
    "mia": ["manager"],
}


def deadline(name: str, after: Milestone, until: Milestone, hours: float, reminders: list[float] | None = None,
             ) -> DeadlineRule:
    return DeadlineRule(
        name=name, after=after, until=until, duration=timedelta(hours=hours),
        reminders=[timedelta(hours=h) for h in (reminders or [])], escalate_to=["mia"],
    )


def make_rules(**overrides: Any) -> PostmortemRules:
    base: dict[str, Any] = dict(
        org="acme",
        policy_name="test",
        policy_hash="0" * 64,
        severity="SEV2",
        requirement="required",
        deadlines=[
            deadline("owner", Milestone.TRIGGERED, Milestone.OWNER_ASSIGNED, 24, [2]),
            deadline("draft", Milestone.RESOLVED, Milestone.DRAFT_SUBMITTED, 72, [24, 2]),
            deadline("publish", Milestone.RESOLVED, Milestone.PUBLISHED, 120),
        ],
        review=ReviewRules(reviewers=["rita", "ravi", "olivia"], quorum=2, signoff_people=["sam"]),
        waivers=WaiverRules(allowed=["mia"], min_reason_length=10),
        required_sections=SECTIONS,
        action_items=ActionItemRules(
            reminders=[timedelta(days=2)], review_every=timedelta(days=7), validation_window=timedelta(days=7),
            escalate_to=["mia"],
        ),
        roles=PEOPLE,
        escalation=["mia"],
        policy={"people": [{"name": n.title() + " Example", "handle": n, "roles": r} for n, r in PEOPLE.items()]},
    )
    base.update(overrides)
    return PostmortemRules.model_validate(base)


def make_incident(key: str, *, resolved: bool = False, security: bool = False, started: datetime | None = None,
                  ) -> Incident:
    # two hours ago by the wall clock unless given: an incident on a fixed date would, some days later, open its
    # postmortem with the draft deadline already breached. (The time-skipping server's clock runs ahead of the
    # wall clock once a test skips it: tests on it pass `started` from that clock.)
    start = started or datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    return Incident(
        org="acme", key=key, source="manual", title=f"Checkout errors ({key})", severity="SEV2",
        service="checkout", started_at=start, resolved_at=start + timedelta(hours=1) if resolved else None,
        security=security, description="Checkout returned HTTP 500 for some requests.",
    )


def complete_draft(title: str = "Checkout errors") -> str:
    """A postmortem a careful author would submit: every section written, blameless, action items complete."""
    return f"""# Postmortem: {title}

## Summary

Checkout returned HTTP 500 for 4% of requests for 52 minutes after a configuration change reduced the
connection pool of the payments client.

## Impact

About 3,100 checkout attempts failed; the checkout availability SLO burned 40% of its monthly budget.

## Timeline

| Time (UTC) | Event | Evidence |
|---|---|---|
| 2026-11-20 09:00:00 | Error rate alert fired | alert payload |
| 2026-11-20 09:52:00 | Pool size restored; errors stopped | deploy log |

## Root cause analysis

The deploy pipeline accepted a pool size of 2 because the configuration schema has no lower bound, and the
canary stage does not exercise the payments path, so the change reached all hosts.

## Detection

The checkout error-rate alert fired four minutes after the deploy.

## Resolution

The previous configuration was rolled back through the deploy pipeline.

## What went well

The alert fired quickly and the rollback took three minutes.

## What went poorly

The canary did not cover the payments path.

## Where we got lucky

Traffic was low on a Friday morning.

## Action items

| Type | Action | Owner | Due | Success criterion | Ticket |
|---|---|---|---|---|---|
| prevent | Add a lower bound to the pool size in the config schema | olivia | 2026-12-15 | configs with pool size below 10 are rejected in CI | OPS-1 |
| mitigate | Send canary traffic through the payments path | rita | 2026-12-20 | canary error rate covers checkout payments | OPS-2 |

## Lessons learned

Configuration changes need the same validation as code changes.
"""


def outbox(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


async def until(postmortems: Postmortems, wid: str, check: Callable[[PostmortemStatus], Any],
                within: float = 60.0) -> PostmortemStatus:
    """Poll a postmortem's status until `check` holds (workflows move on their own between human steps)."""
    return await postmortems.wait_until(wid, check, "the state the test waits for", within=within)


@contextmanager
def child_process(command: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A real server (Prometheus, Alertmanager) for one test, its output in `log`; stopped after, killed if
    it ignores SIGTERM."""
    with open(log, "wb") as out:
        child = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield child
    finally:
        child.terminate()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
