"""The postmortem lifecycle on the time-skipping server: deadlines, reminders, gates and a full run."""

from __future__ import annotations

import subprocess
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from afterword.client import Postmortems, Rejected
from afterword.evidence.blobs import ContentStore
from afterword.settings import Settings
from afterword.workflows.models import (
    ActionItemSpec,
    ActionType,
    Actor,
    AddActionRequest,
    ApproveRequest,
    AssignRequest,
    ChangesRequest,
    CompleteRequest,
    DraftSubmission,
    DropRequest,
    Incident,
    PostmortemStatus,
    ResolveRequest,
    ReviewRules,
    SignoffRequest,
    ValidateRequest,
    WaiveRequest,
)
from tests.helpers import complete_draft, make_incident, make_rules, outbox, until

pytestmark = pytest.mark.asyncio


def key() -> str:
    return f"inc-{uuid.uuid4().hex[:10]}"


async def ended_incident(env: WorkflowEnvironment, *, security: bool = False) -> Incident:
    """An incident that ended an hour ago by the test server's clock, which earlier tests have skipped ahead:
    its postmortem starts with 71 h of the draft clock left."""
    return make_incident(key(), resolved=True, security=security,
                         started=await env.get_current_time() - timedelta(hours=2))  # fmt: skip


def notes(settings: Settings, wid: str, kind: str, deadline: str | None = None) -> list[dict[str, Any]]:
    return [
        n for n in outbox(settings.outbox_path)
        if n["postmortem_id"] == wid and n["kind"] == kind and (deadline is None or n["deadline"] == deadline)
    ]


def near(actual: list[datetime], expected: list[datetime], tolerance: timedelta = timedelta(seconds=1)) -> bool:
    """Timers fire at their instant, give or take the server's scheduling (milliseconds)."""
    return len(actual) == len(expected) and all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


def clock(status: PostmortemStatus, name: str) -> Any:
    return next(d for d in status.deadlines if d.name == name)


async def submit(postmortems: Postmortems, settings: Settings, wid: str, by: str, text: str | None = None) -> Any:
    ref = ContentStore(settings.store_dir).put_bytes((text or complete_draft()).encode())
    return await postmortems.submit_draft(wid, DraftSubmission(by=by, document_ref=ref))


def action(title: str, owner: str, due: datetime) -> AddActionRequest:
    return AddActionRequest(
        by="olivia",
        item=ActionItemSpec(title=title, owner=owner, due=due, type=ActionType.PREVENT,
                            success_criterion="the alert stays quiet for a week under production load"),
    )


async def test_draft_deadline_runs_from_resolution_and_escalates_once(
    ts_env: WorkflowEnvironment, postmortems: Postmortems, ts_settings: Settings
) -> None:
    opened = await postmortems.open(make_incident(key()), make_rules())
    wid = opened.workflow_id
    await postmortems.assign(wid, AssignRequest(by="mia", owner="olivia"))
    await until(postmortems, wid, lambda s: s.state == "awaiting_resolution")

    await ts_env.sleep(timedelta(hours=10))  # the incident is still going on: no draft clock yet
    await postmortems.resolve(wid, ResolveRequest(by="alertmanager"))
    status = await until(postmortems, wid, lambda s: s.state == "drafting")
    resolved_at = status.incident.resolved_at
    assert resolved_at is not None
    due = clock(status, "draft").due_at
    assert due == resolved_at + timedelta(hours=72)

    # 81 h after the trigger (71 h after resolution): a clock started at trigger would have breached
    await ts_env.sleep(timedelta(hours=71))
    status = await postmortems.status(wid)
    assert not clock(status, "draft").breached
    assert not status.overdue
    reminders = notes(ts_settings, wid, "reminder", "draft")
    assert near([datetime.fromisoformat(r["at"]) for r in reminders], [due - timedelta(hours=24), due - timedelta(hours=2)])

    await ts_env.sleep(timedelta(hours=2))
    status = await until(postmortems, wid, lambda s: clock(s, "draft").breached)
    assert near([clock(status, "draft").breached_at], [due])
    assert status.overdue
    assert status.state == "drafting"  # a breach never stops the process

    await ts_env.sleep(timedelta(hours=100))
    escalations = notes(ts_settings, wid, "escalation", "draft")
    assert len(escalations) == 1
    assert "mia" in escalations[0]["to"] and "olivia" in escalations[0]["to"]

    # the late draft is still accepted, and the overdue mark clears once it is in
    await submit(postmortems, ts_settings, wid, "olivia")
    status = await until(postmortems, wid, lambda s: s.state == "in_review")
    assert clock(status, "draft").met_at is not None
    publish_breached = clock(status, "publish").breached
    assert status.overdue is publish_breached


async def test_owner_deadline_reminds_then_escalates_without_an_owner(
    ts_env: WorkflowEnvironment, postmortems: Postmortems, ts_settings: Settings
) -> None:
    wid = (await postmortems.open(make_incident(key()), make_rules())).workflow_id
    await until(postmortems, wid, lambda s: s.state == "awaiting_resolution")
    await ts_env.sleep(timedelta(hours=25))
    status = await until(postmortems, wid, lambda s: clock(s, "owner").breached)
    assert clock(status, "owner").reminders_sent == 1
    assert len(notes(ts_settings, wid, "escalation", "owner")) == 1
    await postmortems.assign(wid, AssignRequest(by="mia", owner="olivia"))
    status = await postmortems.status(wid)
    assert not status.overdue and status.owner == "olivia"


async def test_wrong_state_and_self_approval_are_refused_with_their_reason(
    ts_env: WorkflowEnvironment, postmortems: Postmortems, ts_settings: Settings
) -> None:
    wid = (await postmortems.open(await ended_incident(ts_env), make_rules())).workflow_id
    await until(postmortems, wid, lambda s: s.state == "drafting" and s.draft_ref is not None)

    with pytest.raises(Rejected, match="cannot approve while the postmortem is drafting; allowed in: in_review"):
        await postmortems.approve(wid, ApproveRequest(by="rita"))
    with pytest.raises(Rejected, match="no owner is assigned"):
        await submit(postmortems, ts_settings, wid, "olivia")
    with pytest.raises(Rejected, match="not in the policy's roster"):
        await postmortems.assign(wid, AssignRequest(by="mia", owner="mallory"))

    await postmortems.assign(wid, AssignRequest(by="mia", owner="olivia"))
    await submit(postmortems, ts_settings, wid, "olivia")
    await until(postmortems, wid, lambda s: s.state == "in_review")
    with pytest.raises(Rejected, match="'olivia' owns or wrote this draft and cannot approve it"):
        await postmortems.approve(wid, ApproveRequest(by="olivia"))
    with pytest.raises(Rejected, match="'mallory' is not a reviewer"):
        await postmortems.approve(wid, ApproveRequest(by="mallory"))
    await postmortems.approve(wid, ApproveRequest(by="rita"))
    with pytest.raises(Rejected, match="'rita' has already approved"):
        await postmortems.approve(wid, ApproveRequest(by="rita"))
    with pytest.raises(Rejected, match="may not waive"):
        await postmortems.waive(wid, WaiveRequest(by="rita", reason="a long enough reason"))
    with pytest.raises(Rejected, match="at least 10 characters"):
        await postmortems.waive(wid, WaiveRequest(by="mia", reason="meh"))

    status = await postmortems.status(wid)
    assert status.state == "in_review" and status.approvals == ["rita"]


async def test_a_draft_with_gaps_stays_in_drafting_with_findings(
    ts_env: WorkflowEnvironment, postmortems: Postmortems, ts_settings: Settings
) -> None:
    wid = (await postmortems.open(await ended_incident(ts_env), make_rules())).workflow_id
    await postmortems.assign(wid, AssignRequest(by="mia", owner="olivia"))
    await until(postmortems, wid, lambda s: s.state == "drafting" and s.draft_ref is not None)
    rendered = (await postmortems.status(wid)).draft_ref
    assert rendered is not None
    # the machine's first draft has prompts where people must write: it cannot pass as it is
    result = await submit(postmortems, ts_settings, wid, "olivia", ContentStore(ts_settings.store_dir).get_text(rendered))
    assert result.state == "drafting"
    assert any(f.gate == "sections" or f.rule.startswith("section") for f in result.findings), result.findings
    status = await postmortems.status(wid)
    assert status.state == "drafting" and status.findings
    assert not status.overdue  # the incident ended an hour ago: 71 h of the draft clock are left


async def test_duplicate_start_reaches_the_same_postmortem(postmortems: Postmortems) -> None:
    incident = make_incident(key())
    first = await postmortems.open(incident, make_rules())
    second = await postmortems.open(incident, make_rules())
    assert first.workflow_id == second.workflow_id
    assert first.created and not second.created
    status = await postmortems.status(first.workflow_id)
    assert [a.event for a in status.audit].count("opened") == 1


async def test_whole_lifecycle_with_two_action_items_reaches_closed(
    ts_env: WorkflowEnvironment, postmortems: Postmortems, ts_settings: Settings
) -> None:
    wid = (await postmortems.open(await ended_incident(ts_env), make_rules())).workflow_id
    await postmortems.assign(wid, AssignRequest(by="mia", owner="olivia"))
    await until(postmortems, wid, lambda s: s.state == "drafting" and s.draft_ref is not None)
    now = await ts_env.get_current_time()
    await postmortems.add_action(wid, action("Bound the pool size in the config schema", "olivia", now + timedelta(days=30)))
    await postmortems.add_action(wid, action("Route canary traffic through payments", "rita", now + timedelta(days=30)))

    await submit(postmortems, ts_settings, wid, "olivia")
    await postmortems.approve(wid, ApproveRequest(by="rita"))
    await postmortems.request_changes(wid, ChangesRequest(by="ravi", reason="add the customer count"))
    assert (await postmortems.status(wid)).approvals == []
    await submit(postmortems, ts_settings, wid, "olivia")
    await postmortems.approve(wid, ApproveRequest(by="rita"))
    result = await postmortems.approve(wid, ApproveRequest(by="ravi"))
    assert result.state == "redacting"
    await until(postmortems, wid, lambda s: bool(s.redaction))
    await postmortems.accept_redaction(wid, Actor(by="rita"))
    status = await until(postmortems, wid, lambda s: s.state == "tracking")
    assert status.publication is not None
    log = subprocess.run(["git", "-C", str(ts_settings.archive_dir), "log", "--format=%s"], capture_output=True,
                         text=True, check=True).stdout
    assert f"Publish {wid}" in log

    first, second = (postmortems.action_workflow_id(wid, i) for i in ("ai-1", "ai-2"))
    await postmortems.complete_action(first, CompleteRequest(by="olivia"))
    with pytest.raises(Rejected, match="validation must come from someone else"):
        await postmortems.validate_action(first, ValidateRequest(by="olivia", evidence="looks fine"))
    await postmortems.validate_action(first, ValidateRequest(by="rita", passed=False, evidence="CI accepted pool 2"))
    await postmortems.complete_action(first, CompleteRequest(by="olivia", note="schema fixed"))
    await postmortems.validate_action(first, ValidateRequest(by="rita", evidence="CI rejects pool size 2: run 881"))
    with pytest.raises(Rejected, match="needs a reason"):
        await postmortems.drop_action(second, DropRequest(by="rita", reason="no"))
    await postmortems.complete_action(second, CompleteRequest(by="rita"))
    status = await until(postmortems, wid, lambda s: s.state == "validating")
    assert [i.status.value for i in status.action_items] == ["validated", "completed"]
    await postmortems.validate_action(second, ValidateRequest(by="ravi", evidence="canary dashboard shows payments"))

    final = await until(postmortems, wid, lambda s: s.state == "closed")
    assert final.state == "closed"
    assert all(i.status.value == "validated" for i in final.action_items)
    assert [a.event for a in final.audit if "->" in a.event][-1] == "validating -> closed"


async def test_action_item_reminds_before_due_and_escalates_after(
    ts_env: WorkflowEnvironment, postmortems: Postmortems, ts_settings: Settings
) -> None:
    wid = (await postmortems.open(await ended_incident(ts_env), make_rules())).workflow_id
    await until(postmortems, wid, lambda s: s.state == "drafting")
    due = await ts_env.get_current_time() + timedelta(days=10)
    await postmortems.add_action(wid, action("Add a canary for payments", "olivia", due))
    await ts_env.sleep(timedelta(days=10, hours=1))
    status = await until(postmortems, wid, lambda s: s.action_items and s.action_items[0].overdue)
    item = status.action_items[0]
    assert item.reminders_sent == 1 and item.escalations == 1
    sent = [n for n in outbox(ts_settings.outbox_path) if n["deadline"] == "ai-1" and n["postmortem_id"] == wid]
    assert [n["kind"] for n in sent] == ["reminder", "escalation"]
    assert near([datetime.fromisoformat(n["at"]) for n in sent], [due - timedelta(days=2), due])
    await ts_env.sleep(timedelta(days=7))  # the weekly review reminder for the overdue item
    status = await until(postmortems, wid, lambda s: s.action_items[0].reminders_sent == 2)
    assert status.action_items[0].escalations == 1


async def test_security_incident_needs_cirt_signoff_before_publishing(
    ts_env: WorkflowEnvironment, postmortems: Postmortems, ts_settings: Settings
) -> None:
    rules = make_rules(external_summary=True)
    wid = (await postmortems.open(await ended_incident(ts_env, security=True), rules)).workflow_id
    await postmortems.assign(wid, AssignRequest(by="mia", owner="olivia"))
    await until(postmortems, wid, lambda s: s.state == "drafting" and s.draft_ref is not None)
    await submit(postmortems, ts_settings, wid, "olivia")
    await postmortems.approve(wid, ApproveRequest(by="rita"))
    await postmortems.approve(wid, ApproveRequest(by="ravi"))
    status = await until(postmortems, wid, lambda s: len(s.redaction) == 2)
    assert {r.audience for r in status.redaction} == {"internal", "external"}
    await postmortems.accept_redaction(wid, Actor(by="rita"))
    status = await postmortems.status(wid)
    assert status.state == "redacting" and "CIRT/legal sign-off" in status.open_gates
    with pytest.raises(Rejected, match="'rita' may not sign off"):
        await postmortems.sign_off(wid, SignoffRequest(by="rita"))
    await postmortems.sign_off(wid, SignoffRequest(by="sam", note="no customer data exposed"))
    status = await until(postmortems, wid, lambda s: s.state == "closed")
    assert status.publication is not None and status.publication.external_path is not None


async def test_waiver_needs_a_permitted_person_and_a_reason(postmortems: Postmortems) -> None:
    wid = (await postmortems.open(make_incident(key()), make_rules(requirement="optional"))).workflow_id
    await until(postmortems, wid, lambda s: s.state == "awaiting_resolution")
    await postmortems.waive(wid, WaiveRequest(by="mia", reason="covered by the runbook, no customer impact"))
    status = await postmortems.status(wid)
    assert status.state == "waived" and status.waiver_reason == "covered by the runbook, no customer impact"
    with pytest.raises(Rejected, match=r"has finished \(completed\); nothing more can change"):
        await postmortems.assign(wid, AssignRequest(by="mia", owner="olivia"))
    # the incident fires again: its finished postmortem is found, not replaced by a new run under its id
    again = await postmortems.open(make_incident(status.incident.key), make_rules(requirement="optional"))
    assert again.workflow_id == wid and not again.created
    assert (await postmortems.status(wid)).state == "waived"


async def test_a_flap_reopens_the_same_postmortem_and_restarts_the_draft_clock(
    ts_env: WorkflowEnvironment, postmortems: Postmortems
) -> None:
    wid = (await postmortems.open(await ended_incident(ts_env), make_rules())).workflow_id
    status = await until(postmortems, wid, lambda s: s.state == "drafting" and s.evidence is not None)
    first_manifest = status.evidence.manifest_ref if status.evidence else None
    await postmortems.reopen(wid, Actor(by="alertmanager"))
    status = await postmortems.status(wid)
    assert status.state == "awaiting_resolution" and status.incident.resolved_at is None
    await ts_env.sleep(timedelta(hours=5))
    await postmortems.resolve(wid, ResolveRequest(by="alertmanager"))
    status = await until(postmortems, wid, lambda s: s.state == "drafting")
    assert status.incident.resolved_at is not None
    assert clock(status, "draft").due_at == status.incident.resolved_at + timedelta(hours=72)
    # the evidence is captured again over the longer window: a newer sealed manifest
    await until(postmortems, wid, lambda s: s.evidence is not None and s.evidence.manifest_ref != first_manifest)


async def test_required_role_must_be_among_the_approvers(
    ts_env: WorkflowEnvironment, postmortems: Postmortems, ts_settings: Settings
) -> None:
    rules = make_rules(review=ReviewRules(reviewers=["rita", "ravi", "sam"], quorum=2, required_roles=["security"],
                                          signoff_people=["sam"]))
    wid = (await postmortems.open(await ended_incident(ts_env), rules)).workflow_id
    await postmortems.assign(wid, AssignRequest(by="mia", owner="olivia"))
    await until(postmortems, wid, lambda s: s.state == "drafting" and s.draft_ref is not None)
    await submit(postmortems, ts_settings, wid, "olivia")
    await postmortems.approve(wid, ApproveRequest(by="rita"))
    result = await postmortems.approve(wid, ApproveRequest(by="ravi"))
    assert result.state == "in_review"  # two approvals, but nobody from security yet
    assert "still needed: a reviewer with the role(s) security" in result.message
    status = await postmortems.status(wid)
    assert status.approvals == ["ravi", "rita"]
    result = await postmortems.approve(wid, ApproveRequest(by="sam"))
    assert result.state == "redacting"


async def test_alert_systems_resolve_by_signal_idempotently(postmortems: Postmortems) -> None:
    wid = (await postmortems.open(make_incident(key()), make_rules())).workflow_id
    request = ResolveRequest(by="intake:alertmanager")
    await postmortems.record_resolution(wid, request)  # acknowledged by the server, no worker needed
    await postmortems.record_resolution(wid, request)  # a resent notification changes nothing
    status = await until(postmortems, wid, lambda s: s.state == "drafting")
    assert [a.event for a in status.audit].count("incident resolved") == 1
    draft = clock(status, "draft")
    assert status.incident.resolved_at is not None and draft.due_at == status.incident.resolved_at + timedelta(hours=72)


async def test_a_paced_resolution_starts_the_draft_clock_at_once_and_its_steps_in_their_slot(
    ts_env: WorkflowEnvironment, postmortems: Postmortems
) -> None:
    wid = (await postmortems.open(make_incident(key()), make_rules())).workflow_id
    trigger = await until(postmortems, wid, lambda s: s.state == "awaiting_resolution" and s.evidence is not None)
    paced = ResolveRequest(by="intake:alertmanager", steps_delay=timedelta(minutes=2))
    await postmortems.record_resolution(wid, paced)
    status = await until(postmortems, wid, lambda s: s.state == "drafting")
    resolved_at = status.incident.resolved_at
    assert resolved_at is not None and clock(status, "draft").due_at == resolved_at + timedelta(hours=72)
    resolved = next(a for a in status.audit if a.event == "incident resolved")
    assert resolved.detail.endswith("; storm pacing: evidence capture and draft in 120 s")
    assert status.resolution_steps_at == resolved.at + timedelta(minutes=2)  # `afterword status` says when
    await ts_env.sleep(timedelta(minutes=2))
    status = await until(postmortems, wid, lambda s: s.draft_ref is not None)
    rendered = next(a for a in status.audit if a.event == "draft rendered")
    assert rendered.at >= resolved.at + timedelta(minutes=2)  # not before its slot
    assert status.resolution_steps_at is None
    assert status.evidence is not None and trigger.evidence is not None
    assert status.evidence.manifest_ref != trigger.evidence.manifest_ref  # captured again, at resolution


async def test_a_paced_resolution_reopened_before_its_slot_takes_no_steps_until_the_next_one(
    ts_env: WorkflowEnvironment, postmortems: Postmortems
) -> None:
    wid = (await postmortems.open(make_incident(key()), make_rules())).workflow_id
    trigger = await until(postmortems, wid, lambda s: s.state == "awaiting_resolution" and s.evidence is not None)
    await postmortems.record_resolution(wid, ResolveRequest(by="intake:alertmanager", steps_delay=timedelta(minutes=10)))
    await until(postmortems, wid, lambda s: s.state == "drafting")
    await postmortems.reopen(wid, Actor(by="intake:alertmanager"))
    await ts_env.sleep(timedelta(minutes=15))
    status = await postmortems.status(wid)
    assert status.state == "awaiting_resolution" and status.draft_ref is None
    assert status.evidence == trigger.evidence  # nothing captured for the resolution that was called off
    await postmortems.resolve(wid, ResolveRequest(by="alertmanager"))  # unpaced: at once
    status = await until(postmortems, wid, lambda s: s.draft_ref is not None)
    assert status.evidence is not None and trigger.evidence is not None
    assert status.evidence.manifest_ref != trigger.evidence.manifest_ref
