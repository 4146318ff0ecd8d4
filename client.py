"""The typed client facade: open a postmortem, take human steps, read status, list.

Everything a program, the CLI or the intake does to a postmortem goes through `Postmortems`, which
turns Temporal's errors into three the callers act on: `Rejected` (the process said no, with the
reason), `NotFound` and `Unavailable` (Temporal cannot be reached: retry later).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from afterword.gates.outbound import redact_text
from afterword.settings import Settings
from afterword.workflows import search_attributes as sa
from afterword.workflows.action_item import ActionItemWorkflow
from afterword.workflows.identity import postmortem_id
from afterword.workflows.models import (
    ActionItemState,
    Actor,
    AddActionRequest,
    ApproveRequest,
    AssignRequest,
    ChangesRequest,
    CompleteRequest,
    DraftSubmission,
    DropRequest,
    EvidenceAttachment,
    EvidenceSummary,
    Incident,
    PostmortemInput,
    PostmortemRules,
    PostmortemStatus,
    Progress,
    ReapplyRequest,
    ResolveRequest,
    SignoffRequest,
    TimelineEdit,
    UpdateResult,
    ValidateRequest,
    WaiveRequest,
)
from afterword.workflows.postmortem import PostmortemWorkflow

T = TypeVar("T", bound=BaseModel)
R = TypeVar("R")


class Rejected(Exception):
    """The lifecycle or the policy refused the step; the message says why and what to do."""


class NotFound(Exception):
    pass


class Unavailable(Exception):
    """Temporal could not be reached or did not answer; nothing was changed, try again."""


class NotReady(Unavailable):
    """The postmortem exists but has not run its first steps yet (storm pacing deferred them), so it cannot
    answer a query; it can from `ready_at` on. Signals and updates sent meanwhile are kept and applied then."""

    def __init__(self, message: str, ready_at: datetime | None = None) -> None:
        super().__init__(message)
        self.ready_at = ready_at


@dataclass(frozen=True)
class Opened:
    workflow_id: str
    created: bool


@dataclass(frozen=True)
class Listed:
    workflow_id: str
    kind: str
    state: str
    severity: str
    service: str
    owner: str
    overdue: bool
    started: datetime | None
    running: bool


# Only these say the request itself is wrong; any other status (INTERNAL, UNKNOWN, PERMISSION_DENIED, ...)
# may pass, so callers retry: the intake answers 503, not 400, and the sender keeps the alert.
_TRANSPORT = (RPCError, OSError, RuntimeError)  # RuntimeError: a lazy client that cannot connect
_REFUSED = {RPCStatusCode.INVALID_ARGUMENT, RPCStatusCode.OUT_OF_RANGE, RPCStatusCode.ALREADY_EXISTS}


def _not_ready(err: RPCError) -> bool:
    # a query to a workflow whose first workflow task is still delayed (start_delay)
    return err.status == RPCStatusCode.FAILED_PRECONDITION and any(
        detail.type_url.endswith("WorkflowNotReadyFailure") for detail in err.grpc_status.details
    )


def _translate(err: BaseException, workflow_id: str) -> Exception:
    if isinstance(err, WorkflowUpdateFailedError):
        cause = err.cause
        if isinstance(cause, ApplicationError):
            return Rejected(cause.message)
        return Rejected(str(cause))
    if isinstance(err, RPCError):
        if err.status == RPCStatusCode.NOT_FOUND:
            return NotFound(f"no postmortem or action item {workflow_id!r}")
        if err.status == RPCStatusCode.FAILED_PRECONDITION:
            return Rejected(f"{workflow_id} is no longer running: {err.message}")
        if err.status in _REFUSED:
            return Rejected(err.message)
        return Unavailable(f"Temporal did not take it ({err.status.name}): {err.message}")
    if isinstance(err, WorkflowUpdateRPCTimeoutOrCancelledError):
        return Unavailable(f"Temporal did not confirm the update of {workflow_id} in time; it may still apply")
    if isinstance(err, OSError | RuntimeError):  # a lazy client that cannot connect raises RuntimeError
        return Unavailable(str(err))
    return Rejected(str(err))


class Postmortems:
    def __init__(self, client: Client, settings: Settings) -> None:
        self.client = client
        self.settings = settings

    # ------------------------------------------------------------------ start

    async def open(
        self,
        incident: Incident,
        rules: PostmortemRules,
        opened_by: str = "afterword",
        start_delay: timedelta | None = None,
        alert_payload: bytes | None = None,
    ) -> Opened:
        """Start the incident's postmortem, or find the one already running or finished for it (idempotent).

        A finished postmortem (closed, waived) is found, not started again under the same id while the
        namespace retains it: a recurrence is a new episode with a key of its own (the intake's `#2`).

        `start_delay` postpones the new postmortem's first steps (the trigger-time evidence capture), not
        its existence: it is durable, listed and signalled at once. The intake uses it to spread a storm
        of new incidents; an existing postmortem is found as always, undelayed.

        `alert_payload`, the raw bytes whose sha256 is `incident.payload_ref`, travels with the start
        (keep it small: it is part of the workflow's history); the trigger-time capture stores it.
        """
        workflow_id = postmortem_id(incident.org, incident.key)
        try:
            handle = await self.client.start_workflow(
                PostmortemWorkflow.run,
                PostmortemInput(incident=incident, rules=rules, opened_by=opened_by, alert_payload=alert_payload),
                id=workflow_id,
                task_queue=self.settings.task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                search_attributes=sa_initial(incident, rules),
                start_delay=start_delay if start_delay and start_delay > timedelta(0) else None,
            )
        except WorkflowAlreadyStartedError:  # it ran and finished: the id stays its own
            return Opened(workflow_id=workflow_id, created=False)
        except (RPCError, OSError, RuntimeError) as err:
            raise _translate(err, workflow_id) from err
        response = getattr(handle, "_start_workflow_response", None)
        created = bool(getattr(response, "started", True))
        return Opened(workflow_id=workflow_id, created=created)

    # ------------------------------------------------------------------ read

    def handle(self, workflow_id: str) -> WorkflowHandle[Any, Any]:
        return self.client.get_workflow_handle(workflow_id)

    async def status(self, workflow_id: str) -> PostmortemStatus:
        try:
            return await self.handle(workflow_id).query(PostmortemWorkflow.status)
        except RPCError as err:
            if _not_ready(err):
                raise await self._not_ready_yet(workflow_id) from err
            raise _translate(err, workflow_id) from err
        except (OSError, RuntimeError) as err:
            raise _translate(err, workflow_id) from err

    async def progress(self, workflow_id: str) -> Progress:
        """Where the postmortem is now, cheaply (for polling)."""
        try:
            return await self.handle(workflow_id).query(PostmortemWorkflow.progress)
        except RPCError as err:
            if _not_ready(err):
                raise await self._not_ready_yet(workflow_id) from err
            raise _translate(err, workflow_id) from err
        except (OSError, RuntimeError) as err:
            raise _translate(err, workflow_id) from err

    async def _not_ready_yet(self, workflow_id: str) -> NotReady:
        """Say when a paced postmortem's first steps are due (its execution time), if Temporal tells."""
        ready_at: datetime | None = None
        with contextlib.suppress(RPCError, OSError, RuntimeError):
            ready_at = (await self.handle(workflow_id).describe()).execution_time
        when = f" at {ready_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC" if ready_at else " shortly"
        return NotReady(
            f"{workflow_id} exists but has not run its first steps yet (storm pacing deferred them); "
            f"they start{when}, and its status is available from then on",
            ready_at,
        )

    async def action_state(self, action_workflow_id: str) -> ActionItemState:
        try:
            return await self.handle(action_workflow_id).query(ActionItemWorkflow.state)
        except (RPCError, OSError, RuntimeError) as err:
            raise _translate(err, action_workflow_id) from err

    async def list(self, query: str | None = None, limit: int = 200) -> list[Listed]:
        base = f"{sa.KIND.name} = 'postmortem'"
        full = f"{base} AND ({query})" if query else base
        rows: list[Listed] = []
        try:
            async for wf in self.client.list_workflows(full, limit=limit):
                attrs = wf.typed_search_attributes
                rows.append(
                    Listed(
                        workflow_id=wf.id,
                        kind=attrs.get(sa.KIND) or "",
                        state=attrs.get(sa.STATE) or "",
                        severity=attrs.get(sa.SEVERITY) or "",
                        service=attrs.get(sa.SERVICE) or "",
                        owner=attrs.get(sa.OWNER) or "",
                        overdue=bool(attrs.get(sa.OVERDUE)),
                        started=wf.start_time,
                        running=wf.status == WorkflowExecutionStatus.RUNNING,
                    )
                )
        except (RPCError, OSError, RuntimeError) as err:
            if isinstance(err, RPCError) and err.status == RPCStatusCode.INVALID_ARGUMENT:
                raise Rejected(f"the list query is not valid: {err.message}") from err
            raise _translate(err, "list") from err
        return rows

    # ------------------------------------------------------------------ human steps

    async def _update(self, workflow_id: str, name: str, arg: BaseModel, result_type: type[T]) -> T:
        handle = self.handle(workflow_id)
        return await self._settle(handle, handle.execute_update(name, arg, result_type=result_type))

    async def _settle(self, handle: WorkflowHandle[Any, Any], update: Awaitable[R]) -> R:
        """The update's result, or its failure as Rejected / NotFound / Unavailable."""
        try:
            return await update
        except (WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError, *_TRANSPORT) as err:
            if isinstance(err, RPCError) and err.status == RPCStatusCode.NOT_FOUND:
                await self._raise_if_finished(handle)
            raise _translate(err, handle.id) from err

    async def _raise_if_finished(self, handle: WorkflowHandle[Any, Any]) -> None:
        """An update to a finished workflow reads as 'not found'; say what really happened."""
        try:
            described = await handle.describe()
        except RPCError:
            return
        if described.status is not None and described.status != WorkflowExecutionStatus.RUNNING:
            raise Rejected(f"{handle.id} has finished ({described.status.name.lower()}); nothing more can change")

    async def resolve(self, workflow_id: str, req: ResolveRequest) -> UpdateResult:
        return await self._update(workflow_id, "resolve", req, UpdateResult)

    async def record_resolution(self, workflow_id: str, req: ResolveRequest) -> None:
        """Resolve without waiting for a worker (a signal, durable once Temporal has it): for alert
        systems, which only need to know the resolution is recorded. Idempotent like `resolve`."""
        try:
            await self.handle(workflow_id).signal("resolved", req)
        except (RPCError, OSError, RuntimeError) as err:
            if isinstance(err, RPCError) and err.status == RPCStatusCode.NOT_FOUND:
                await self._raise_if_finished(self.handle(workflow_id))
            raise _translate(err, workflow_id) from err

    async def reopen(self, workflow_id: str, req: Actor) -> UpdateResult:
        return await self._update(workflow_id, "reopen", req, UpdateResult)

    async def assign(self, workflow_id: str, req: AssignRequest) -> UpdateResult:
        return await self._update(workflow_id, "assign", req, UpdateResult)

    async def submit_draft(self, workflow_id: str, req: DraftSubmission) -> UpdateResult:
        return await self._update(workflow_id, "submit_draft", req, UpdateResult)

    async def approve(self, workflow_id: str, req: ApproveRequest) -> UpdateResult:
        return await self._update(workflow_id, "approve", req, UpdateResult)

    async def request_changes(self, workflow_id: str, req: ChangesRequest) -> UpdateResult:
        return await self._update(workflow_id, "request_changes", req, UpdateResult)

    async def accept_redaction(self, workflow_id: str, req: Actor) -> UpdateResult:
        return await self._update(workflow_id, "accept_redaction", req, UpdateResult)

    async def sign_off(self, workflow_id: str, req: SignoffRequest) -> UpdateResult:
        return await self._update(workflow_id, "sign_off", req, UpdateResult)

    async def waive(self, workflow_id: str, req: WaiveRequest) -> UpdateResult:
        return await self._update(workflow_id, "waive", req, UpdateResult)

    async def add_action(self, workflow_id: str, req: AddActionRequest) -> UpdateResult:
        return await self._update(workflow_id, "add_action", req, UpdateResult)

    async def edit_timeline(self, workflow_id: str, req: TimelineEdit) -> UpdateResult:
        return await self._update(workflow_id, "edit_timeline", req, UpdateResult)

    async def reapply_policy(self, workflow_id: str, req: ReapplyRequest) -> UpdateResult:
        return await self._update(workflow_id, "reapply_policy", req, UpdateResult)

    async def add_evidence(self, workflow_id: str, req: EvidenceAttachment) -> EvidenceSummary:
        """Attach a person's file (it travels in the update); returns the manifest version that holds it."""
        handle = self.handle(workflow_id)
        return await self._settle(handle, handle.execute_update(PostmortemWorkflow.add_evidence, req))

    def action_workflow_id(self, workflow_id: str, item: str) -> str:
        """`ai-2` or `2` of a postmortem -> the action item's workflow id (full ids pass through)."""
        if "." in item:
            return item
        number = item.removeprefix("ai-")
        return f"{workflow_id}.ai-{number}"

    async def complete_action(self, action_id: str, req: CompleteRequest) -> ActionItemState:
        return await self._update(action_id, "complete", req, ActionItemState)

    async def validate_action(self, action_id: str, req: ValidateRequest) -> ActionItemState:
        return await self._update(action_id, "validate", req, ActionItemState)

    async def drop_action(self, action_id: str, req: DropRequest) -> ActionItemState:
        return await self._update(action_id, "drop", req, ActionItemState)

    async def wait_for_state(self, workflow_id: str, states: set[str], within: float = 30.0) -> Progress:
        """Poll until the postmortem reaches one of `states` (cheap: the progress query)."""
        return await _poll(
            lambda: self.progress(workflow_id),
            lambda p: p.state in states,
            within,
            lambda p: f"{workflow_id} is {p.state}, not {sorted(states)} after {within:.0f}s",
        )

    async def wait_until(
        self, workflow_id: str, check: Callable[[PostmortemStatus], object], what: str, within: float = 60.0
    ) -> PostmortemStatus:
        """Poll the full status until `check` holds: workflows move on by themselves between people's steps."""
        return await _poll(
            lambda: self.status(workflow_id),
            check,
            within,
            lambda s: f"{workflow_id} did not reach {what} within {within:.0f}s "
            f"(it is {s.state}; open gates: {', '.join(s.open_gates) or 'none'})",
        )


async def _poll(
    fetch: Callable[[], Awaitable[R]],
    check: Callable[[R], object],
    within: float,
    describe: Callable[[R], str],
    every: float = 0.1,
) -> R:
    loop = asyncio.get_running_loop()
    end = loop.time() + within
    while True:
        current = await fetch()
        if check(current):
            return current
        if loop.time() > end:
            raise TimeoutError(describe(current))
        await asyncio.sleep(every)


def sa_initial(incident: Incident, rules: PostmortemRules) -> TypedSearchAttributes:
    """The start's search attributes. The payload codec does not encrypt search attributes (the server
    indexes them), so the text a sender chose is redacted first."""
    return TypedSearchAttributes(
        [
            SearchAttributePair(sa.KIND, "postmortem"),
            SearchAttributePair(sa.STATE, "triggered"),
            SearchAttributePair(sa.SEVERITY, redact_text(rules.severity, rules.policy)),
            SearchAttributePair(sa.SERVICE, redact_text(incident.service, rules.policy)),
            SearchAttributePair(sa.ORG, redact_text(incident.org, rules.policy)),
            SearchAttributePair(sa.OWNER, ""),
            SearchAttributePair(sa.OVERDUE, False),
        ]
    )

