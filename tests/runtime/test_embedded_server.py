"""The embedded Temporal dev server as the worker supervises it: persistence, namespace set-up, no orphans."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.worker import Worker

from afterword.runtime.connection import connect, prepare_namespace
from afterword.runtime.dev_server import EmbeddedServer, EmbeddedServerError, PortInUseError, port_is_free
from afterword.settings import Settings
from afterword.workflows import search_attributes

pytestmark = pytest.mark.e2e


@workflow.defn(sandboxed=False)
class ParkedWorkflow:
    """Waits for a signal: a stand-in for a postmortem waiting on a person across a restart."""

    def __init__(self) -> None:
        self.released = False

    @workflow.run
    async def run(self, name: str) -> str:
        await workflow.wait_condition(lambda: self.released)
        return f"released {name}"

    @workflow.signal
    def release(self) -> None:
        self.released = True


async def _retention(client: Client, namespace: str) -> timedelta:
    request = DescribeNamespaceRequest(namespace=namespace)
    described = await client.workflow_service.describe_namespace(request)
    return described.config.workflow_execution_retention_ttl.ToTimedelta()


async def _custom_attributes(client: Client, namespace: str) -> dict[str, str]:
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    return {name: IndexedValueType.Name(kind) for name, kind in listed.custom_attributes.items()}


async def test_prepared_namespace_has_search_attributes_and_retention(settings: Settings) -> None:
    settings = settings.model_copy(update={"namespace": "afterword-test", "retention_days": 365})
    async with EmbeddedServer(settings) as address:
        assert (settings.data_dir / "temporal.db").is_file()
        client = await connect(settings, address)
        assert await _retention(client, settings.namespace) == timedelta(days=1)  # the server's default

        report = await prepare_namespace(client, settings)

        assert report.retention_changed
        assert await _retention(client, settings.namespace) == timedelta(days=365)
        registered = await _custom_attributes(client, settings.namespace)
        for key in search_attributes.ALL:
            expected = "INDEXED_VALUE_TYPE_" + key.indexed_value_type.name
            assert registered.get(key.name) == expected, key.name
        # usable the moment prepare_namespace returns, though the server caches search attributes
        await client.start_workflow(
            ParkedWorkflow.run, "tagged", id=f"tagged-{uuid.uuid4()}", task_queue="platform-tagged",
            search_attributes=TypedSearchAttributes([
                SearchAttributePair(search_attributes.KIND, "postmortem"),
                SearchAttributePair(search_attributes.OVERDUE, False),
            ]),
        )  # fmt: skip

        again = await prepare_namespace(client, settings)
        assert again.added_search_attributes == []
        assert not again.retention_changed

        shorter = settings.model_copy(update={"retention_days": 30})
        await prepare_namespace(client, shorter)
        assert await _retention(client, settings.namespace) == timedelta(days=30)

        same_data_dir = settings.model_copy(update={"embedded_port": settings.embedded_port + 1})
        with pytest.raises(EmbeddedServerError, match="already used by a running afterword worker"):
            await EmbeddedServer(same_data_dir).start()


async def test_restart_on_same_data_dir_keeps_a_waiting_workflow(settings: Settings) -> None:
    workflow_id = f"parked-{uuid.uuid4()}"
    task_queue = "platform-restart"
    async with EmbeddedServer(settings) as address:
        client = await connect(settings, address)
        handle = await client.start_workflow(
            ParkedWorkflow.run, "after restart", id=workflow_id, task_queue=task_queue
        )
        async with Worker(client, task_queue=task_queue, workflows=[ParkedWorkflow]):
            await _wait_for_history_events(client, workflow_id, at_least=4)  # first task completed
        run_id = handle.result_run_id

    assert port_is_free(settings.embedded_port)

    async with EmbeddedServer(settings) as address:
        client = await connect(settings, address)
        described = await client.get_workflow_handle(workflow_id).describe()
        assert described.status == WorkflowExecutionStatus.RUNNING
        assert described.run_id == run_id
        async with Worker(client, task_queue=task_queue, workflows=[ParkedWorkflow]):
            await client.get_workflow_handle(workflow_id).signal(ParkedWorkflow.release)
            result = await client.get_workflow_handle(workflow_id, result_type=str).result()
        assert result == "released after restart"


async def test_a_burst_of_new_workflows_is_listed_within_seconds(settings: Settings) -> None:
    """The embedded server defers visibility writes so that a storm's starts answer first; the deferral
    must stay short: a burst of 60 starts is listed within seconds, and a lone start at once."""
    async with EmbeddedServer(settings) as address:
        client = await connect(settings, address)
        await prepare_namespace(client, settings)
        run = uuid.uuid4().hex[:8]

        async def start(name: str) -> None:
            await client.start_workflow(
                ParkedWorkflow.run, name, id=f"{run}-{name}", task_queue="platform-unpolled",
                search_attributes=TypedSearchAttributes([SearchAttributePair(search_attributes.OWNER, run)]),
            )  # fmt: skip

        await asyncio.gather(*(start(f"burst-{i}") for i in range(60)))
        await _wait_until_listed(client, f"AfterwordOwner = '{run}'", count=60, within=30)

        await start("lone")
        await _wait_until_listed(client, f"AfterwordOwner = '{run}'", count=61, within=5)


async def _wait_until_listed(client: Client, query: str, *, count: int, within: float) -> None:
    deadline = time.monotonic() + within
    listed = 0
    while time.monotonic() < deadline:
        listed = (await client.count_workflows(query)).count
        if listed >= count:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{listed} of {count} workflows listed after {within} s")


async def _wait_for_history_events(client: Client, workflow_id: str, *, at_least: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        history = await client.get_workflow_handle(workflow_id).fetch_history()
        if len(history.events) >= at_least:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"workflow {workflow_id} never ran its first task")


_PARENT_SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from afterword.runtime.dev_server import EmbeddedServer
    from afterword.settings import Settings

    async def main() -> None:
        settings = Settings(data_dir=Path(sys.argv[1]), embedded_port=int(sys.argv[2]),
                            embedded_ui_port=int(sys.argv[3]))
        server = EmbeddedServer(settings)
        await server.start()
        print(server.pid, flush=True)
        await asyncio.sleep(3600)

    asyncio.run(main())
    """
)


def _alive(pid: int) -> bool:
    """True while the process exists and is not a zombie waiting to be reaped."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    state = next(line for line in status.splitlines() if line.startswith("State:"))
    return "(zombie)" not in state


def test_server_dies_when_its_parent_is_killed(settings: Settings, tmp_path: Path) -> None:
    script = tmp_path / "parent.py"
    script.write_text(_PARENT_SCRIPT)
    parent = subprocess.Popen(
        [sys.executable, str(script), str(settings.data_dir), str(settings.embedded_port),
         str(settings.embedded_ui_port)],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    server_pid: int | None = None
    try:
        assert parent.stdout is not None
        server_pid = int(parent.stdout.readline())  # the script prints the pid once the server is ready
        assert _alive(server_pid)
        assert not port_is_free(settings.embedded_port)

        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)

        deadline = time.monotonic() + 10
        port = settings.embedded_port
        while time.monotonic() < deadline and (_alive(server_pid) or not port_is_free(port)):
            time.sleep(0.1)
        assert not _alive(server_pid), "the Temporal server outlived the process that started it"
        assert port_is_free(settings.embedded_port)
        assert port_is_free(settings.embedded_ui_port)
    finally:
        if parent.poll() is None:
            parent.kill()
        parent.wait()
        if server_pid is not None and _alive(server_pid):
            os.kill(server_pid, signal.SIGKILL)


async def test_port_in_use_names_the_port_and_the_setting(
    settings: Settings, listening_socket: Callable[[], socket.socket]
) -> None:
    taken = listening_socket()
    port = taken.getsockname()[1]

    with pytest.raises(PortInUseError) as grpc_taken:
        await EmbeddedServer(settings.model_copy(update={"embedded_port": port})).start()
    assert f"port {port}" in str(grpc_taken.value)
    assert "AFTERWORD_TEMPORAL_PORT" in str(grpc_taken.value)

    with pytest.raises(PortInUseError) as ui_taken:
        await EmbeddedServer(settings.model_copy(update={"embedded_ui_port": port})).start()
    assert f"port {port}" in str(ui_taken.value)
    assert "AFTERWORD_UI_PORT" in str(ui_taken.value)

    # Headless servers need no UI port, so a taken one does not matter.
    headless = EmbeddedServer(settings.model_copy(update={"embedded_ui_port": port}), headless=True)
    async with headless as address:
        assert address == f"127.0.0.1:{settings.embedded_port}"


async def test_metrics_endpoint_serves_the_servers_own_latencies_and_a_taken_port_is_named(
    settings: Settings, listening_socket: Callable[[], socket.socket]
) -> None:
    import httpx

    server = EmbeddedServer(settings, headless=True)
    async with server as address:
        client = await Client.connect(address, namespace=settings.namespace)
        await client.start_workflow("Nothing", id=f"metrics-{uuid.uuid4().hex[:6]}", task_queue="nowhere")
        async with httpx.AsyncClient() as http:
            text = (await http.get(server.metrics_url)).text
    # what operators scrape (and the intake benchmark reads): per-operation latency, per namespace
    assert 'operation="StartWorkflowExecution"' in text and "service_latency_bucket" in text

    port = listening_socket().getsockname()[1]
    with pytest.raises(PortInUseError) as metrics_taken:
        await EmbeddedServer(settings.model_copy(update={"embedded_metrics_port": port}), headless=True).start()
    assert f"port {port}" in str(metrics_taken.value) and "AFTERWORD_EMBEDDED_METRICS_PORT" in str(metrics_taken.value)

    clash = settings.model_copy(update={"embedded_metrics_port": settings.embedded_port})
    with pytest.raises(EmbeddedServerError, match="AFTERWORD_TEMPORAL_PORT and AFTERWORD_EMBEDDED_METRICS_PORT are both"):
        await EmbeddedServer(clash, headless=True).start()
