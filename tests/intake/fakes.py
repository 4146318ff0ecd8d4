"""In-memory stand-ins for the client facade and the policy, for the intake's unit tests only.

The fake starter keeps the lifecycle facts the intake relies on (created or not, resolved_at, the
drafting-only reopen) so the dispatcher's decisions can be checked without a server; the end-to-end
tests check the same decisions against real Temporal.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from afterword.client import NotFound, Rejected, Unavailable
from afterword.intake.dispatch import Assessment
from afterword.intake.sources.common import Notification
from afterword.workflows.identity import postmortem_id
from afterword.workflows.models import Actor, Incident, PostmortemRules, Requirement, ResolveRequest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "alerts"


def example(name: str) -> bytes:
    return (EXAMPLES / name).read_bytes()


def example_json(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(example(name))
    return data


PAGERDUTY_TRIGGERED_AT = datetime(2026, 11, 20, 14, 2, 30, 112000, tzinfo=UTC)  # pagerduty-triggered.json


def recent_pagerduty(name: str) -> dict[str, Any]:
    """A PagerDuty example with its times moved as if the incident had triggered five minutes ago (a
    signed event's occurred_at must be recent), the examples' order kept."""
    data = example_json(f"pagerduty-{name}.json")
    shift = datetime.now(UTC) - timedelta(minutes=5) - PAGERDUTY_TRIGGERED_AT
    event = data["event"]
    for holder, name in ((event, "occurred_at"), (event["data"], "created_at")):
        if name in holder:
            holder[name] = (datetime.fromisoformat(holder[name]) + shift).isoformat()
    return data


@dataclass(frozen=True)
class FakeOpened:
    workflow_id: str
    created: bool


@dataclass
class FakeStarter:
    workflows: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)
    down: bool = False

    def _check(self) -> None:
        if self.down:
            raise Unavailable("Temporal did not answer: connection refused")

    async def open(
        self,
        incident: Incident,
        rules: PostmortemRules,
        opened_by: str = "x",
        start_delay: timedelta | None = None,
        alert_payload: bytes | None = None,
    ) -> FakeOpened:
        self._check()
        workflow_id = postmortem_id(incident.org, incident.key)
        self.calls.append(("open", workflow_id))
        if workflow_id in self.workflows:
            return FakeOpened(workflow_id, False)
        self.workflows[workflow_id] = {
            "state": "awaiting_resolution",
            "incident": incident,
            "rules": rules,
            "start_delay": start_delay,
            "alert_payload": alert_payload,
        }
        return FakeOpened(workflow_id, True)

    async def record_resolution(self, workflow_id: str, req: ResolveRequest) -> None:
        self._check()
        self.calls.append(("resolve", workflow_id))
        wf = self.workflows[workflow_id]
        wf["resolve_request"] = req
        if wf["incident"].resolved_at is None:
            wf["incident"] = wf["incident"].model_copy(update={"resolved_at": req.resolved_at})
            wf["state"] = "drafting"

    async def reopen(self, workflow_id: str, req: Actor) -> None:
        self._check()
        self.calls.append(("reopen", workflow_id))
        wf = self.workflows[workflow_id]
        if wf["state"] != "drafting":
            raise Rejected(f"cannot reopen: the postmortem is {wf['state']}")
        wf["state"] = "awaiting_resolution"
        wf["incident"] = wf["incident"].model_copy(update={"resolved_at": None})

    async def status(self, workflow_id: str) -> Any:
        self._check()
        self.calls.append(("status", workflow_id))
        if workflow_id not in self.workflows:
            raise NotFound(workflow_id)
        wf = self.workflows[workflow_id]
        return SimpleNamespace(state=wf["state"], incident=wf["incident"])

    def count(self, kind: str) -> int:
        return sum(1 for call, _ in self.calls if call == kind)


class FakePolicies:
    """Severity from the `severity` label; `postmortem=none` makes the incident need none."""

    def __init__(self, flap_window: timedelta = timedelta(minutes=30)) -> None:
        self.flap_window = flap_window

    def check_org(self, org: str) -> None:
        from afterword.intake.refusals import UnknownTarget

        if org not in ("default", "acme"):
            raise UnknownTarget(f"unknown org {org!r}")

    def assess(self, org: str, notification: Notification, payload_ref: str | None) -> Assessment:
        severity = {"critical": "SEV1", "warning": "SEV3"}.get(notification.labels.get("severity", ""), "SEV2")
        incident = notification.incident(org, severity, payload_ref)
        none = notification.labels.get("postmortem") == "none"
        return Assessment(
            incident=incident,
            requirement=Requirement.NONE if none else Requirement.REQUIRED,
            reasons=["labelled postmortem=none"] if none else [f"severity {severity} requires one"],
            flap_window=self.flap_window,
            rules=lambda _incident: PostmortemRules.model_construct(org=org, severity=severity),
        )


def over_caps(incident: Incident) -> list[str]:
    """The incident's text that exceeds what workflow history may carry (docs/intake.md, "Bounds")."""
    from afterword.workflows import models as m

    found = [
        f"{name}: {len(value)} > {cap}"
        for name, value, cap in (
            ("org", incident.org, m.MAX_ORG),
            ("key", incident.key, m.MAX_KEY + m.MAX_KEY_SUFFIX),
            ("source", incident.source, m.MAX_WORD),
            ("severity", incident.severity, m.MAX_WORD),
            ("title", incident.title, m.MAX_TITLE),
            ("service", incident.service, m.MAX_NAME),
            ("team", incident.team or "", m.MAX_NAME),
            ("description", incident.description, m.MAX_DESCRIPTION),
        )
        if len(value) > cap
    ]
    for kind, text in (("labels", incident.labels), ("annotations", incident.annotations)):
        if len(text) > m.MAX_LABELS:
            found.append(f"{kind}: {len(text)} entries > {m.MAX_LABELS}")
        found += [f"{kind}: a name of {len(k)}" for k in text if len(k) > m.MAX_NAME]
        found += [f"{kind}.{k[:20]}: {len(v)}" for k, v in text.items() if len(v) > m.MAX_LABEL_VALUE]
    if len(incident.links) > m.MAX_LINKS:
        found.append(f"links: {len(incident.links)} > {m.MAX_LINKS}")
    found += [f"a link of {len(link)}" for link in incident.links if len(link) > m.MAX_LINK]
    return found
