"""The alert intake as a child process of the worker (`python worker.py`).

In its own interpreter, an alert storm's HTTP parsing and start calls never share the worker's event
loop (and GIL) with the workflows and activities it runs: in the storm benchmark the intake inside the
worker answered several times later than the same intake in a process of its own (docs/intake.md,
"Performance"). The child is `afterword intake` with the worker's settings; the worker waits until it
listens, forwards what it prints, restarts it if it dies (with a growing pause), and stops it first
on the way out, gracefully (SIGINT: in-flight requests are answered), killing it only if it lingers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from types import TracebackType

from afterword.runtime.dev_server import die_with_parent_hook
from afterword.settings import Settings

log = logging.getLogger("afterword.intake")

LISTENING = "afterword intake listening on "  # the line `afterword intake` prints once it listens
STEADY = 60.0  # seconds an intake must have run for its next restart to come after the shortest pause


def command(log_level: int) -> list[str]:
    """`afterword intake` in this interpreter, logging at the worker's level."""
    level = logging.getLevelName(log_level).lower()
    if level not in ("debug", "info", "warning", "error"):
        level = "info"
    return [sys.executable, "-c", "from afterword.cli import entry; entry()", "intake", "--log-level", level]


class IntakeChildError(RuntimeError):
    """The intake process did not come up; its own message is in the output above."""


class IntakeChild:
    def __init__(
        self,
        settings: Settings,
        temporal_address: str,
        *,
        ready_timeout: float = 60.0,
        stop_timeout: float = 10.0,
        first_restart_pause: float = 1.0,
        max_restart_pause: float = 30.0,
    ) -> None:
        self.env = {**os.environ, **settings.to_env(), "TEMPORAL_ADDRESS": temporal_address}
        self.ready_timeout = ready_timeout
        self.stop_timeout = stop_timeout
        self.first_restart_pause = first_restart_pause
        self.max_restart_pause = max_restart_pause
        self.url: str | None = None  # what it printed: http://host:port/v1/alerts/<source>
        self._process: asyncio.subprocess.Process | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._forwarders: set[asyncio.Task[None]] = set()
        self._stopping = False

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    async def __aenter__(self) -> IntakeChild:
        await self._start()
        self._supervisor = asyncio.create_task(self._supervise())
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stopping = True
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        await self._stop()

    async def _start(self) -> None:
        # the child's log lines (stderr) go straight to the worker's; stdout carries the listening line
        process = await asyncio.create_subprocess_exec(
            *command(logging.getLogger().getEffectiveLevel()),
            env=self.env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            # its own session: a Ctrl-C in the terminal reaches only the worker, which stops it in order
            start_new_session=True,
            preexec_fn=die_with_parent_hook(),
        )
        self._process = process
        assert process.stdout is not None
        url: str | None = None
        try:
            async with asyncio.timeout(self.ready_timeout):
                while line := (await process.stdout.readline()).decode(errors="replace"):
                    if line.startswith(LISTENING):
                        url = line.removeprefix(LISTENING).split(" ", 1)[0].strip()
                        break
                    sys.stdout.write(line)
        except TimeoutError:
            await self._stop()
            raise IntakeChildError(f"the alert intake did not listen within {self.ready_timeout:.0f} s") from None
        if url is None:  # stdout closed: it exited, having said why on stderr
            code = await process.wait()
            raise IntakeChildError(f"the alert intake exited with code {code} while starting (its message is above)")
        self.url = url
        forwarder = asyncio.create_task(self._forward(process))
        self._forwarders.add(forwarder)
        forwarder.add_done_callback(self._forwarders.discard)

    @staticmethod
    async def _forward(process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        while line := await process.stdout.readline():
            sys.stdout.write(line.decode(errors="replace"))
            sys.stdout.flush()

    async def _supervise(self) -> None:
        """A dead intake is restarted after 1 s, then 2, 4, ... up to `max_restart_pause` while it keeps dying
        (failing to start, or exiting within a minute of starting)."""
        loop = asyncio.get_running_loop()
        pause, started = self.first_restart_pause, loop.time()
        while True:
            process = self._process
            assert process is not None
            code = await process.wait()
            if self._stopping:
                return
            if loop.time() - started > STEADY:
                pause = self.first_restart_pause
            log.error("the alert intake exited with code %s; restarting it in %g s", code, pause)
            await asyncio.sleep(pause)
            pause = min(pause * 2, self.max_restart_pause)
            try:
                await self._start()
            except IntakeChildError as err:
                log.error("%s", err)
                continue
            started = loop.time()
            log.warning("the alert intake is back at %s", self.url)

    async def _stop(self) -> None:
        process = self._process
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGINT)  # `afterword intake` stops listening and answers what it holds
        try:
            await asyncio.wait_for(process.wait(), self.stop_timeout)
        except TimeoutError:
            log.warning("the alert intake did not stop within %.0f s; killing it", self.stop_timeout)
            process.kill()
            await process.wait()
