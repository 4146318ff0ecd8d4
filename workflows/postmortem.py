"""PostmortemWorkflow: one incident's postmortem, from trigger to closed (or waived).

The workflow owns the facts; the lifecycle machine decides what is legal; activities do the work.
Human steps are Updates whose validators ask the lifecycle (and the policy snapshot) first, so a
refused step leaves no trace in history. Deadlines are durable clocks started and stopped by
milestones; a breach notifies, marks the postmortem overdue, and never blocks the process.
"""

# No `from __future__ import annotations` here: the sandbox re-imports this module for every workflow run,
# and string annotations would then be compiled again each time the SDK reads the type hints.
import asyncio
import contextlib
import functools
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from afterword.activities.capture import AttachRequest
    from afterword.activities.fix_validation import ExamineRequest, ValidationActivities
    from afterword.activities.store_activities import StoreActivities
    from afterword.gates.outbound import redact_model, redact_text
    from afterword.workflows import search_attributes as sa
    from afterword.workflows.action_item import ActionItemWorkflow
    from afterword.workflows.deadlines import as_timedelta, run_clock
    from afterword.workflows.fix_checks import check_problem, for_incident, is_automatic
    from afterword.workflows.identity import action_item_id
    from afterword.workflows.lifecycle import (
        ACTIONABLE,
        TERMINAL,
        Lifecycle,
        PostmortemFacts,
        State,
        missing_roles,
    )
    from afterword.workflows.models import (
        ActionItemInput,
        ActionItemState,
        ActionItemStatus,
        Actor,
        AddActionRequest,
        ApproveRequest,
        AssignRequest,
        AuditEntry,
        ChangesRequest,
        CheckRequest,
        CheckResult,
        DeadlineRule,
        DeadlineStatus,
        DocumentRef,
        DraftSubmission,
        DueRequest,
        EvidenceAttachment,
        EvidenceRequest,
        EvidenceSummary,
        Finding,
        Milestone,
        Notification,
        PostmortemInput,
        PostmortemRules,
        PostmortemStatus,
        Progress,
        Publication,
        PublishRequest,
        ReapplyRequest,
        RedactionReport,
        RedactRequest,
        RenderRequest,
        ResolveRequest,
        SignoffRequest,
        TimelineEdit,
        UpdateResult,
        WaiveRequest,
    )
    from afterword.workflows.store_requests import REFUSED, StoreDocument

SHORT = timedelta(minutes=2)
QUICK_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))
# Evidence sources can be down during an incident; the activity records gaps itself, and a capture that
# still fails after these attempts is recorded in the audit trail instead of failing the postmortem.
EVIDENCE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=2), maximum_attempts=8
)


@dataclass
class _Clock:
    rule: DeadlineRule
    status: DeadlineStatus


def _rejected(reason: str) -> ApplicationError:
    return ApplicationError(reason, type="Rejected", non_retryable=True)


@workflow.defn
class PostmortemWorkflow:
    @workflow.init
    def __init__(self, inp: PostmortemInput) -> None:
        self.incident = inp.incident
        self.rules = inp.rules
        # the raw alert payload, when it came with the start: handed to the first capture that succeeds (the
        # trigger-time one, or the resolution-time one for an incident opened after it ended)
        self.alert_payload = inp.alert_payload
        self.owner: str | None = None
        self.draft_ref: str | None = None
        self.findings: list[Finding] = []
        self.completeness: float | None = None
        self.evidence: EvidenceSummary | None = None
        self.redaction: list[RedactionReport] = []
        self.publication: Publication | None = None
        self.items: dict[str, ActionItemState] = {}
        self.item_handles: dict[str, workflow.ChildWorkflowHandle[Any, Any]] = {}
        self.timeline_edits: list[TimelineEdit] = []
        self.waiver_reason: str | None = None
        self.audit: list[AuditEntry] = []
        self.milestones: dict[Milestone, datetime] = {}
        self.clocks: dict[str, _Clock] = {}
        self.background: set[asyncio.Task[None]] = set()  # deadline clocks, late captures, upserts
        self.upsert_scheduled = False
        # what the start set (kind, org and service never change; these four do): the first upsert is the
        # first real change, whoever started the workflow and with whatever values
        started_with = workflow.info().typed_search_attributes
        self.published_attributes: dict[str, str | bool | None] = {
            key.name: started_with.get(key) for key in (sa.STATE, sa.SEVERITY, sa.OWNER, sa.OVERDUE)
        }
        self.checking = False
        self.captured_at_resolution = False
        # storm pacing: when the intake's slot for the resolution steps comes (None: nothing waits for one)
        self.resolution_steps_at: datetime | None = None
        self.lifecycle = Lifecycle(PostmortemFacts())
        self._apply_rules(inp.rules)
        self.facts.incident_resolved = inp.incident.resolved_at is not None

    # ------------------------------------------------------------------ helpers

    @property
    def facts(self) -> PostmortemFacts:
        return self.lifecycle.facts

    @property
    def state(self) -> State:
        return self.lifecycle.state

    @property
    def id(self) -> str:
        return workflow.info().workflow_id

    def _apply_rules(self, rules: PostmortemRules) -> None:
        self.rules = rules
        f = self.facts
        f.reviewers = frozenset(rules.review.reviewers)
        f.quorum = rules.review.quorum
        f.allow_self_approval = rules.review.allow_self_approval
        f.needs_signoff = self.incident.security or self.incident.legal or rules.review.signoff_required
        f.required_roles = frozenset(rules.review.required_roles)
        f.roles = {person: frozenset(roles) for person, roles in rules.roles.items()}
        f.signoff_people = frozenset(rules.review.signoff_people)
        f.waiver_allowed = frozenset(rules.waivers.allowed)
        f.waiver_min_reason = rules.waivers.min_reason_length
        f.min_items = rules.action_items.min_items

    def _log(self, by: str, event: str, detail: str = "") -> None:
        self.audit.append(AuditEntry(at=workflow.now(), by=by, event=event, detail=detail))
        workflow.logger.info("%s: %s by %s %s", self.id, event, by, detail)

    def _fire(self, event: str, by: str, detail: str = "", **kwargs: Any) -> None:
        before = self.state
        self.lifecycle.fire(event, by=by, **kwargs)
        if self.state != before:
            self._log(by, f"{before.value} -> {self.state.value}", detail or event)
            self._upsert()

    def _check(self, event: str, **kwargs: Any) -> None:
        reason = self.lifecycle.check(event, **kwargs)
        if reason is not None:
            raise _rejected(reason)

    def _overdue(self) -> bool:
        return any(c.status.breached and c.status.met_at is None for c in self.clocks.values())

    def _in_background(self, work: Coroutine[Any, Any, None], name: str) -> None:
        """Run `work` beside the main flow (a workflow task, deterministic), keeping a reference to it."""
        task = asyncio.create_task(work, name=name)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    def _upsert(self) -> None:
        """Publish what changed to the search attributes, once per workflow task: several moves in one task
        (published -> tracking, say) make one upsert, since each is a history event and a visibility write."""
        if not self.upsert_scheduled:
            self.upsert_scheduled = True
            self._in_background(self._upsert_later(), "search-attributes")

    async def _upsert_later(self) -> None:
        self._upsert_now()

    def _upsert_now(self) -> None:
        self.upsert_scheduled = False
        state, severity, owner, overdue = self.state.value, self.rules.severity, self.owner or "", self._overdue()
        values: dict[str, str | bool | None] = {
            sa.STATE.name: state, sa.SEVERITY.name: severity, sa.OWNER.name: owner, sa.OVERDUE.name: overdue,
        }
        if values != self.published_attributes:
            self.published_attributes = values
            workflow.upsert_search_attributes([
                sa.STATE.value_set(state), sa.SEVERITY.value_set(severity), sa.OWNER.value_set(owner),
                sa.OVERDUE.value_set(overdue),
            ])

    def _searchable(self, text: str) -> str:
        """Search attributes are not encrypted by the payload codec: what a sender wrote is redacted first."""
        if workflow.patched("search-attributes-redacted"):
            return redact_text(text, self.rules.policy)
        return text

    def _known_person(self, person: str) -> None:
        if self.rules.roles and person not in self.rules.roles:
            raise _rejected(
                f"{person!r} is not in the policy's roster; known people: {', '.join(sorted(self.rules.roles))}"
            )

    def _open(self) -> None:
        if self.state in TERMINAL:
            raise _rejected(f"the postmortem is {self.state.value}; nothing more can change")

    async def _notify(
        self, kind: Literal["reminder", "escalation", "info"], to: list[str], subject: str, body: str = "",
        deadline: str | None = None,
    ) -> None:
        note = Notification(
            postmortem_id=self.id, kind=kind, to=sorted(set(to)) or ["unassigned"], subject=subject, body=body,
            at=workflow.now(), deadline=deadline,
        )
        try:
            await workflow.execute_activity(
                "notify", note, start_to_close_timeout=SHORT, retry_policy=QUICK_RETRY
            )
        except ActivityError as err:  # a failed notification must not stop the postmortem
            self._log("afterword", "notification failed", f"{subject}: {err.cause or err}")

    # ------------------------------------------------------------------ deadlines

    def _reach(self, milestone: Milestone, at: datetime | None = None) -> None:
        """Record a milestone: stop the clocks it meets, start the clocks it anchors."""
        when = at or workflow.now()
        self.milestones[milestone] = when
        for clock in self.clocks.values():
            if clock.rule.until == milestone and clock.status.met_at is None:
                clock.status.met_at = when
        for rule in self.rules.deadlines:
            if rule.after == milestone:
                self._start_clock(rule, when)
        self._upsert()

    def _start_clock(self, rule: DeadlineRule, anchor: datetime) -> None:
        # a clock started again (a reopened incident) replaces the old one, whose task then ends
        met = self.milestones.get(rule.until)
        status = DeadlineStatus(name=rule.name, met_at=met if met and met >= anchor else None)
        if status.met_at is not None and rule.calendar is None:
            status.due_at = anchor + rule.duration  # met before it started: still show what it was
        clock = _Clock(rule=rule, status=status)
        self.clocks[rule.name] = clock
        if status.met_at is None:
            self._in_background(self._run_clock(clock, anchor), f"deadline:{rule.name}")

    def _clock_done(self, clock: _Clock) -> bool:
        current = self.clocks.get(clock.rule.name)
        return clock.status.met_at is not None or current is not clock or self.state in TERMINAL

    async def _run_clock(self, clock: _Clock, anchor: datetime) -> None:
        rule = clock.rule
        if rule.calendar is None:
            due = anchor + rule.duration
        else:  # business time needs the org's calendar and timezone database: an activity computes it
            due = await workflow.execute_local_activity(
                "compute_due", DueRequest(anchor=anchor, rule=rule), result_type=datetime,
                start_to_close_timeout=timedelta(seconds=10),
            )
        clock.status.due_at = due

        async def remind(due_at: datetime) -> None:
            clock.status.reminders_sent += 1
            await self._notify(
                "reminder", [self.owner] if self.owner else self.rules.escalation,
                f"[{self.rules.severity}] {self.incident.title}: {rule.name} due {due_at.isoformat()}",
                f"Postmortem {self.id} ({self.state.value}): the {rule.name} deadline is {due_at.isoformat()}.",
                deadline=rule.name,
            )

        async def breach() -> None:
            clock.status.breached = True
            clock.status.breached_at = workflow.now()
            clock.status.escalations += 1
            self._log("afterword", "deadline breached", f"{rule.name} was due {due.isoformat()}")
            self._upsert()
            await self._notify(
                "escalation",
                [p for p in [self.owner] if p] + rule.escalate_to + self.rules.escalation,
                f"[{self.rules.severity}] OVERDUE {rule.name}: {self.incident.title}",
                f"Postmortem {self.id} missed its {rule.name} deadline ({due.isoformat()}); "
                f"it is {self.state.value}. The work still has to be done.",
                deadline=rule.name,
            )

        in_time = await run_clock(due, rule.reminders, lambda: self._clock_done(clock), remind, breach)
        if not in_time:
            await workflow.wait_condition(lambda: self._clock_done(clock))
            self._upsert()  # clears the overdue flag once the late work is done

    # ------------------------------------------------------------------ the run

    @workflow.run
    async def run(self, inp: PostmortemInput) -> PostmortemStatus:
        self._log(inp.opened_by, "opened", f"{self.incident.source} {self.incident.key}")
        self._reach(Milestone.TRIGGERED)
        self._fire("preserve", inp.opened_by)
        if not self.facts.incident_resolved:
            self._take_evidence(await self._preserve("trigger"))
            self._fire("seal", "afterword", "evidence manifest sealed")
        else:  # an incident opened after it ended is captured once, over its whole window, when drafting starts
            self._fire("seal", "afterword", "already resolved: evidence is captured over the whole window")
        if self.facts.incident_resolved:
            self._reach(Milestone.RESOLVED, self._resolution_time(self.incident.resolved_at))

        while self.state not in TERMINAL:
            state = self.state
            if state is State.DRAFTING:
                await self._prepare_draft()
            elif state is State.REDACTING:
                await self._redact_and_publish()
            elif state is State.PUBLISHED:
                await self._after_publication()
            elif state is State.TRACKING:
                await workflow.wait_condition(
                    lambda: self.state is not State.TRACKING or self.lifecycle.check("items_done") is None
                )
                if self.state is State.TRACKING:
                    self._fire("items_done", "afterword", "every action item is done or dropped")
            elif state is State.VALIDATING:
                await workflow.wait_condition(
                    lambda: self.lifecycle.check("close") is None
                    or any(i.status is ActionItemStatus.OPEN for i in self.items.values())
                )
                if self.lifecycle.check("close") is None:
                    self._fire("close", "afterword", "every action item validated or dropped")
                    self._reach(Milestone.CLOSED)
                else:
                    self._fire("reopen_item", "afterword", "a fix failed validation")
            await workflow.wait_condition(functools.partial(self._moved_on, state))

        # children end right after their last report; waiting for them keeps the parent/child pairing whole.
        # A child that failed, or was cancelled with a waived postmortem, is its own story (wait() does not
        # raise it); the parent's own cancellation still ends the parent.
        if self.item_handles:
            await workflow.wait(list(self.item_handles.values()))
        await workflow.wait_condition(workflow.all_handlers_finished)
        self._upsert_now()  # the final state, before the run ends
        return self.status()

    def _moved_on(self, handled: State) -> bool:
        return self.state is not handled or self._work_pending()

    def _work_pending(self) -> bool:
        """True when the current state has work for the run loop (not just waiting for people)."""
        s = self.state
        return (
            (s is State.DRAFTING and (self.draft_ref is None or not self.captured_at_resolution))
            or (s is State.REDACTING and not self.facts.redaction_done)
            or (s is State.REDACTING and self.lifecycle.check("publish") is None)
            or (s is State.PUBLISHED and (self.lifecycle.check("track") is None
                                          or self.lifecycle.check("close") is None))
        )

    def _resolution_time(self, at: datetime | None) -> datetime:
        now = workflow.now()
        return min(at, now) if at is not None else now

    async def _preserve(self, phase: Literal["trigger", "resolution"]) -> EvidenceSummary | None:
        try:
            summary: EvidenceSummary = await workflow.execute_activity(
                "preserve_evidence",
                EvidenceRequest(postmortem_id=self.id, incident=self.incident, phase=phase,
                                policy=self.rules.policy, alert_payload=self.alert_payload),
                result_type=EvidenceSummary,
                start_to_close_timeout=timedelta(minutes=10),
                heartbeat_timeout=timedelta(seconds=30),  # the capture beats every few seconds
                retry_policy=EVIDENCE_RETRY,
            )
            self.alert_payload = None  # stored now: later captures find it in the store
            return summary
        except ActivityError as err:
            self._log("afterword", "evidence capture failed", str(err.cause or err))
            return self.evidence

    def _take_evidence(self, summary: EvidenceSummary | None) -> None:
        """Keep the newest manifest: a capture and a person's attachment may finish in either order, and
        the later-sealed version (which includes the other's items) must win."""
        if summary is None:
            return
        if self.evidence is None or summary.version >= self.evidence.version:
            self.evidence = summary

    async def _prepare_draft(self) -> None:
        if not self.captured_at_resolution:  # first resolution, or again after a reopened incident
            if not await self._resolution_steps_due():
                return  # reopened (they run at the next resolution) or waived while they waited
            self._take_evidence(await self._preserve("resolution"))
            self.captured_at_resolution = True
            margin = self._margin_after()
            if margin > timedelta(0):
                self._in_background(self._capture_after_margin(margin), "evidence:margin")
        if self.draft_ref is not None:
            return
        doc = await workflow.execute_activity(
            "render_draft",
            RenderRequest(postmortem_id=self.id, incident=self.incident, rules=self.rules, owner=self.owner,
                          evidence=self.evidence, action_items=list(self.items.values()),
                          timeline_edits=self.timeline_edits),
            result_type=DocumentRef,
            start_to_close_timeout=SHORT,
            retry_policy=QUICK_RETRY,
        )
        if self.draft_ref is None:
            self.draft_ref = doc.ref
            self._log("afterword", "draft rendered", doc.path)

    async def _resolution_steps_due(self) -> bool:
        """Wait for the slot the intake gave this resolution's steps in a storm (at once otherwise);
        False if the incident was reopened, or the postmortem ended (waived), meanwhile."""

        def called_off() -> bool:
            return not self.facts.incident_resolved or self.state in TERMINAL

        due = self.resolution_steps_at
        if due is not None and due > workflow.now():
            with contextlib.suppress(TimeoutError):  # the slot has come
                await workflow.wait_condition(called_off, timeout=due - workflow.now())
        self.resolution_steps_at = None  # nothing waits any more: status stops announcing it
        return not called_off()

    def _margin_after(self) -> timedelta:
        """How long after resolution the evidence window reaches (the policy's [evidence] margin_after)."""
        raw = self.rules.policy.get("evidence", {}).get("margin_after")
        return as_timedelta(raw) if raw is not None else timedelta(0)

    async def _capture_after_margin(self, margin: timedelta) -> None:
        """Telemetry keeps arriving after resolution: capture once more when the window's margin has passed."""
        await workflow.sleep(margin)
        if self.facts.incident_resolved and self.state not in TERMINAL:
            self._take_evidence(await self._preserve("resolution"))

    async def _redact_and_publish(self) -> None:
        if not self.facts.redaction_done:
            audiences: list[Literal["internal", "external"]] = ["internal"]
            if self.rules.external_summary:
                audiences.append("external")
            reports = []
            for audience in audiences:
                reports.append(await workflow.execute_activity(
                    "redact_document",
                    RedactRequest(postmortem_id=self.id, document_ref=self.draft_ref or "",
                                  audience=audience, rules=self.rules),
                    result_type=RedactionReport,
                    start_to_close_timeout=SHORT,
                    retry_policy=QUICK_RETRY,
                ))
            self.redaction = reports
            self.facts.redaction_done = True
            total = sum(sum(r.counts.values()) for r in reports)
            self._log("afterword", "redaction report ready", f"{total} finding(s) redacted")
            return
        if self.lifecycle.check("publish") is not None:
            return
        internal = next(r for r in self.redaction if r.audience == "internal")
        external = next((r for r in self.redaction if r.audience == "external"), None)
        self.publication = await workflow.execute_activity(
            "publish_document",
            PublishRequest(postmortem_id=self.id, incident=self.incident, rules=self.rules,
                           internal_ref=internal.redacted_ref,
                           external_ref=external.redacted_ref if external else None,
                           approvers=sorted(self.facts.approvals)),
            result_type=Publication,
            start_to_close_timeout=SHORT,
            retry_policy=QUICK_RETRY,
        )
        self._fire("publish", "afterword", f"archived at {self.publication.archive_path}")
        self._reach(Milestone.PUBLISHED)
        if external is not None:
            self._reach(Milestone.EXTERNAL_PUBLISHED)

    async def _after_publication(self) -> None:
        if self.lifecycle.check("track") is None:
            self._fire("track", "afterword", f"{len(self.items)} action item(s) to track")
        elif self.lifecycle.check("close") is None:
            self._fire("close", "afterword", "no action items required")
            self._reach(Milestone.CLOSED)

    # ------------------------------------------------------------------ updates: the human steps

    @workflow.update
    async def resolve(self, req: ResolveRequest) -> UpdateResult:
        return self._resolve(req)

    @resolve.validator
    def _validate_resolve(self, req: ResolveRequest) -> None:
        self._open()

    @workflow.signal(name="resolved")
    def resolved(self, req: ResolveRequest) -> None:
        """Resolution from alert systems: a signal is durable once the server has it, so the intake can
        answer without waiting for a worker; it means the same as the `resolve` update."""
        if self.state not in TERMINAL:
            self._resolve(req)

    def _resolve(self, req: ResolveRequest) -> UpdateResult:
        if self.facts.incident_resolved:  # alert systems resend: resolving twice is a no-op
            return UpdateResult(state=self.state.value, message="already resolved")
        at = self._resolution_time(req.resolved_at)
        self.incident = self.incident.model_copy(update={"resolved_at": at})
        self.facts.incident_resolved = True
        delay = req.steps_delay or timedelta(0)
        self.resolution_steps_at = workflow.now() + delay if delay > timedelta(0) else None
        pacing = f"; storm pacing: evidence capture and draft in {delay.total_seconds():g} s" if delay else ""
        self._log(req.by, "incident resolved", at.isoformat() + pacing)
        if self.state is State.AWAITING_RESOLUTION:
            self._fire("resolve", req.by)
        if self.state not in (State.TRIGGERED, State.PRESERVING):  # else the run loop does, after sealing
            self._reach(Milestone.RESOLVED, at)
        return UpdateResult(state=self.state.value, message=f"resolved at {at.isoformat()}; the draft clock runs")

    @workflow.update
    async def reopen(self, req: Actor) -> UpdateResult:
        self._fire("reopen", req.by, "the incident fired again before the draft was submitted")
        self.facts.incident_resolved = False
        self.captured_at_resolution = False  # the window grows: capture again at the next resolution
        self.resolution_steps_at = None
        self.incident = self.incident.model_copy(update={"resolved_at": None})
        self.milestones.pop(Milestone.RESOLVED, None)
        # clocks anchored at resolution restart at the next one; their running tasks see they were replaced
        self.clocks = {n: c for n, c in self.clocks.items() if c.rule.after is not Milestone.RESOLVED}
        return UpdateResult(state=self.state.value, message="reopened: waiting for the incident to resolve again")

    @reopen.validator
    def _validate_reopen(self, req: Actor) -> None:
        self._check("reopen", by=req.by)

    @workflow.update
    async def assign(self, req: AssignRequest) -> UpdateResult:
        previous = self.owner
        self.owner = req.owner
        self.facts.owner = req.owner
        self._log(req.by, "owner assigned", f"{previous or 'nobody'} -> {req.owner}")
        if Milestone.OWNER_ASSIGNED not in self.milestones:
            self._reach(Milestone.OWNER_ASSIGNED)
        self._upsert()
        return UpdateResult(state=self.state.value, message=f"{req.owner} owns this postmortem")

    @assign.validator
    def _validate_assign(self, req: AssignRequest) -> None:
        self._open()
        self._known_person(req.owner)

    @workflow.update
    async def submit_draft(self, req: DraftSubmission) -> UpdateResult:
        self.checking = True
        try:
            document_ref = req.document_ref
            if req.text is not None:  # handed in from a machine without the worker's store: store it first
                stored = await workflow.execute_activity_method(
                    StoreActivities.store_document, StoreDocument(postmortem_id=self.id, text=req.text),
                    start_to_close_timeout=SHORT, retry_policy=QUICK_RETRY,
                )
                document_ref = stored.ref
            assert document_ref is not None  # DraftSubmission holds one or the other
            result = await workflow.execute_activity(
                "check_draft",
                CheckRequest(postmortem_id=self.id, document_ref=document_ref, rules=self.rules),
                result_type=CheckResult,
                start_to_close_timeout=SHORT,
                retry_policy=QUICK_RETRY,
            )
        finally:
            self.checking = False
        self.draft_ref = document_ref
        self.findings = result.findings
        self.completeness = result.completeness
        self.facts.draft_ok = result.ok
        self.facts.draft_author = req.by
        errors = [f for f in result.findings if f.severity == "error"]
        if not result.ok or self.state is not State.DRAFTING:
            self._log(req.by, "draft refused", f"{len(errors)} error(s)")
            return UpdateResult(
                state=self.state.value,
                message=f"the draft stays in drafting: {len(errors)} error(s) to fix, then submit again",
                findings=result.findings,
            )
        self._fire("submit_draft", req.by, f"completeness {result.completeness:.0%}")
        self._reach(Milestone.DRAFT_SUBMITTED)
        return UpdateResult(state=self.state.value, message="submitted for review", findings=result.findings)

    @submit_draft.validator
    def _validate_submit(self, req: DraftSubmission) -> None:
        if self.checking:
            raise _rejected("a draft is being checked right now; wait for its result")
        reason = self.lifecycle.check("submit_draft", by=req.by, ignore=("draft_ok",))
        if reason is not None:
            raise _rejected(reason)

    @workflow.update
    async def approve(self, req: ApproveRequest) -> UpdateResult:
        self._fire("approve", req.by, req.comment)
        self.facts.approvals.add(req.by)
        self._log(req.by, "approved", req.comment)
        if self.state is State.REDACTING:
            self._reach(Milestone.APPROVED)
        message = f"{len(self.facts.approvals)} of {self.facts.quorum} approvals"
        missing = missing_roles(self.facts, None)
        if self.state is State.IN_REVIEW and missing:
            message += "; still needed: a reviewer with the role(s) " + ", ".join(sorted(missing))
        return UpdateResult(state=self.state.value, message=message)

    @approve.validator
    def _validate_approve(self, req: ApproveRequest) -> None:
        self._check("approve", by=req.by)

    @workflow.update
    async def request_changes(self, req: ChangesRequest) -> UpdateResult:
        self._fire("request_changes", req.by, req.reason)
        self.facts.approvals.clear()
        self.facts.draft_ok = False
        return UpdateResult(state=self.state.value, message="back to drafting: " + req.reason)

    @request_changes.validator
    def _validate_request_changes(self, req: ChangesRequest) -> None:
        self._check("request_changes", by=req.by)

    @workflow.update
    async def accept_redaction(self, req: Actor) -> UpdateResult:
        self.facts.redaction_accepted = True
        self._log(req.by, "redaction accepted", ", ".join(r.audience for r in self.redaction))
        waiting = self.lifecycle.check("publish")
        return UpdateResult(state=self.state.value, message=waiting or "publishing")

    @accept_redaction.validator
    def _validate_accept_redaction(self, req: Actor) -> None:
        self._check("accept_redaction", by=req.by)

    @workflow.update
    async def sign_off(self, req: SignoffRequest) -> UpdateResult:
        self.facts.signed_off_by = req.by
        self._log(req.by, "CIRT/legal sign-off", req.note)
        waiting = self.lifecycle.check("publish")
        return UpdateResult(state=self.state.value, message=waiting or "publishing")

    @sign_off.validator
    def _validate_sign_off(self, req: SignoffRequest) -> None:
        self._check("sign_off", by=req.by)

    @workflow.update
    async def waive(self, req: WaiveRequest) -> UpdateResult:
        self._fire("waive", req.by, req.reason, reason=req.reason)
        self.waiver_reason = req.reason
        for handle in self.item_handles.values():
            handle.cancel()
        return UpdateResult(state=self.state.value, message="waived: " + req.reason)

    @waive.validator
    def _validate_waive(self, req: WaiveRequest) -> None:
        self._check("waive", by=req.by, reason=req.reason)

    @workflow.update
    async def add_action(self, req: AddActionRequest) -> UpdateResult:
        spec = req.item
        if is_automatic(spec.check) and workflow.patched("fix-checks"):
            spec = spec.model_copy(update={"check": for_incident(spec.check, self.incident.labels)})
            assert spec.check is not None
            # what only a server can tell (the expression parses, the policy can serve the check): asked
            # before anything is recorded, so a refused check starts nothing
            examined = await workflow.execute_activity_method(
                ValidationActivities.examine_check, ExamineRequest(org=self.incident.org, check=spec.check),
                start_to_close_timeout=SHORT, retry_policy=QUICK_RETRY,
            )
            if examined.problem is not None:
                raise _rejected(examined.problem)
            if examined.note:
                self._log(req.by, "check not verified", examined.note)
        number = len(self.items) + 1
        item_id = f"ai-{number}"
        child_id = action_item_id(self.id, number)
        self.items[item_id] = ActionItemState(item_id=item_id, workflow_id=child_id, spec=spec)
        self.facts.items[item_id] = ActionItemStatus.OPEN.value
        self._log(req.by, "action item added", f"{item_id}: {spec.title} ({spec.owner})")
        self.item_handles[item_id] = await workflow.start_child_workflow(
            ActionItemWorkflow.run,
            ActionItemInput(postmortem_id=self.id, item_id=item_id, spec=spec, org=self.incident.org,
                            rules=self.rules.action_items, escalation=self.rules.escalation),
            id=child_id,
            parent_close_policy=workflow.ParentClosePolicy.ABANDON,
            search_attributes=TypedSearchAttributes([
                SearchAttributePair(sa.KIND, "action_item"), SearchAttributePair(sa.STATE, "open"),
                SearchAttributePair(sa.OWNER, req.item.owner), SearchAttributePair(sa.OVERDUE, False),
                SearchAttributePair(sa.ORG, self.incident.org), SearchAttributePair(sa.SEVERITY, self.rules.severity),
                SearchAttributePair(sa.SERVICE, self._searchable(self.incident.service)),
            ]),
        )
        return UpdateResult(state=self.state.value, message=f"{item_id} tracked as workflow {child_id}")

    @add_action.validator
    def _validate_add_action(self, req: AddActionRequest) -> None:
        self._open()
        if self.state not in ACTIONABLE:
            raise _rejected(
                f"action items can be added from drafting on; the postmortem is {self.state.value}"
            )
        if req.item.type.value not in self.rules.action_items.types:
            raise _rejected(
                f"action item type {req.item.type.value!r} is not allowed; use one of: "
                + ", ".join(self.rules.action_items.types)
            )
        self._known_person(req.item.owner)
        if req.item.due <= workflow.now():
            raise _rejected(f"the due date {req.item.due.isoformat()} is in the past; give a future date")
        if is_automatic(req.item.check):
            problem = check_problem(req.item.check, self.rules.action_items.validation_window, self.incident.labels)
            if problem is not None:
                raise _rejected(problem)

    @workflow.update
    async def add_evidence(self, req: EvidenceAttachment) -> EvidenceSummary:
        try:
            summary = await workflow.execute_activity_method(
                StoreActivities.attach_evidence,
                AttachRequest(postmortem_id=self.id, name=req.name, data=req.data, note=req.note.strip(), by=req.by,
                              at=req.at),
                start_to_close_timeout=SHORT, retry_policy=QUICK_RETRY,
            )
        except ActivityError as err:
            cause = err.cause
            if isinstance(cause, ApplicationError) and cause.type == REFUSED:
                raise _rejected(cause.message) from None
            raise _rejected(f"the attachment was not stored: {cause or err}; try again") from None
        self._take_evidence(summary)
        self._log(req.by, "evidence attached", f"{req.name}: {req.note.strip()} (manifest v{summary.version})")
        return summary

    @add_evidence.validator
    def _validate_add_evidence(self, req: EvidenceAttachment) -> None:
        self._open()
        if self.evidence is None:
            raise _rejected(
                "this postmortem has no sealed evidence manifest yet (its first capture has not finished); "
                "attach the file once `afterword evidence list` shows one"
            )

    @workflow.signal
    def item_changed(self, item: ActionItemState) -> None:
        """Action item workflows report every change; the postmortem mirrors them for status and gates."""
        current = self.items.get(item.item_id)
        if current is not None and item.revision >= current.revision:  # reports may arrive out of order
            self.items[item.item_id] = item
            self.facts.items[item.item_id] = item.status.value

    @workflow.update
    async def edit_timeline(self, edit: TimelineEdit) -> UpdateResult:
        self.timeline_edits.append(edit)
        self._log(edit.by, f"timeline {edit.action}", f"{edit.at.isoformat()} {edit.event} {edit.reason}".strip())
        return UpdateResult(state=self.state.value, message=f"timeline {edit.action} recorded")

    @edit_timeline.validator
    def _validate_edit_timeline(self, edit: TimelineEdit) -> None:
        self._open()
        if edit.action in ("correct", "remove") and not edit.replaces:
            raise _rejected("say which row to change: give the text of the row being corrected or removed")
        if edit.action in ("add", "correct") and not edit.event.strip():
            raise _rejected("a timeline row needs the event text")

    @workflow.update
    async def reapply_policy(self, req: ReapplyRequest) -> UpdateResult:
        old = self.rules.policy_hash
        self._apply_rules(req.rules)
        self._log(req.by, "policy reapplied", f"{old[:12]} -> {req.rules.policy_hash[:12]}")
        return UpdateResult(state=self.state.value, message=f"now under policy {req.rules.policy_hash[:12]}")

    @reapply_policy.validator
    def _validate_reapply(self, req: ReapplyRequest) -> None:
        self._open()
        if req.rules.org != self.incident.org:
            raise _rejected(f"that policy is for {req.rules.org!r}; this postmortem belongs to {self.incident.org!r}")

    # ------------------------------------------------------------------ query

    @workflow.query
    def status(self) -> PostmortemStatus:
        """Where the postmortem stands, redacted for internal readers (secrets out) as the policy says: every
        client prints it, and text people and alert senders wrote is part of it."""
        return redact_model(self._status(), self.rules.policy)

    def _status(self) -> PostmortemStatus:
        return PostmortemStatus(
            postmortem_id=self.id,
            state=self.state.value,
            incident=self.incident,
            severity=self.rules.severity,
            owner=self.owner,
            policy_name=self.rules.policy_name,
            policy_hash=self.rules.policy_hash,
            overdue=self._overdue(),
            open_gates=self._open_gates(),
            deadlines=[c.status for c in self.clocks.values()],
            approvals=sorted(self.facts.approvals),
            draft_ref=self.draft_ref,
            findings=self.findings,
            completeness=self.completeness,
            evidence=self.evidence,
            redaction=self.redaction,
            publication=self.publication,
            action_items=list(self.items.values()),
            waiver_reason=self.waiver_reason,
            audit=self.audit,
            timeline_edits=self.timeline_edits,
            resolution_steps_at=self.resolution_steps_at,
        )

    @workflow.query
    def progress(self) -> Progress:
        return Progress(
            state=self.state.value, owner=self.owner, overdue=self._overdue(), draft_ref=self.draft_ref,
            redaction_ready=self.facts.redaction_done,
            open_gates=[redact_text(gate, self.rules.policy) for gate in self._open_gates()],
        )

    def _open_gates(self) -> list[str]:
        s, f = self.state, self.facts
        gates: list[str] = []
        if s in TERMINAL:
            return gates
        if f.owner is None:
            gates.append("assign an owner")
        if s is State.AWAITING_RESOLUTION:
            gates.append("incident resolution")
        if s is State.DRAFTING:
            gates.append("submit a draft that passes its checks")
        if s is State.IN_REVIEW:
            gates.append(f"approvals {len(f.approvals)}/{f.quorum}")
        if s is State.REDACTING:
            if not f.redaction_accepted:
                gates.append("accept the redaction report")
            if f.needs_signoff and f.signed_off_by is None:
                gates.append("CIRT/legal sign-off")
        if s in (State.PUBLISHED, State.TRACKING, State.VALIDATING):
            for item in self.items.values():
                if not item.finished:
                    gates.append(f"{item.item_id} {item.status.value}: {item.spec.title}")
            if len(self.items) < f.min_items:
                gates.append(f"add action items ({len(self.items)}/{f.min_items})")
        return gates

