"""`afterword intake` (run the alert intake alone) and `afterword replay-alert FILE` (feed a saved
webhook payload through the intake's mapping, policy and idempotent start, as if it had just arrived)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from afterword.settings import Settings

SOURCE_CHOICE = click.Choice(["alertmanager", "pagerduty", "grafana", "opsgenie", "generic"])


def register(main: click.Group) -> None:
    """Add this area's commands to the `afterword` group."""
    main.add_command(intake_cmd)
    main.add_command(replay_alert_cmd)


def _settings(host: str | None, port: int | None) -> Settings:
    overrides: dict[str, Any] = {"intake_host": host, "intake_port": port}
    return Settings.from_env(**overrides)


@click.command("intake")
@click.option("--host", help="address to listen on (default: AFTERWORD_INTAKE_HOST, else 127.0.0.1)")
@click.option("--port", type=int, help="port (default: AFTERWORD_INTAKE_PORT, else 8787)")
@click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="intake TOML (default: AFTERWORD_INTAKE_CONFIG, else <data_dir>/intake.toml)",
)
@click.option(
    "--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info", show_default=True
)
def intake_cmd(host: str | None, port: int | None, config_file: Path | None, log_level: str) -> None:
    """Run the alert intake on its own, against a Temporal that a worker already serves.

    Runs where the intake runs: it reads the org policies (AFTERWORD_POLICY_DIR) and may keep large alert
    payloads in the content store (AFTERWORD_DATA_DIR), which the workers must share."""
    from afterword.intake.configuration import ConfigError, config_path, load_config
    from afterword.runtime.log_lines import configure_logging

    configure_logging(log_level.upper())

    settings = _settings(host, port)
    try:
        config = load_config(config_file or config_path(settings))
    except ConfigError as err:
        raise click.ClickException(str(err)) from None
    if settings.intake_port == 0:
        raise click.UsageError("the intake port is 0 (disabled): pass --port or set AFTERWORD_INTAKE_PORT")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(settings, config))


async def _serve(settings: Settings, config: Any) -> None:
    from afterword.intake.configuration import ConfigError
    from afterword.intake.server import serve
    from afterword.runtime.connection import TemporalConnectionError, connect
    from afterword.runtime.heap import freeze_startup_heap
    from afterword.runtime.payload_codec import PayloadKeyError, codec_for

    try:
        codec = codec_for(settings)
    except PayloadKeyError as err:
        raise click.ClickException(str(err)) from None
    if codec is not None and codec.ring is None:  # every start it takes would fail: say so now, not per alert
        raise click.ClickException(f"payload encryption is on, but the intake has no key. {codec.missing_hint}")
    try:
        client = await connect(settings, codec=codec)
    except TemporalConnectionError as err:
        raise click.ClickException(f"{err} (is a worker running? start one with `python worker.py`)") from None
    try:
        async with serve(client, settings, config=config, announce=False) as running:
            assert running is not None
            click.echo(f"afterword intake listening on {running.url}/v1/alerts/<source> (Ctrl-C stops)")
            freeze_startup_heap()  # after the line the worker waits for, so it does not delay the intake's start
            await asyncio.Future()
    except ConfigError as err:
        raise click.ClickException(str(err)) from None
    except OSError as err:
        raise click.ClickException(
            f"cannot listen on {settings.intake_host}:{settings.intake_port}: {err.strerror}; pick another with --port"
        ) from None


@click.command("replay-alert")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--source", type=SOURCE_CHOICE, help="the payload's source (default: guessed from its shape)")
@click.option("--org", help="organisation (default: AFTERWORD_ORG, else 'default')")
@click.option("--url", help="POST it to a running intake at this base URL instead of starting directly")
@click.option("-H", "--header", "headers", multiple=True, help="extra header for --url, 'Name: value'")
@click.option("--json", "as_json", is_flag=True, help="print the intake's answer as JSON")
def replay_alert_cmd(
    file: Path, source: str | None, org: str | None, url: str | None, headers: tuple[str, ...], as_json: bool
) -> None:
    """Replay a saved alert payload (FILE): start, match or resolve its postmortem as the intake would.

    Without --url this does the intake's work here, so run it where the intake runs: it reads the org
    policies (AFTERWORD_POLICY_DIR) and may keep a large payload in the content store under
    AFTERWORD_DATA_DIR. From any other machine, give --url (a running intake)."""
    body = file.read_bytes()
    source = source or _guess(body, file)
    settings = _settings(None, None)
    target_org = org or settings.default_org
    if url:
        answer = _post(url, source, target_org, body, headers)
    else:
        answer = asyncio.run(replay(settings, source, target_org, body))
    if as_json:
        click.echo(json.dumps(answer, indent=2))
    else:
        what = answer.get("workflow_id") or "no postmortem"
        line = f"{answer['action']}: {what} ({answer.get('requirement')}, {answer.get('severity')})"
        click.echo(line + (f" [{answer['note']}]" if answer.get("note") else ""))
        for reason in answer.get("reasons", []):
            click.echo(f"  - {reason}")
    sys.stdout.flush()
    os._exit(0)  # short-lived client: skip the SDK's interpreter-exit race (sdk-python issue 300)


def _guess(body: bytes, file: Path) -> str:
    from afterword.intake.sources import detect_source

    try:
        found = detect_source(json.loads(body))
    except ValueError:
        raise click.ClickException(f"{file} is not JSON") from None
    if found is None:
        raise click.UsageError(f"cannot tell which source {file} comes from: pass --source")
    return found


async def replay(settings: Settings, source: str, org: str, body: bytes) -> dict[str, Any]:
    """Feed one payload through mapping, policy and the idempotent start (no HTTP, no sender auth:
    the operator's own file). Returns the intake's answer as a dict."""
    from afterword.client import Postmortems
    from afterword.evidence.blobs import ContentStore
    from afterword.intake.dispatch import Dispatcher
    from afterword.intake.policy_view import OrgPolicies, PolicyUnavailable
    from afterword.intake.refusals import IntakeError, TemporalUnavailable
    from afterword.intake.sources import PARSERS
    from afterword.runtime.connection import TemporalConnectionError, connect

    policies = OrgPolicies(settings)
    try:
        policies.check_org(org)
        notification = PARSERS[source](body, {})
    except IntakeError as err:
        raise click.ClickException(f"{source} payload refused: {err.reason}") from None
    try:
        client = await connect(settings)
    except TemporalConnectionError as err:
        raise click.ClickException(str(err)) from None
    dispatcher = Dispatcher(Postmortems(client, settings), policies, ContentStore(settings.store_dir))
    try:
        outcome = await dispatcher.accept(org, notification, body)
    except (TemporalUnavailable, PolicyUnavailable) as err:
        raise click.ClickException(f"not replayed, nothing changed: {err}") from None
    return outcome.model_dump(mode="json")


def _post(url: str, source: str, org: str, body: bytes, headers: tuple[str, ...]) -> dict[str, Any]:
    import httpx

    sent = {"Content-Type": "application/json"}
    for header in headers:
        name, sep, value = header.partition(":")
        if not sep:
            raise click.UsageError(f"header {header!r} is not 'Name: value'")
        sent[name.strip()] = value.strip()
    target = f"{url.rstrip('/')}/v1/orgs/{org}/alerts/{source}"
    try:
        response = httpx.post(target, content=body, headers=sent, timeout=15)
    except httpx.HTTPError as err:
        raise click.ClickException(f"cannot reach the intake at {target}: {err}") from None
    try:
        answer: dict[str, Any] = response.json()
    except ValueError:
        answer = {"reason": response.text[:200]}
    if response.status_code >= 300:
        raise click.ClickException(f"the intake answered {response.status_code}: {answer.get('reason')}")
    return answer
