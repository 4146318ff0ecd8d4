"""The afterword worker process: `python worker.py` or `python -m afterword.worker`.

With no TEMPORAL_ADDRESS it starts and supervises an embedded Temporal dev server persisting under the
data directory; otherwise it joins that cluster (or Temporal Cloud). It prepares the namespace
(retention, search attributes), serves the workflows and activities on the task queue, and runs the
alert intake unless disabled. SIGINT/SIGTERM stop it cleanly: worker first, then the server; exit 0.

Exit codes: 0 clean stop, 1 a runtime failure (port taken, server unreachable, ...), 2 invalid settings
or an invalid policy (the worker never starts on one).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, NoReturn

import click
from temporalio import workflow
from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from afterword.activities.worker_activities import build_activities
from afterword.intake.child import IntakeChild, IntakeChildError
from afterword.policies import PolicyError, load_org_policy, load_policy
from afterword.runtime.codec_server import CodecEndpointError, CodecServer
from afterword.runtime.connection import NamespaceSetupError, TemporalConnectionError, connect, prepare_namespace
from afterword.runtime.dev_server import LOOPBACK, EmbeddedServer, EmbeddedServerError
from afterword.runtime.heap import freeze_startup_heap
from afterword.runtime.log_lines import configure_logging
from afterword.runtime.payload_codec import PayloadEncryption, PayloadKeyError, codec_for, ensure_payload_keys
from afterword.settings import Settings, SettingsError
from afterword.workflows.worker_workflows import WORKFLOWS

log = logging.getLogger("afterword.worker")
WORKFLOW_SUPPORT = (
    "afterword.workflows.models",
    "afterword.workflows.fix_checks",
    "afterword.workflows.lifecycle",
    "afterword.workflows.deadlines",
    "afterword.workflows.identity",
    "afterword.workflows.search_attributes",
)

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2
# Activities are short (files, HTTP calls); let running ones finish rather than cancel them at stop.
GRACEFUL_SHUTDOWN = timedelta(seconds=10)
_RUNTIME_ERRORS = (
    EmbeddedServerError, TemporalConnectionError, NamespaceSetupError, IntakeChildError, CodecEndpointError,
)


class WorkerSettingsError(ValueError):
    """A setting the worker cannot start with; the message names it."""


def check_policies(settings: Settings) -> list[Path]:
    """Load the default org's policy and every *.toml in the policy dir; PolicyError on the first bad one."""
    policy_dir = settings.policy_dir
    if policy_dir is not None and not policy_dir.is_dir():
        raise WorkerSettingsError(f"AFTERWORD_POLICY_DIR={policy_dir} is not a directory")
    load_org_policy(settings.default_org, policy_dir)
    checked = sorted(policy_dir.glob("*.toml")) if policy_dir is not None else []
    for path in checked:
        load_policy(path)
    return checked


def check_intake_config(settings: Settings) -> None:
    """The intake's TOML, validated before anything starts (the intake process reads it again)."""
    from afterword.intake.configuration import ConfigError, config_path, load_config

    try:
        load_config(config_path(settings))
    except ConfigError as err:
        raise WorkerSettingsError(f"invalid intake configuration, not starting: {err}") from None


def workflow_runner() -> SandboxedWorkflowRunner:
    """The sandbox every worker and the replay test run workflows in. transitions is pure and deterministic,
    and the support modules have no side effects: passing them through skips re-importing them on every
    run."""
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules("transitions", *WORKFLOW_SUPPORT)
    )


@asynccontextmanager
async def run_worker(client: Client, settings: Settings, **worker_options: Any) -> AsyncIterator[Worker]:
    """A Temporal worker polling settings.task_queue with afterword's workflows and activities."""
    options: dict[str, Any] = {
        "task_queue": settings.task_queue,
        "workflows": WORKFLOWS,
        "activities": build_activities(settings),
        "workflow_runner": workflow_runner(),
        "graceful_shutdown_timeout": GRACEFUL_SHUTDOWN,
    }
    options.update(worker_options)
    async with Worker(client, **options) as worker:
        yield worker


async def run(
    settings: Settings,
    *,
    demo: bool,
    intake: bool,
    headless: bool = False,
    ready: asyncio.Event | None = None,
) -> None:
    """Serve until cancelled; cancellation stops the intake, the worker, then the embedded server.

    `ready` (optional) is set once the worker polls and the intake listens.
    """
    check_policies(settings)
    serve_intake = intake and settings.intake_port != 0
    if serve_intake:
        check_intake_config(settings)
    # Imported before anything starts, and only when wanted: a missing module is an ImportError that
    # stops the worker at once, never a silent skip. (The intake's HTTP stack loads in its own process.)
    if demo:
        from afterword.examples.demo import run_demo
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        ensure_payload_keys(settings)  # the first start on this data directory: a key of its own
        codec = codec_for(settings)
    except PayloadKeyError as exc:
        raise WorkerSettingsError(str(exc)) from None
    async with AsyncExitStack() as stack:
        codec_url: str | None = None
        if codec is not None:  # before the server: its Web UI is told where to decrypt history
            embedded_ui = settings.temporal_address is None and not headless
            ui_url = f"http://{LOOPBACK}:{settings.embedded_ui_port}" if embedded_ui else None
            codec_url = (await stack.enter_async_context(CodecServer(settings, codec, ui_url))).url
        server: EmbeddedServer | None = None
        if settings.temporal_address is None:
            server = EmbeddedServer(settings, headless=headless, codec_endpoint=codec_url)
            await stack.enter_async_context(server)
        client = await connect(settings, codec=codec)
        report = await prepare_namespace(client, settings)
        await stack.enter_async_context(run_worker(client, settings))

        intake_url: str | None = None
        if serve_intake:  # a process of its own: a storm of alerts never slows the workflows (intake/child.py)
            address = server.address if server is not None else settings.temporal_address
            assert address is not None
            intake_url = (await stack.enter_async_context(IntakeChild(settings, address))).url

        _print_banner(settings, server, intake_url, report.retention_warning, codec, codec_url)
        if ready is not None:
            ready.set()
        freeze_startup_heap()  # once ready: its full collection need not delay the banner or `ready`

        demo_task = asyncio.create_task(_run_demo(run_demo(client, settings))) if demo else None
        try:
            await asyncio.Future()  # serve until cancelled
        finally:
            if demo_task is not None:
                demo_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await demo_task
            steps = ["the intake"] if intake_url else []
            steps += ["the worker"] + (["the embedded server"] if server else [])
            log.info("stopping: %s", ", then ".join(steps))


async def _run_demo(demo: Awaitable[object]) -> None:
    try:
        await demo
    except asyncio.CancelledError:
        raise
    except Exception:
        # The worker stays up: the half-run demo is still there to inspect in the Web UI.
        log.exception("the demo failed; the worker keeps serving")


def _print_banner(
    settings: Settings,
    server: EmbeddedServer | None,
    intake_url: str | None,
    warning: str | None,
    codec: PayloadEncryption | None = None,
    codec_url: str | None = None,
) -> None:
    namespace = settings.namespace
    lines = ["afterword worker ready"]
    if server is not None:
        lines.append(f"  Temporal:   {server.address} (embedded; state in {server.db_path})")
        if server.ui_url:
            lines.append(f"  Web UI:     {server.ui_url}/namespaces/{namespace}/workflows")
        lines.append(f"  Metrics:    {server.metrics_url}")
    else:
        lines.append(f"  Temporal:   {settings.temporal_address} (namespace {namespace}; {settings.address_origin()})")
    lines.append(f"  Task queue: {settings.task_queue}")
    lines.append(f"  Intake:     {intake_url or 'disabled'}")
    lines.append(f"  Data dir:   {settings.data_dir.resolve()}")
    if codec is not None and codec.ring is not None:
        lines.append(f"  Encryption: history sealed with key {codec.ring.primary} ({codec.ring.origin})")
        lines.append(f"  Codec:      {codec_url} (temporal workflow show --codec-endpoint {codec_url} ...)")
    else:
        lines.append("  Encryption: off (AFTERWORD_PAYLOAD_ENCRYPTION)")
    if warning:
        lines.append(f"  Warning:    {warning}")
    print("\n".join(lines), flush=True)


async def _serve_until_signal(settings: Settings, *, demo: bool, intake: bool, headless: bool) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def on_signal(signum: int) -> None:
        if stop.is_set():
            # A second Ctrl-C while stopping: leave now. The server child dies with us (PR_SET_PDEATHSIG).
            log.warning("second %s: exiting without a clean stop", signal.Signals(signum).name)
            _flush_and_exit(EXIT_FAILED)
        log.info("%s received", signal.Signals(signum).name)
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal, signum)
    runner = asyncio.create_task(run(settings, demo=demo, intake=intake, headless=headless))
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
    if runner.done():
        stopper.cancel()
        runner.result()  # re-raises what made the worker stop on its own
        return
    runner.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await runner


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the embedded server's database and the stores live "
    "(default: AFTERWORD_DATA_DIR, else ./.afterword).",
)
@click.option("--demo", is_flag=True, help="Run the demo postmortem once the worker polls; keep serving.")
@click.option("--no-intake", is_flag=True, help="Do not start the alert intake HTTP server.")
@click.option("--headless", is_flag=True, help="Start the embedded server without its Web UI.")
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
)
def cli(data_dir: Path | None, demo: bool, no_intake: bool, headless: bool, log_level: str) -> int:
    """Run the afterword worker (and, with no TEMPORAL_ADDRESS, an embedded Temporal server)."""
    configure_logging(log_level.upper())
    # the postmortem's own log lines already name it; the SDK's context dict would only repeat it
    workflow.logger.workflow_info_on_message = False
    try:
        settings = Settings.from_env(data_dir=data_dir)
    except SettingsError as exc:
        click.echo(f"afterword worker: {exc}", err=True)
        return EXIT_INVALID
    try:
        asyncio.run(_serve_until_signal(settings, demo=demo, intake=not no_intake, headless=headless))
    except PolicyError as exc:
        click.echo(f"afterword worker: invalid policy, not starting:\n{exc}", err=True)
        return EXIT_INVALID
    except WorkerSettingsError as exc:
        click.echo(f"afterword worker: {exc}", err=True)
        return EXIT_INVALID
    except _RUNTIME_ERRORS as exc:
        click.echo(f"afterword worker: {exc}", err=True)
        return EXIT_FAILED
    log.info("stopped")
    return EXIT_OK


def _flush_and_exit(code: int) -> NoReturn:
    # os._exit skips interpreter finalisation, which can abort while the Temporal core's threads still
    # hold Python state (sdk-python issue 300); flush what finalisation would have flushed.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main(argv: list[str] | None = None) -> NoReturn:
    try:
        code = cli.main(args=argv, standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        code = exc.exit_code
    except click.Abort:
        code = EXIT_FAILED
    _flush_and_exit(code if isinstance(code, int) else EXIT_OK)


if __name__ == "__main__":
    main()
