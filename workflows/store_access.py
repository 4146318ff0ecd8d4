"""StoreAccessWorkflow: one request to the worker's stores from a client that cannot reach them.

The CLI runs anywhere that reaches Temporal; drafts and evidence live on the worker's disk. To read or
administer them, the client starts one short workflow on the worker's task queue with one request
(workflows/store_requests.py); it runs the matching activity and returns its answer. A refusal (an
unknown postmortem, purged evidence...) is an answer too, so the run completes and the client says why.
Unlike an update on the postmortem itself, this works for finished postmortems as well: a legal hold or
an export is most often asked for long after a postmortem closed.
"""

# No `from __future__ import annotations`: the sandbox re-imports this module for every run (see postmortem.py).
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar, assert_never

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from afterword.activities.store_activities import StoreActivities
    from afterword.workflows.store_requests import (
        REFUSED,
        BuildTimeline,
        HoldEvidence,
        ListEvidence,
        PlanExport,
        PurgeEvidence,
        ReadChunk,
        RecordExport,
        ShowEvidence,
        StoreAnswer,
        StoreCall,
        StoreRequest,
        StoreResult,
        VerifyEvidence,
    )

QUICK = timedelta(minutes=1)
# verify, export planning and purge hash or delete whole evidence sets; they heartbeat while they work
LONG = timedelta(minutes=30)
HEARTBEAT = timedelta(seconds=30)
R = TypeVar("R")
A = TypeVar("A")
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=10), maximum_attempts=3)


@workflow.defn
class StoreAccessWorkflow:
    @workflow.run
    async def run(self, call: StoreCall) -> StoreAnswer:
        try:
            return StoreAnswer(result=await self._serve(call.request))
        except ActivityError as err:
            cause = err.cause
            if isinstance(cause, ApplicationError) and cause.type == REFUSED:
                return StoreAnswer(refused=cause.message)
            raise

    async def _serve(self, req: StoreRequest) -> StoreResult:
        match req:
            case ReadChunk():
                return await _quick(StoreActivities.read_chunk, req)
            case ListEvidence():
                return await _quick(StoreActivities.list_evidence, req)
            case ShowEvidence():
                return await _quick(StoreActivities.show_evidence, req)
            case BuildTimeline():
                return await _quick(StoreActivities.evidence_timeline, req)
            case HoldEvidence():
                return await _quick(StoreActivities.hold_evidence, req)
            case RecordExport():
                return await _quick(StoreActivities.record_export, req)
            case VerifyEvidence():
                return await _long(StoreActivities.verify_evidence, req)
            case PlanExport():
                return await _long(StoreActivities.plan_export, req)
            case PurgeEvidence():
                return await _long(StoreActivities.purge_evidence, req)
            case _:
                assert_never(req)


async def _quick(method: Callable[[StoreActivities, R], Awaitable[A]], req: R) -> A:
    return await workflow.execute_activity_method(method, req, start_to_close_timeout=QUICK, retry_policy=RETRY)


async def _long(method: Callable[[StoreActivities, R], Awaitable[A]], req: R) -> A:
    return await workflow.execute_activity_method(
        method, req, start_to_close_timeout=LONG, heartbeat_timeout=HEARTBEAT, retry_policy=RETRY
    )
