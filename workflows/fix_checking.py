"""The durable loop that checks a completed fix: ActionItemWorkflow runs it for an item whose success
criterion carries an automatic check.

It wakes on the check's grid (a durable timer each time), asks the `sample_check` activity for the points
since the last one it saw (retried while Prometheus is away: the next wake reads the missed instants
from Prometheus's history), folds them into the item's `CheckProgress`, and decides: passed validates the
item; a window that can no longer fit a pass reopens it with the samples that failed, tells the owner
and marks it overdue. The sample set that decided is stored as evidence either way. The progress rides
along in the item's state, so continue-as-new (every MAX_WAKES_PER_RUN wakes, or when Temporal suggests
it) keeps a 30-day window's history bounded.
"""

# No `from __future__ import annotations`: the sandbox re-imports workflow modules for every run.
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Literal, Protocol

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from afterword.activities.fix_validation import CheckEvidenceRequest, ValidationActivities
    from afterword.gates.check_syntax import format_check
    from afterword.workflows.deadlines import wait_until
    from afterword.workflows.fix_checks import (
        AutomaticCheck,
        CheckProgress,
        SampleRequest,
        advance,
        backfills,
        can_still_pass,
        fail,
        grid_floor,
        wake_every,
    )
    from afterword.workflows.models import ActionItemInput, ActionItemState, ActionItemStatus

# Sample instants trail the clock so that the scrape at the instant has reached Prometheus.
LAG = timedelta(seconds=2)
MAX_RANGE_POINTS = 10_000  # below Prometheus's 11,000 points per query_range
MAX_WAKES_PER_RUN = 500  # then continue-as-new: ~6,000 history events per run
REPORT_EVERY = 4  # wakes between reports to the postmortem while nothing fails (status queries the item live)
# A flaky Prometheus: retried within the wake; a wake whose sampling still fails is counted and the next
# wake asks for the missed instants again.
SAMPLE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                           maximum_interval=timedelta(seconds=30))
EVIDENCE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1),
                             maximum_attempts=10)
CHECKER = "afterword check"


class CheckHost(Protocol):
    """What the loop needs of the item's workflow."""

    inp: ActionItemInput
    item: ActionItemState
    wakes_this_run: int

    def _note(self, text: str) -> None: ...
    def _changed(self) -> None: ...
    def _notify(self, kind: Literal["reminder", "escalation", "info"], to: list[str], subject: str,
                body: str = "") -> Awaitable[None]: ...


def first_progress(item: ActionItemState, check: AutomaticCheck) -> CheckProgress:
    assert item.completed_at is not None and item.validation_due is not None
    start = grid_floor(item.completed_at, check.interval)
    return CheckProgress(started_at=item.completed_at, window_end=item.validation_due, covered_until=start)


def _sample_range(p: CheckProgress, check: AutomaticCheck, now: datetime) -> tuple[datetime, datetime] | None:
    """The instants to ask for now: after the last one seen, up to the newest settled grid instant."""
    end = grid_floor(now - LAG if backfills(check) else now, check.interval)
    end = min(end, grid_floor(p.window_end, check.interval))
    covered = p.covered_until or grid_floor(p.started_at, check.interval)
    if end <= covered:
        return None
    start = covered + check.interval if backfills(check) else end
    start = max(start, end - check.interval * (MAX_RANGE_POINTS - 1))
    return start, end


async def check_fix(host: CheckHost, check: AutomaticCheck, left_completed: Callable[[], bool]) -> None:
    """Check until the verdict, a person's step (validate, drop) or a continue-as-new is due."""
    item = host.item
    if item.check is None:
        item.check = first_progress(item, check)
        host._note(f"checking: {format_check(check)}")
        host._changed()
    wake = wake_every(check)
    since_report = 0
    while item.check.verdict == "checking":
        if host.wakes_this_run >= MAX_WAKES_PER_RUN or workflow.info().is_continue_as_new_suggested():
            return
        now = workflow.now()
        next_wake = min(grid_floor(now, wake) + wake + (LAG if backfills(check) else timedelta(0)),
                        item.check.window_end)
        if await wait_until(next_wake, left_completed):
            return  # a person validated, failed or dropped it meanwhile
        host.wakes_this_run += 1
        progress = item.check
        failures_before = progress.failed_points
        span = _sample_range(progress, check, workflow.now())
        if span is not None:
            request = SampleRequest(org=host.inp.org, postmortem_id=host.inp.postmortem_id, item_id=item.item_id,
                                    check=check, start=span[0], end=span[1])
            try:
                batch = await workflow.execute_activity_method(
                    ValidationActivities.sample_check, request,
                    start_to_close_timeout=timedelta(minutes=1),
                    schedule_to_close_timeout=max(wake, timedelta(minutes=1)),
                    retry_policy=SAMPLE_RETRY,
                )
                progress = advance(progress, check, batch)
            except ActivityError as err:
                progress = progress.model_copy(update={"unavailable": progress.unavailable + 1,
                                                       "last_source": str(err.cause or err)[:200]})
        if left_completed():
            return
        if progress.verdict == "checking" and not can_still_pass(progress, check, workflow.now()):
            progress = fail(progress, check, workflow.now())
        item.check = progress
        since_report += 1
        if progress.verdict != "checking":
            break
        if progress.failed_points > failures_before or since_report >= REPORT_EVERY or progress.samples <= 1:
            since_report = 0
            host._changed()
    await _decide(host, check)


async def _decide(host: CheckHost, check: AutomaticCheck) -> None:
    item = host.item
    assert item.check is not None
    progress = item.check
    try:
        stored = await workflow.execute_activity_method(
            ValidationActivities.record_check_evidence,
            CheckEvidenceRequest(postmortem_id=host.inp.postmortem_id, item_id=item.item_id, check=check,
                                 progress=progress),
            start_to_close_timeout=timedelta(minutes=2), retry_policy=EVIDENCE_RETRY,
        )
        item.check = progress.model_copy(update={"evidence_ref": stored.record_ref})
        where = f" (evidence {stored.record_ref[:12]})"
    except ActivityError as err:
        host._note(f"the check's evidence was not stored: {err.cause or err}")
        where = ""
    if progress.verdict == "passed":
        item.status = ActionItemStatus.VALIDATED
        item.validated_at = workflow.now()
        item.validated_by = CHECKER
        item.validation_evidence = f"{format_check(check)}: {progress.reason}{where}"
        item.overdue = False
        host._note(f"validated by its check: {progress.reason}{where}")
        host._changed()
        return
    failed = "; ".join(f"{p.at:%Y-%m-%d %H:%M:%S} {p.value}" for p in progress.failures[-5:])
    item.status = ActionItemStatus.OPEN
    item.completed_at = None
    item.validation_due = None
    item.overdue = True
    item.escalations += 1
    host._note(f"check failed, reopened: {progress.reason}{where}" + (f"; failed samples: {failed}" if failed else ""))
    host._changed()
    await host._notify(
        "escalation", [item.spec.owner],
        f"Fix did not pass its check, item reopened: {item.spec.title}",
        f"{format_check(check)}\n{progress.reason}\nFailed samples (newest last): {failed or 'none'}{where}",
    )
