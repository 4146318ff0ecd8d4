"""The intake for programs: open or resolve a postmortem from Python, through the same policy,
identity and idempotency as the webhooks.

    from afterword.runtime.connection import connect
    from afterword.intake.api import open_postmortem, resolve_postmortem

    client = await connect(settings)
    opened = await open_postmortem(client, settings, incident)     # Opened(workflow_id, created, ...)
    await resolve_postmortem(client, settings, incident.org, incident.key)

`open_postmortem` asks the org's policy first: when it requires no postmortem nothing is started and
the answer says why (`started=False`, `requirement="none"`, `reasons`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from temporalio.client import Client

from afterword.intake.moments import check_times
from afterword.settings import Settings
from afterword.workflows.identity import postmortem_id
from afterword.workflows.models import Incident, Requirement, ResolveRequest


@dataclass(frozen=True)
class Opened:
    """What `open_postmortem` did: `workflow_id` is None only when the policy requires nothing."""

    workflow_id: str | None
    created: bool
    requirement: str
    severity: str
    reasons: list[str] = field(default_factory=list)


async def open_postmortem(
    client: Client, settings: Settings, incident: Incident, *, opened_by: str = "api", force: bool = False
) -> Opened:
    """Start the incident's postmortem (or find the running one). `force` starts it even when the
    policy says none (the rules still record the policy's requirement and reasons). An incident whose
    start or resolution is outside the window of times an incident can have (`afterword.intake.moments`:
    before 2000, or more than a day ahead of this host's clock) is refused with ValueError."""
    from afterword.client import Postmortems
    from afterword.policies import decide, load_org_policy, rules_for

    check_times({"started_at": incident.started_at, "resolved_at": incident.resolved_at})
    policy = load_org_policy(incident.org, settings.policy_dir, incident.team)
    decision = decide(policy, incident)
    incident = incident.model_copy(update={"severity": decision.severity})
    if decision.requirement is Requirement.NONE and not force:
        return Opened(None, False, decision.requirement.value, decision.severity, list(decision.reasons))
    opened = await Postmortems(client, settings).open(incident, rules_for(policy, incident), opened_by)
    return Opened(
        opened.workflow_id, opened.created, decision.requirement.value, decision.severity, list(decision.reasons)
    )


async def resolve_postmortem(
    client: Client,
    settings: Settings,
    org: str,
    key: str,
    *,
    resolved_at: datetime | None = None,
    by: str = "api",
) -> str:
    """Resolve the postmortem of incident `key` (idempotent); returns its workflow id. A `resolved_at`
    outside the window of times an incident can have is refused (ValueError)."""
    from afterword.client import Postmortems

    resolved_at = resolved_at or datetime.now(UTC)
    check_times({"resolved_at": resolved_at})
    workflow_id = postmortem_id(org, key)
    request = ResolveRequest(by=by, resolved_at=resolved_at)
    await Postmortems(client, settings).record_resolution(workflow_id, request)
    return workflow_id
