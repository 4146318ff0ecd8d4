"""A whole postmortem, start to close, on a running worker: what `python worker.py --demo` and
`afterword demo` show a new user. Each step is what a person or an alert system would do, through the
same client API the CLI uses (so it needs only Temporal, never the worker's disk); the script prints each
transition and where to look.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

from temporalio.client import Client

from afterword.client import Postmortems, Rejected
from afterword.intake.api import open_postmortem
from afterword.settings import Settings
from afterword.store_client import WorkerStores
from afterword.workflows.models import (
    ActionItemSpec,
    ActionType,
    Actor,
    AddActionRequest,
    ApproveRequest,
    AssignRequest,
    CompleteRequest,
    DraftSubmission,
    Incident,
    PostmortemStatus,
    ResolveRequest,
    ValidateRequest,
)

# The people of the shipped default policy's example roster.
OWNER, REVIEWER, SECURITY_REVIEWER = "alice", "bob", "carol"

BLAMEFUL_ROOT_CAUSE = (
    "Bob forgot to check the pool size and pushed a careless change. This was human error; "
    "he should have known better."
)
ROOT_CAUSE = (
    "The deploy pipeline accepted a connection pool size of 2 because the configuration schema has no lower "
    "bound, and the canary stage does not exercise the payments path, so the change reached every host."
)


def _say(text: str) -> None:
    print(f"[demo] {text}", flush=True)


def _section(markdown: str, title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", markdown, flags=re.S | re.M)
    return match.group(1).strip() if match else ""


def written_draft(rendered: str, root_cause: str) -> str:
    """The draft as its owner finishes it: the rendered facts and timeline kept, every prompt written."""
    header = rendered.split("\n## ", 1)[0].rstrip()
    timeline = _section(rendered, "Timeline")
    actions = _section(rendered, "Action items")
    sections = {
        "Summary": "Checkout returned HTTP 500 for about 4% of requests for 52 minutes after a configuration "
        "change reduced the payments client's connection pool.",
        "Impact": "About 3,100 checkout attempts failed; the checkout availability SLO burned 40% of its monthly "
        "error budget. Support received 41 tickets; replies went out from support@example.com.",
        "Timeline": timeline,
        "Root cause analysis": root_cause,
        "Detection": "The checkout error-rate alert fired four minutes after the deploy finished.",
        "Resolution": "The previous configuration was rolled back through the deploy pipeline "
        "(token used by the rollback job: xoxb-123456789012-123456789012-abcdefghijklmnopqrstuvwx).",
        "What went well": "The alert fired quickly and the rollback took three minutes.",
        "What went poorly": "The canary did not cover the payments path, so it could not catch the change.",
        "Where we got lucky": "Traffic was low on a Friday morning.",
        "Action items": actions,
        "Lessons learned": "Configuration changes need the same validation as code changes.",
        "Missed signals": "Connection wait time rose during the canary but no alert watches it.",
    }
    present = re.findall(r"^## (.+)$", rendered, flags=re.M)
    body = "\n\n".join(f"## {name}\n\n{sections.get(name, _section(rendered, name))}" for name in present)
    return f"{header}\n\n{body}\n"


async def run_demo(client: Client, settings: Settings, org: str = "demo") -> PostmortemStatus:
    pm = Postmortems(client, settings)
    stores = WorkerStores(client, settings)
    now = datetime.now(UTC)
    incident = Incident(
        org=org, key=f"demo-{uuid.uuid4().hex[:8]}", source="manual", title="Checkout returns HTTP 500",
        severity="", service="checkout", labels={"severity": "critical", "alertname": "CheckoutErrorRate"},
        started_at=now - timedelta(minutes=52), description="Checkout returned HTTP 500 for some requests.",
    )
    opened = await open_postmortem(client, settings, incident, opened_by="demo")
    wid = opened.workflow_id
    assert wid is not None
    _say(f"incident opened -> postmortem {wid} ({opened.severity}, {opened.requirement})")
    if not settings.temporal_address:
        _say(f"watch it in the Web UI: http://127.0.0.1:{settings.embedded_ui_port}/namespaces/"
             f"{settings.namespace}/workflows/{wid}")

    await pm.assign(wid, AssignRequest(by="demo", owner=OWNER))
    status = await pm.wait_until(wid, lambda s: s.state == "awaiting_resolution", "awaiting_resolution")
    _say(f"evidence preserved ({status.evidence.items if status.evidence else 0} items); owner {OWNER}; "
         "waiting for the incident to resolve")

    await pm.resolve(wid, ResolveRequest(by="demo"))
    status = await pm.wait_until(wid, lambda s: s.state == "drafting" and s.draft_ref, "a rendered draft")
    draft = next(d for d in status.deadlines if d.name == "draft")
    _say(f"resolved -> drafting; draft due {draft.due_at:%Y-%m-%d %H:%M} UTC (72 h after resolution)")

    today = datetime.now(UTC)
    for title, owner, days, kind, criterion in [
        ("Add a lower bound to the pool size in the config schema", OWNER, 14, ActionType.PREVENT,
         "configs with a pool size below 10 fail CI"),
        ("Send canary traffic through the payments path", REVIEWER, 28, ActionType.MITIGATE,
         "the canary error rate includes payments requests"),
    ]:
        spec = ActionItemSpec(title=title, owner=owner, due=today + timedelta(days=days), type=kind,
                              success_criterion=criterion, ticket=None)
        await pm.add_action(wid, AddActionRequest(by=OWNER, item=spec))
    await pm.wait_until(wid, lambda s: len(s.action_items) == 2, "two action items")
    _say("two action items added, each tracked by its own workflow with reminders and escalation")

    # a person edits the rendered draft (`afterword draft show ID --out f.md`); the demo writes it
    rendered = (await stores.read(wid, ref=status.draft_ref)).decode("utf-8")
    status = await pm.status(wid)
    rendered_with_items = rendered.replace(_section(rendered, "Action items"), _items_table(status))
    first = written_draft(rendered_with_items, BLAMEFUL_ROOT_CAUSE)
    result = await pm.submit_draft(wid, DraftSubmission(by=OWNER, text=first))
    blame = [f for f in result.findings if f.gate == "language" and f.severity == "error"]
    _say(f"first draft refused by the blameless-language gate: {len(blame)} finding(s), e.g. "
         f"{blame[0].message if blame else '-'}")

    final = written_draft(rendered_with_items, ROOT_CAUSE)
    result = await pm.submit_draft(wid, DraftSubmission(by=OWNER, text=final))
    if result.state != "in_review":
        raise RuntimeError(f"the demo draft was refused: {[f.message for f in result.findings]}")
    _say("rewritten toward the system -> in_review")

    for reviewer in (REVIEWER, SECURITY_REVIEWER):
        try:
            approved = await pm.approve(wid, ApproveRequest(by=reviewer, comment="clear and blameless"))
            _say(f"{reviewer} approved ({approved.message})")
        except Rejected as err:  # a SEV2 policy needs only one approval
            _say(f"{reviewer}: {err}")
            break
    status = await pm.wait_until(wid, lambda s: bool(s.redaction), "redaction reports")
    for report in status.redaction:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(report.counts.items())) or "nothing"
        _say(f"{report.audience} redaction: {counts}")
    await pm.accept_redaction(wid, Actor(by=REVIEWER))
    status = await pm.wait_until(wid, lambda s: s.state == "tracking", "tracking")
    assert status.publication is not None
    _say(f"published -> {status.publication.archive_path} (git commit {status.publication.commit[:10]})")
    if status.publication.external_path:
        _say(f"external summary -> {status.publication.external_path}")

    for item, completer, validator, evidence in [
        ("ai-1", OWNER, REVIEWER, "CI run rejects pool size 2"),
        ("ai-2", REVIEWER, OWNER, "canary dashboard shows payments traffic"),
    ]:
        action_id = pm.action_workflow_id(wid, item)
        await pm.complete_action(action_id, CompleteRequest(by=completer))
        await pm.validate_action(action_id, ValidateRequest(by=validator, evidence=evidence))
        _say(f"{item} completed by {completer}, validated by {validator}")
    status = await pm.wait_until(wid, lambda s: s.state == "closed", "closed")
    _say(f"closed. `afterword status {wid} --audit` shows the whole trail")
    return status


def _items_table(status: PostmortemStatus) -> str:
    rows = [
        f"| {i.spec.type.value} | {i.spec.title} | {i.spec.owner} | {i.spec.due.date().isoformat()} | "
        f"{i.spec.success_criterion} | {i.item_id} |"
        for i in status.action_items
    ]
    return "\n".join(["| Type | Action | Owner | Due | Success criterion | Ticket |",
                      "|---|---|---|---|---|---|", *rows])
