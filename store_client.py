"""The worker's stores (drafts, evidence, custody) from anywhere that reaches Temporal.

Each call starts one StoreAccessWorkflow on the worker's task queue and waits for its answer, so the
caller needs no access to the worker's disk. Reads come in slices of at most MAX_CHUNK_BYTES (each one
a run of its own), which is how an evidence item of any size, or a whole export, reaches the caller.
Failures arrive as the client facade's errors: `Rejected` (the stores said no, and why), `Unavailable`.
"""

from __future__ import annotations

import io
import uuid
from datetime import timedelta
from typing import Literal, Protocol, TypeVar

from temporalio.client import Client, WorkflowFailureError
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import TimeoutError as TemporalTimeoutError
from temporalio.service import RPCError

from afterword.client import Rejected, Unavailable
from afterword.settings import Settings
from afterword.workflows import search_attributes as sa
from afterword.workflows.store_access import StoreAccessWorkflow
from afterword.workflows.store_requests import (
    MAX_CHUNK_BYTES,
    Chunk,
    PlanExport,
    PurgeEvidence,
    ReadChunk,
    StoreCall,
    StoreRequest,
    VerifyEvidence,
)

A = TypeVar("A")


class Sink(Protocol):
    """Where a read goes: a file opened for binary writing, stdout's buffer, a BytesIO."""

    def write(self, data: bytes, /) -> object: ...

# How long a caller waits for its answer, worker included: a read is quick; verify, export planning and
# purge hash or delete whole evidence sets. A run that no worker takes times out, and says so.
QUICK_RUN = timedelta(minutes=1)
LONG_RUN = timedelta(minutes=35)
KIND = "store_access"


class WorkerStores:
    def __init__(self, client: Client, settings: Settings) -> None:
        self.client = client
        self.settings = settings

    async def call(self, request: StoreRequest, answer: type[A]) -> A:
        """Run `request` on a worker; its answer, which must be of type `answer`."""
        call = StoreCall(request=request)
        long = isinstance(call.request, VerifyEvidence | PlanExport | PurgeEvidence)
        timeout = LONG_RUN if long else QUICK_RUN
        subject = getattr(call.request, "postmortem_id", None) or "afterword"
        try:
            outcome = await self.client.execute_workflow(
                StoreAccessWorkflow.run,
                call,
                id=f"{subject}.store-{call.request.op}-{uuid.uuid4().hex[:12]}",
                task_queue=self.settings.task_queue,
                execution_timeout=timeout,
                search_attributes=TypedSearchAttributes([SearchAttributePair(sa.KIND, KIND)]),
            )
        except WorkflowFailureError as err:
            if isinstance(err.cause, TemporalTimeoutError):
                raise Unavailable(
                    f"no worker answered within {timeout.total_seconds():.0f} s: is a worker serving task queue "
                    f"{self.settings.task_queue!r} (AFTERWORD_TASK_QUEUE) on this Temporal?"
                ) from err
            cause: BaseException = err
            while cause.__cause__ is not None:  # the workflow's failure wraps the activity's, which says why
                cause = cause.__cause__
            raise Unavailable(f"the worker could not answer: {cause}") from err
        except (RPCError, OSError, RuntimeError) as err:
            raise Unavailable(f"Temporal did not take the request: {err}") from err
        if outcome.refused is not None:
            raise Rejected(outcome.refused)
        if not isinstance(outcome.result, answer):
            raise Unavailable(f"the worker answered with {type(outcome.result).__name__}, not {answer.__name__}")
        return outcome.result

    async def copy_to(
        self,
        postmortem_id: str,
        out: Sink,
        *,
        ref: str | None = None,
        source: Literal["blob", "custody_log", "manifest_log"] = "blob",
        limit: int | None = None,
    ) -> int:
        """Write a blob (by sha256), or one of the postmortem's logs, to `out` slice by slice, to its end as
        it was when the read began; the number of bytes written. `limit`: refuse (Rejected) anything larger
        before reading any of it."""
        offset, total = 0, None
        while total is None or offset < total:
            chunk = await self.call(
                ReadChunk(postmortem_id=postmortem_id, source=source, ref=ref, offset=offset, length=MAX_CHUNK_BYTES),
                Chunk,
            )
            if total is None and limit is not None and chunk.total > limit:
                raise Rejected(f"it is {chunk.total} bytes, more than the {limit} this command reads")
            total = chunk.total
            if not chunk.data:
                break  # it shrank meanwhile (a purge): what was read is all there is
            out.write(chunk.data)
            offset += len(chunk.data)
        return offset

    async def read(
        self,
        postmortem_id: str,
        *,
        ref: str | None = None,
        source: Literal["blob", "custody_log", "manifest_log"] = "blob",
        limit: int | None = None,
    ) -> bytes:
        """The whole blob or log, in memory (for drafts and logs; `copy_to` streams large items)."""
        buffer = io.BytesIO()
        await self.copy_to(postmortem_id, buffer, ref=ref, source=source, limit=limit)
        return buffer.getvalue()
