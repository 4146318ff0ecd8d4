"""The bare Temporal baseline the lifecycle benchmark compares against: the same number of activities,
timers, updates and child workflows as a postmortem lifecycle, with no work in any of them. (A module of
its own so that the workflow sandbox can import it.)"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from pydantic import BaseModel
from temporalio import activity, workflow


class Step(BaseModel):
    n: int = 0


class BareInput(BaseModel):
    activities: int
    timers: int
    children: int


@activity.defn
async def bare_activity(step: Step) -> Step:
    return step


@workflow.defn
class BareChild:
    def __init__(self) -> None:
        self.updates = 0

    @workflow.run
    async def run(self, step: Step) -> Step:
        # an action item keeps a due-date timer while open, then a validation-window timer once done
        due = asyncio.create_task(workflow.sleep(timedelta(days=14)))
        await workflow.wait_condition(lambda: self.updates >= 1)
        due.cancel()
        window = asyncio.create_task(workflow.sleep(timedelta(days=7)))
        await workflow.wait_condition(lambda: self.updates >= 2 and workflow.all_handlers_finished())
        window.cancel()
        return step

    @workflow.update
    async def poke(self, step: Step) -> Step:
        """Like completing or validating an item: record it and tell the parent."""
        self.updates += 1
        parent = workflow.info().parent
        assert parent is not None
        await workflow.get_external_workflow_handle(parent.workflow_id).signal(
            "child_done" if self.updates >= 2 else "child_progress", step)
        return step


@workflow.defn
class BareParent:
    def __init__(self) -> None:
        self.updates = 0
        self.done = 0
        self.children: list[workflow.ChildWorkflowHandle[BareChild, Step]] = []
        self.state = "open"

    @workflow.run
    async def run(self, inp: BareInput) -> Step:
        timers = [asyncio.create_task(workflow.sleep(timedelta(days=30 + i))) for i in range(inp.timers)]
        for i in range(inp.activities):
            await workflow.execute_activity(bare_activity, Step(n=i), start_to_close_timeout=timedelta(seconds=30))
            self.state = f"activity-{i}"
        await workflow.wait_condition(lambda: self.done >= inp.children)
        for child in self.children:
            await child
        for timer in timers:
            timer.cancel()
        self.state = "closed"
        return Step(n=self.updates)

    @workflow.update
    async def poke(self, step: Step) -> Step:
        self.updates += 1
        if step.n == 1:  # "add an item"
            info = workflow.info()
            self.children.append(await workflow.start_child_workflow(
                BareChild.run, Step(n=len(self.children)), id=f"{info.workflow_id}.c{len(self.children)}"))
        return step

    @workflow.signal
    def child_done(self, step: Step) -> None:
        self.done += 1

    @workflow.signal
    def child_progress(self, step: Step) -> None:
        pass

    @workflow.query
    def status(self) -> str:
        return self.state


