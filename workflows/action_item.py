"""ActionItemWorkflow: one action item, as a child of its postmortem.

open --complete--> completed --validate(passed)--> validated
  |                    |--validate(failed)--> open (the fix did not work)
  +----drop(reason)----+--> dropped

While open, the owner is reminded before the due date, escalated once when it passes, and reminded at
the policy's review interval until the item is done (the weekly review of open items). A completed
item must be validated within the policy's window. Long-lived items continue-as-new to keep history
short; every change is signalled to the postmortem, which mirrors it in its status.
"""

# No `from __future__ import annotations` here: the sandbox re-imports this module for every workflow run,
# and string annotations would then be compiled again each time the SDK reads the type hints.
import asyncio
from datetime import datetime, timedelta
from typing import Literal

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from afterword.gates.outbound import redact_model
    from afterword.workflows import search_attributes as sa
    from afterword.workflows.deadlines import run_clock, wait_until
    from afterword.workflows.fix_checking import MAX_WAKES_PER_RUN, check_fix
    from afterword.workflows.fix_checks import ManualCheck, is_automatic
    from afterword.workflows.models import (
        ActionItemInput,
        ActionItemState,
        ActionItemStatus,
        CompleteRequest,
        DropRequest,
        Notification,
        ValidateRequest,
    )

NOTIFY_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))
MIN_DROP_REASON = 10


def _rejected(reason: str) -> ApplicationError:
    return ApplicationError(reason, type="Rejected", non_retryable=True)


@workflow.defn
class ActionItemWorkflow:
    @workflow.init
    def __init__(self, inp: ActionItemInput) -> None:
        self.inp = inp
        self.item = inp.state or ActionItemState(
            item_id=inp.item_id, workflow_id=workflow.info().workflow_id, spec=inp.spec
        )
        # what the start set (by the postmortem, or inherited across continue-as-new)
        started_with = workflow.info().typed_search_attributes
        self.published_attributes: tuple[str | None, bool | None] = (
            started_with.get(sa.STATE), started_with.get(sa.OVERDUE)
        )
        self.reports: set[asyncio.Task[None]] = set()
        self.wakes_this_run = 0  # an automatic check's wake-ups in this run (continue-as-new bounds them)

    @property
    def status(self) -> ActionItemStatus:
        return self.item.status

    def _note(self, text: str) -> None:
        self.item.history.append(f"{workflow.now().isoformat()} {text}")

    def _changed(self) -> None:
        """Publish a change: search attributes, and a report to the postmortem (sent, not awaited, so a
        person's update returns at once; each report carries a revision so a late one cannot undo a newer)."""
        self.item.revision += 1
        attributes = (self.item.status.value, self.item.overdue)
        if attributes != self.published_attributes:  # each upsert is a history event: skip no-ops
            self.published_attributes = attributes
            workflow.upsert_search_attributes(
                [
                    sa.STATE.value_set(self.item.status.value),
                    sa.OWNER.value_set(self.item.spec.owner),
                    sa.OVERDUE.value_set(self.item.overdue),
                    sa.KIND.value_set("action_item"),
                ]
            )
        task = asyncio.create_task(self._report(self.item.model_copy(deep=True)))
        self.reports.add(task)
        task.add_done_callback(self.reports.discard)

    async def _report(self, snapshot: ActionItemState) -> None:
        parent = workflow.get_external_workflow_handle(self.inp.postmortem_id)
        try:
            await parent.signal("item_changed", snapshot)
        except ApplicationError:  # the postmortem is gone (waived and closed): the item stands alone
            workflow.logger.warning("postmortem %s did not take the update", self.inp.postmortem_id)

    async def _notify(
        self, kind: Literal["reminder", "escalation", "info"], to: list[str], subject: str, body: str = ""
    ) -> None:
        note = Notification(
            postmortem_id=self.inp.postmortem_id, kind=kind, to=sorted(set(to)), subject=subject,
            body=f"Action item {self.item.item_id} of {self.inp.postmortem_id}: {self.item.spec.title}\n"
            f"Success criterion: {self.item.spec.success_criterion}" + (f"\n{body}" if body else ""),
            at=workflow.now(), deadline=self.item.item_id,
        )
        try:
            await workflow.execute_activity(
                "notify", note, start_to_close_timeout=timedelta(minutes=2), retry_policy=NOTIFY_RETRY
            )
        except ActivityError as err:
            self._note(f"notification failed: {err.cause or err}")

    @workflow.run
    async def run(self, inp: ActionItemInput) -> ActionItemState:
        if inp.state is None:  # the parent started it with its search attributes and knows its state
            self._note(f"opened for {inp.spec.owner}, due {inp.spec.due.isoformat()}")
        while not self.item.finished:
            if self.status is ActionItemStatus.OPEN:
                await self._while_open()
            elif self.status is ActionItemStatus.COMPLETED:
                await self._while_completed()
            if self._should_continue_as_new():
                await workflow.wait_condition(lambda: workflow.all_handlers_finished() and not self.reports)
                workflow.continue_as_new(inp.model_copy(update={"state": self.item}))
        await workflow.wait_condition(lambda: workflow.all_handlers_finished() and not self.reports)
        return self.item

    def _should_continue_as_new(self) -> bool:
        return not self.item.finished and (
            workflow.info().is_continue_as_new_suggested() or self.wakes_this_run >= MAX_WAKES_PER_RUN
        )

    async def _while_open(self) -> None:
        spec, rules = self.item.spec, self.inp.rules

        def left_open() -> bool:
            return self.status is not ActionItemStatus.OPEN

        async def remind(due: datetime) -> None:
            self.item.reminders_sent += 1
            await self._notify("reminder", [spec.owner], f"Action item due {due.date().isoformat()}: {spec.title}")
            self._changed()

        async def breach() -> None:
            self.item.overdue = True
            self.item.escalations += 1
            self._note("overdue: escalated")
            self._changed()
            await self._notify(
                "escalation",
                [spec.owner, *rules.escalate_to, *self.inp.escalation],
                f"OVERDUE action item: {spec.title}",
            )

        if not self.item.overdue and workflow.now() < spec.due:
            if await run_clock(spec.due, rules.reminders, left_open, remind, breach):
                return
        elif not self.item.overdue:
            await breach()
        # past due: the open item comes up at every review until someone finishes or drops it
        while not left_open() and not self._should_continue_as_new():
            if not await wait_until(workflow.now() + rules.review_every, left_open):
                self.item.reminders_sent += 1
                await self._notify("reminder", [spec.owner], f"Review: action item still open: {spec.title}")
                self._changed()

    async def _while_completed(self) -> None:
        assert self.item.validation_due is not None

        def left_completed() -> bool:
            return self.status is not ActionItemStatus.COMPLETED

        check = self.item.spec.check
        if is_automatic(check) and workflow.patched("fix-checks"):
            assert check is not None and not isinstance(check, ManualCheck)
            await check_fix(self, check, left_completed)
            return

        if await wait_until(self.item.validation_due, left_completed):
            return
        self.item.escalations += 1
        self._note("validation window passed: escalated")
        self._changed()
        await self._notify(
            "escalation", [self.item.spec.owner, *self.inp.rules.escalate_to, *self.inp.escalation],
            f"Fix not validated within its window: {self.item.spec.title}",
        )
        await workflow.wait_condition(lambda: left_completed() or self._should_continue_as_new())

    # ------------------------------------------------------------------ updates

    @workflow.update
    async def complete(self, req: CompleteRequest) -> ActionItemState:
        now = workflow.now()
        self.item.status = ActionItemStatus.COMPLETED
        self.item.completed_at = now
        self.item.completed_by = req.by
        self.item.validation_due = now + self.inp.rules.validation_window
        self.item.check = None  # completed again after a failed check: a fresh window, a fresh check
        self._note(f"completed by {req.by}{': ' + req.note if req.note else ''}")
        self._changed()
        return self.item

    @complete.validator
    def _validate_complete(self, req: CompleteRequest) -> None:
        if self.status is not ActionItemStatus.OPEN:
            raise _rejected(f"{self.item.item_id} is {self.status.value}; only an open item can be completed")

    @workflow.update
    async def validate(self, req: ValidateRequest) -> ActionItemState:
        if req.passed:
            self.item.status = ActionItemStatus.VALIDATED
            self.item.validated_at = workflow.now()
            self.item.validated_by = req.by
            self.item.validation_evidence = req.evidence
            self._note(f"validated by {req.by}: {req.evidence}")
        else:
            self.item.status = ActionItemStatus.OPEN
            self.item.completed_at = None
            self.item.validation_due = None
            self._note(f"validation failed ({req.by}): {req.evidence}; reopened")
        self._changed()
        return self.item

    @validate.validator
    def _validate_validate(self, req: ValidateRequest) -> None:
        if self.status is not ActionItemStatus.COMPLETED:
            raise _rejected(
                f"{self.item.item_id} is {self.status.value}; a fix is validated after it is completed"
            )
        if req.by == self.item.completed_by:
            raise _rejected(
                f"{req.by!r} completed this item; validation must come from someone else"
            )

    @workflow.update
    async def drop(self, req: DropRequest) -> ActionItemState:
        self.item.status = ActionItemStatus.DROPPED
        self.item.dropped_reason = req.reason
        self._note(f"dropped by {req.by}: {req.reason}")
        self._changed()
        return self.item

    @drop.validator
    def _validate_drop(self, req: DropRequest) -> None:
        if self.item.finished:
            raise _rejected(f"{self.item.item_id} is already {self.status.value}")
        if len(req.reason.strip()) < MIN_DROP_REASON:
            raise _rejected(f"dropping an action item needs a reason of at least {MIN_DROP_REASON} characters")

    @workflow.query
    def state(self) -> ActionItemState:
        """The item as clients print it: secrets in its texts redacted (the shipped defaults: the item's input
        carries its own rules, not the postmortem's whole policy)."""
        return redact_model(self.item)
