"""ActionItemWorkflow checks a completed fix itself: time-skipped, with the check's activities mocked by
name (the samples come from a function of time the test writes), so windows of days pass in seconds."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta

import pytest
from temporalio import activity, workflow
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from afterword.activities.fix_validation import CheckEvidence, CheckEvidenceRequest, ExamineRequest, ExamineResult
from afterword.gates.check_syntax import parse_check
from afterword.workflows import fix_checking
from afterword.workflows.action_item import ActionItemWorkflow
from afterword.workflows.fix_checks import CheckPoint, SampleBatch, SampleRequest
from afterword.workflows.models import (
    ActionItemInput,
    ActionItemRules,
    ActionItemSpec,
    ActionItemState,
    ActionType,
    CompleteRequest,
    Notification,
)

Verdict = Callable[[datetime], bool]


class Telemetry:
    """What the mocked Prometheus says at each instant, and what the workflow asked of it."""

    def __init__(self) -> None:
        self.ok: Verdict = lambda at: True
        self.requests: list[SampleRequest] = []
        self.evidence: list[CheckEvidenceRequest] = []
        self.notes: list[Notification] = []
        self.queue = ""
        self.started: list[str] = []

    def activities(self) -> list[Callable[..., object]]:
        @activity.defn(name="sample_check")
        async def sample_check(req: SampleRequest) -> SampleBatch:
            self.requests.append(req)
            step = req.check.interval  # type: ignore[union-attr]
            points, at = [], req.start
            while at <= req.end:
                ok = self.ok(at)
                points.append(CheckPoint(at=at, ok=ok, value="0.3" if ok else "0.95"))
                at += step
            return SampleBatch(points=points, query="q", source="prom", answer_ref=f"ref-{len(self.requests)}",
                               asked_at=req.end)

        @activity.defn(name="record_check_evidence")
        async def record_check_evidence(req: CheckEvidenceRequest) -> CheckEvidence:
            self.evidence.append(req)
            return CheckEvidence(record_ref="e" * 64)

        @activity.defn(name="notify")
        async def notify(note: Notification) -> None:
            self.notes.append(note)

        @activity.defn(name="examine_check")
        async def examine_check(req: ExamineRequest) -> ExamineResult:
            return ExamineResult()

        return [sample_check, record_check_evidence, notify, examine_check]


@workflow.defn(name="PostmortemWorkflow", sandboxed=False)
class FakePostmortem:
    """Stands in for the parent: takes the item's reports."""

    def __init__(self) -> None:
        self.reports = 0

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)

    @workflow.signal
    def item_changed(self, item: ActionItemState) -> None:
        self.reports += 1


@pytest.fixture(scope="module")
async def env() -> AsyncIterator[WorkflowEnvironment]:
    # a server of this module's own: weeks of skipped time with many check timers must not leave the session's
    # shared server unable to skip for the tests after these (its sleeps then time out)
    from tests.conftest import start_time_skipping_server

    env = await start_time_skipping_server()
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
async def telemetry(env: WorkflowEnvironment) -> AsyncIterator[Telemetry]:
    telemetry = Telemetry()
    telemetry.queue = f"checks-{uuid.uuid4().hex[:6]}"
    async with Worker(env.client, task_queue=telemetry.queue, workflows=[ActionItemWorkflow, FakePostmortem],
                      activities=telemetry.activities()):
        yield telemetry
        for workflow_id in telemetry.started:  # timers left running would all fire in a later test's skip
            with contextlib.suppress(Exception):
                await env.client.get_workflow_handle(workflow_id).terminate("test finished")


async def run_item(env: WorkflowEnvironment, telemetry: Telemetry, check: str,
                   window: timedelta) -> WorkflowHandle[ActionItemWorkflow, ActionItemState]:
    parent = f"pm-acme-{uuid.uuid4().hex[:6]}"
    await env.client.start_workflow(FakePostmortem.run, id=parent, task_queue=telemetry.queue)
    now = await env.get_current_time()
    spec = ActionItemSpec(title="Alert on checkout p99 latency", owner="olivia", due=now + timedelta(days=60),
                          type=ActionType.PREVENT, success_criterion="p99 below 800 ms for a day",
                          check=parse_check(check))
    handle = await env.client.start_workflow(
        ActionItemWorkflow.run,
        ActionItemInput(postmortem_id=parent, item_id="ai-1", spec=spec, org="acme",
                        rules=ActionItemRules(validation_window=window)),
        id=f"{parent}.ai-1", task_queue=telemetry.queue)
    telemetry.started += [parent, handle.id]
    await handle.execute_update(ActionItemWorkflow.complete, CompleteRequest(by="olivia", note="alert deployed"))
    return handle


DAY_CHECK = "prometheus expr=`max(checkout_latency_p99_seconds)` below=0.8 holds_for=24h interval=1m"


async def wait_status(env: WorkflowEnvironment, handle: WorkflowHandle[ActionItemWorkflow, ActionItemState],
                      status: str, limit: timedelta, step: timedelta = timedelta(hours=2)) -> ActionItemState:
    waited = timedelta(0)
    while True:
        state = await handle.query(ActionItemWorkflow.state)
        if state.status.value == status:
            return state
        if waited > limit:
            raise AssertionError(f"still {state.status.value} after {waited}: {state.history[-3:]}")
        await env.sleep(step)
        waited += step


async def test_a_fix_that_holds_for_a_day_validates_itself(env: WorkflowEnvironment, telemetry: Telemetry) -> None:
    handle = await run_item(env, telemetry, DAY_CHECK, timedelta(days=7))
    state = await wait_status(env, handle, "validated", timedelta(days=2))
    assert state.validated_by == "afterword check" and state.check is not None
    assert state.check.verdict == "passed" and "held for 24 h" in state.check.reason
    assert state.validation_evidence is not None and "(evidence eeeeeeeeeeee)" in state.validation_evidence
    assert len(telemetry.evidence) == 1 and telemetry.evidence[0].progress.verdict == "passed"
    assert 90 <= len(telemetry.requests) <= 110  # a wake every 15 minutes, each asking the range since the last
    spans = {r.end - r.start for r in telemetry.requests[1:-1]}
    assert spans == {timedelta(minutes=14)}  # 15 one-minute instants per wake, none asked twice
    assert not state.overdue and telemetry.notes == []


async def test_a_fix_that_regresses_again_and_again_reopens_with_its_samples(env: WorkflowEnvironment, telemetry: Telemetry) -> None:
    handle = await run_item(env, telemetry, DAY_CHECK, timedelta(days=3))
    started = await env.get_current_time()
    # latency climbs above 800 ms every 20 hours, for ten minutes: the day never holds
    telemetry.ok = lambda at: ((at - started) % timedelta(hours=20)) >= timedelta(minutes=10) or at < started
    state = await wait_status(env, handle, "open", timedelta(days=4))
    assert state.overdue and state.check is not None and state.check.verdict == "failed"
    assert state.check.failed_points >= 10 and state.check.failures[-1].value == "0.95"
    assert "check failed, reopened" in state.history[-1] and "0.95" in state.history[-1]
    owner = [n for n in telemetry.notes if n.to == ["olivia"] and n.kind == "escalation"]
    assert owner and "did not pass its check" in owner[0].subject and "0.95" in owner[0].body
    assert telemetry.evidence[-1].progress.verdict == "failed"
    assert telemetry.evidence[-1].progress.failed_answers  # the answers that showed the failures


async def test_a_thirty_day_window_continues_as_new_and_keeps_its_progress(env: WorkflowEnvironment, telemetry: Telemetry) -> None:
    check = "prometheus expr=`up` holds_for=7d interval=1h"
    handle = await run_item(env, telemetry, check, timedelta(days=30))
    started = await env.get_current_time()
    telemetry.ok = lambda at: ((at - started) % timedelta(days=5)) >= timedelta(hours=2)  # a week never holds
    state = await wait_status(env, handle, "open", timedelta(days=31), step=timedelta(days=1))
    assert state.check is not None and state.check.verdict == "failed"
    # it fails once the window can no longer fit a week (after about 23 days): more wakes than one run holds
    assert state.check.wakes > fix_checking.MAX_WAKES_PER_RUN, (state.check.wakes, state.check.reason)
    latest = env.client.get_workflow_handle(handle.id)
    assert (await latest.describe()).run_id != handle.first_execution_run_id  # it continued as new
    history = await latest.fetch_history()
    assert len(history.events) < 8000  # one run's history stays bounded


async def test_a_person_can_still_sign_off_while_the_check_runs(env: WorkflowEnvironment, telemetry: Telemetry) -> None:
    from afterword.workflows.models import ValidateRequest

    handle = await run_item(env, telemetry, DAY_CHECK, timedelta(days=7))
    await env.sleep(timedelta(hours=3))
    state = await handle.execute_update(ActionItemWorkflow.validate,
                                        ValidateRequest(by="rita", evidence="canary dashboard reviewed"))
    assert state.status.value == "validated" and state.validated_by == "rita"
    assert state.check is not None and state.check.verdict == "checking" and state.check.samples > 100


def test_the_wake_bound_is_what_the_workflow_uses() -> None:
    assert fix_checking.MAX_WAKES_PER_RUN == 500
