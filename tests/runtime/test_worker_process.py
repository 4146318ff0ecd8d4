"""`python worker.py` as platform teams run it: starts, polls, stops cleanly, refuses bad input."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, DescribeTaskQueueRequest
from temporalio.client import Client

from afterword.runtime.connection import connect
from afterword.runtime.dev_server import EmbeddedServer, free_port, port_is_free
from afterword.settings import Settings

WORKER_SCRIPT = Path(__file__).resolve().parents[2] / "worker.py"


def _env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AFTERWORD_", "TEMPORAL_"))}
    env.update(
        AFTERWORD_DATA_DIR=str(settings.data_dir),
        AFTERWORD_TEMPORAL_PORT=str(settings.embedded_port),
        AFTERWORD_UI_PORT=str(settings.embedded_ui_port),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def _run_to_exit(settings: Settings, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(WORKER_SCRIPT), "--no-intake", *args],
        env=_env(settings, **env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def _processes_using(path: Path) -> list[int]:
    """Pids whose command line mentions path (the embedded server names its database file)."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError):
                if str(path).encode() in (proc / "cmdline").read_bytes():
                    found.append(int(proc.name))
    return found


async def _pollers(client: Client, task_queue: str, *, within: float = 15.0) -> int:
    """How many workers poll the task queue, waiting a little for the first poll to reach the server."""
    request = DescribeTaskQueueRequest(
        namespace=client.namespace,
        task_queue=TaskQueue(name=task_queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    )
    deadline = asyncio.get_running_loop().time() + within
    while True:
        pollers = len((await client.workflow_service.describe_task_queue(request)).pollers)
        if pollers or asyncio.get_running_loop().time() >= deadline:
            return pollers
        await asyncio.sleep(0.1)


def _read_until(worker: subprocess.Popen[str], marker: str) -> str:
    """stdout up to the first line containing marker (or EOF if the worker died first)."""
    assert worker.stdout is not None
    seen = []
    for line in iter(worker.stdout.readline, ""):
        seen.append(line)
        if marker in line:
            break
    return "".join(seen)


@pytest.fixture
def worker_process(settings: Settings, tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []

    def start(*args: str) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, str(WORKER_SCRIPT), *args],
            env=_env(settings),
            stdout=subprocess.PIPE,
            stderr=(tmp_path / "worker.stderr").open("w"),
            text=True,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.e2e
async def test_sigterm_stops_worker_and_its_server_with_exit_0(
    settings: Settings, worker_process: Callable[..., subprocess.Popen[str]], tmp_path: Path
) -> None:
    worker = worker_process("--no-intake")
    output = await asyncio.wait_for(asyncio.to_thread(_read_until, worker, "  Data dir:"), timeout=90)
    assert "afterword worker ready" in output, (tmp_path / "worker.stderr").read_text()
    ui = f"http://127.0.0.1:{settings.embedded_ui_port}/namespaces/default/workflows"
    assert ui in output
    assert "Intake:     disabled" in output

    client = await connect(settings)
    assert await _pollers(client, settings.task_queue) >= 1
    database = (settings.data_dir / "temporal.db").resolve()
    assert _processes_using(database), "the embedded server is not running"

    worker.send_signal(signal.SIGTERM)
    returncode = await asyncio.to_thread(worker.wait, 60)

    assert returncode == 0, (tmp_path / "worker.stderr").read_text()
    assert _processes_using(database) == []
    assert port_is_free(settings.embedded_port)
    assert port_is_free(settings.embedded_ui_port)


@pytest.mark.e2e
async def test_demo_runs_to_closed_and_the_worker_keeps_serving(
    settings: Settings, worker_process: Callable[..., subprocess.Popen[str]], tmp_path: Path
) -> None:
    worker = worker_process("--demo", "--no-intake", "--headless")
    output = await asyncio.wait_for(asyncio.to_thread(_read_until, worker, "[demo] closed"), timeout=120)
    assert "[demo] closed" in output, output + (tmp_path / "worker.stderr").read_text()

    assert worker.poll() is None  # still serving after the demo
    client = await connect(settings)
    assert await _pollers(client, settings.task_queue) >= 1

    worker.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(worker.wait, 60) == 0


def test_invalid_policy_refuses_to_start_with_exit_2(settings: Settings, tmp_path: Path) -> None:
    policy_dir = tmp_path / "policies"
    policy_dir.mkdir()
    (policy_dir / "acme.toml").write_text('[review]\nquorum = "two"\n')

    result = _run_to_exit(settings, AFTERWORD_POLICY_DIR=str(policy_dir))

    assert result.returncode == 2, result.stderr
    assert "invalid policy" in result.stderr
    assert "acme.toml" in result.stderr
    assert not (settings.data_dir / "temporal.db").exists()  # nothing was started


def test_invalid_setting_names_the_variable_with_exit_2(settings: Settings) -> None:
    result = _run_to_exit(settings, AFTERWORD_TEMPORAL_PORT="seven")

    assert result.returncode == 2
    assert "AFTERWORD_TEMPORAL_PORT='seven'" in result.stderr


def test_taken_port_is_a_clear_error_with_exit_1(
    settings: Settings, listening_socket: Callable[[], socket.socket]
) -> None:
    taken = listening_socket()
    port = taken.getsockname()[1]

    result = _run_to_exit(settings, AFTERWORD_TEMPORAL_PORT=str(port))

    assert result.returncode == 1
    assert f"port {port}" in result.stderr
    assert "AFTERWORD_TEMPORAL_PORT" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.e2e
async def test_run_in_process_polls_until_cancelled(settings: Settings) -> None:
    from afterword.worker import run

    ready = asyncio.Event()
    task = asyncio.create_task(run(settings, demo=False, intake=False, headless=True, ready=ready))
    await asyncio.wait_for(ready.wait(), timeout=60)
    client = await connect(settings)
    assert await _pollers(client, settings.task_queue) >= 1

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert port_is_free(settings.embedded_port)


@pytest.mark.e2e
async def test_with_temporal_address_the_worker_joins_that_server(settings: Settings, tmp_path: Path) -> None:
    from afterword.worker import run

    async with EmbeddedServer(settings, headless=True) as address:
        joining = settings.model_copy(update={"temporal_address": address, "data_dir": tmp_path / "worker"})
        ready = asyncio.Event()
        task = asyncio.create_task(run(joining, demo=False, intake=False, ready=ready))
        await asyncio.wait_for(ready.wait(), timeout=60)

        client = await connect(joining)
        assert await _pollers(client, settings.task_queue) >= 1
        described = await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=settings.namespace)
        )
        assert described.config.workflow_execution_retention_ttl.ToTimedelta() == timedelta(days=365)
        assert not (joining.data_dir / "temporal.db").exists()  # it started no server of its own

        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not port_is_free(settings.embedded_port)  # the cluster is not the worker's to stop


def _start_worker(settings: Settings, tmp_path: Path, *args: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKER_SCRIPT), *args],
        env=_env(settings, **env),
        stdout=subprocess.PIPE,
        stderr=(tmp_path / "worker.stderr").open("w"),
        text=True,
    )


def _intake_children(worker_pid: int) -> list[int]:
    """Pids of the worker's `afterword intake` children."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError):
                parent = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
                if parent == worker_pid and b"\x00intake\x00--log-level" in (proc / "cmdline").read_bytes():
                    found.append(int(proc.name))
    return found


@pytest.mark.e2e
async def test_the_intake_runs_in_a_child_process_restarted_if_it_dies_and_stopped_with_the_worker(
    settings: Settings, tmp_path: Path
) -> None:
    import httpx

    port = free_port()
    worker = _start_worker(settings, tmp_path, "--headless", AFTERWORD_INTAKE_PORT=str(port))
    url = f"http://127.0.0.1:{port}/v1/alerts/alertmanager"
    body = (Path(__file__).resolve().parents[2] / "examples" / "alerts" / "alertmanager-firing.json").read_bytes()
    headers = {"Content-Type": "application/json"}
    try:
        banner = await asyncio.to_thread(_read_until, worker, "Data dir:")
        assert f"Intake:     http://127.0.0.1:{port}/v1/alerts/<source>" in banner, banner
        (child,) = _intake_children(worker.pid)
        async with httpx.AsyncClient(timeout=10) as http:
            first = await http.post(url, content=body, headers=headers)
            assert first.status_code == 202 and first.json()["action"] == "started", first.text

            os.kill(child, signal.SIGKILL)  # a crash of the intake: the worker brings it back
            again = None
            for _ in range(200):
                with contextlib.suppress(httpx.TransportError):
                    again = await http.post(url, content=body, headers=headers)
                    break
                await asyncio.sleep(0.1)
            assert again is not None and again.status_code == 202, "the intake did not come back"
            # the new process knows nothing of the first delivery: Temporal does, so it matches
            assert again.json()["action"] == "matched"
            assert again.json()["workflow_id"] == first.json()["workflow_id"]
        (restarted,) = _intake_children(worker.pid)
        assert restarted != child
        log = (tmp_path / "worker.stderr").read_text()
        assert "the alert intake exited with code -9; restarting it" in log
        assert "-> started" in log  # the intake's own log lines join the worker's

        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
        assert not Path(f"/proc/{restarted}").exists() or b"zombie" in Path(f"/proc/{restarted}/status").read_bytes()
        assert port_is_free(port)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()


def test_an_invalid_intake_config_stops_the_worker_before_anything_starts(settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    (settings.data_dir / "intake.toml").write_text("[intake]\nmax_body_bytes = 'lots'\n")
    result = subprocess.run(
        [sys.executable, str(WORKER_SCRIPT), "--headless"],
        env=_env(settings, AFTERWORD_INTAKE_PORT=str(free_port())),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert "invalid intake configuration" in result.stderr and "max_body_bytes" in result.stderr
    assert not (settings.data_dir / "temporal.db").exists()  # no server was started


@pytest.mark.e2e
async def test_the_embedded_metrics_port_is_set_by_its_new_name_and_still_by_the_old_one(
    settings: Settings, tmp_path: Path
) -> None:
    for variable in ("AFTERWORD_EMBEDDED_METRICS_PORT", "AFTERWORD_METRICS_PORT"):
        port = free_port()
        worker = _start_worker(settings, tmp_path, "--no-intake", "--headless", **{variable: str(port)})
        try:
            banner = await asyncio.wait_for(asyncio.to_thread(_read_until, worker, "Data dir:"), timeout=90)
            assert f"Metrics:    http://127.0.0.1:{port}/metrics" in banner, banner
            assert not port_is_free(port)  # the embedded server serves its metrics there
            worker.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(worker.wait, 60) == 0
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
        log = (tmp_path / "worker.stderr").read_text()
        warning = ("AFTERWORD_METRICS_PORT is deprecated and will be removed in the next release: "
                   "set AFTERWORD_EMBEDDED_METRICS_PORT instead")
        assert (warning in log) == (variable == "AFTERWORD_METRICS_PORT"), log
