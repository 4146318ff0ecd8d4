"""The intake's HTTP service (aiohttp): webhooks in, exactly one postmortem per incident out.

Routes: `POST /v1/alerts/{source}` (org from `?org=`, else the settings' default org),
`POST /v1/orgs/{org}/alerts/{source}`, `GET /healthz`.

Each request passes, in order: known source (404) -> size (413) -> sender's proof (401) ->
content type (415) -> payload shape (400) -> raw payload stored -> policy -> Temporal. Only the last
step can fail with a 5xx: 503 with Retry-After when Temporal does not acknowledge, so the sender
retries; bad input of any kind is a 4xx and starts nothing.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from temporalio.client import Client

from afterword.evidence.blobs import ContentStore
from afterword.intake.auth import Credentials, access_warnings, build_all, verify
from afterword.intake.configuration import SOURCES, ConfigError, IntakeConfig, config_path, load_config
from afterword.intake.dispatch import Dispatcher, Errors, PolicySource, Starter
from afterword.intake.pacing import StepPacer
from afterword.intake.policy_view import OrgPolicies, PolicyUnavailable
from afterword.intake.refusals import (
    IntakeError,
    Malformed,
    TemporalUnavailable,
    TooLarge,
    UnknownTarget,
    UnsupportedMediaType,
)
from afterword.intake.replay_guard import DeliveryLog, delivery_log_path, signed_delivery
from afterword.intake.sources import PARSERS
from afterword.intake.sources.common import load_json, validate
from afterword.settings import Settings

log = logging.getLogger("afterword.intake")

DISPATCHER: web.AppKey[Dispatcher] = web.AppKey("dispatcher", Dispatcher)
STATE: web.AppKey[IntakeState] = web.AppKey("intake_state")


@dataclass(frozen=True)
class IntakeState:
    settings: Settings
    config: IntakeConfig
    credentials: dict[str, Credentials]
    policies: PolicySource


def _error(status: int, reason: str, headers: dict[str, str] | None = None) -> web.Response:
    body = {"error": _TITLES.get(status, "error"), "reason": reason}
    return web.json_response(body, status=status, headers=headers)


_TITLES = {
    400: "malformed",
    401: "unauthorized",
    404: "not found",
    405: "method not allowed",
    413: "too large",
    415: "unsupported media type",
    500: "internal error",
    503: "unavailable",
}


@web.middleware
async def _errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    state = request.app[STATE]
    try:
        return await handler(request)
    except IntakeError as exc:
        log.info("refused %s %s: %s %s", request.method, request.path, exc.status, exc.reason)
        return _error(exc.status, exc.reason)
    except (TemporalUnavailable, PolicyUnavailable) as exc:
        log.warning("answering 503 to %s: %s", request.path, exc)
        retry = str(state.config.retry_after_seconds)
        return _error(503, f"not accepted, retry later: {exc}", {"Retry-After": retry})
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _error(exc.status, exc.reason or _TITLES.get(exc.status, "error"))


async def _read_body(request: web.Request, limit: int) -> bytes:
    declared = request.content_length
    if declared is not None and declared > limit:
        raise TooLarge(f"body of {declared} bytes is over the limit of {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _is_json(content_type: str) -> bool:
    return content_type == "application/json" or (
        content_type.startswith("application/") and content_type.endswith("+json")
    )


async def _alert(request: web.Request) -> web.Response:
    state = request.app[STATE]
    source = request.match_info["source"]
    if source not in PARSERS or not state.config.source(source).enabled:
        raise UnknownTarget(f"unknown alert source {source[:40]!r}; known: {', '.join(SOURCES)}")
    org = request.match_info.get("org") or request.query.get("org") or state.settings.default_org
    state.policies.check_org(org)
    body = await _read_body(request, state.config.max_body_bytes)
    verify(state.credentials[source], request.headers, body)
    if not _is_json(request.content_type):
        raise UnsupportedMediaType(f"content type {request.content_type!r} is not accepted; send application/json")
    if not body.strip():
        raise Malformed("empty body; send the alert as JSON")
    notification = PARSERS[source](body, request.headers)
    signed = signed_delivery(
        notification, state.credentials[source], request.headers, body, state.config.source(source).max_event_age
    )
    outcome = await request.app[DISPATCHER].accept(org, notification, body, signed)
    return web.json_response(outcome.model_dump(mode="json"), status=202)


async def _deploy(request: web.Request) -> web.Response:
    """A deploy pipeline reports a deploy: kept as evidence for incidents of that service (authenticated
    like the generic alert source)."""
    from afterword.activities.adapters.deploys import DeployEvent, record_deploy

    state = request.app[STATE]
    org = request.match_info.get("org") or request.query.get("org") or state.settings.default_org
    state.policies.check_org(org)
    body = await _read_body(request, state.config.max_body_bytes)
    verify(state.credentials["generic"], request.headers, body)
    if not _is_json(request.content_type):
        raise UnsupportedMediaType(f"content type {request.content_type!r} is not accepted; send application/json")
    event = validate(DeployEvent, load_json(body), "deploy event (schema afterword.deploy/v1)")
    record = await asyncio.to_thread(record_deploy, state.settings.evidence_dir, org, event)
    return web.json_response({"action": "recorded", "deploy": record}, status=202)


async def _healthz(request: web.Request) -> web.Response:
    state = request.app[STATE]
    enabled = [name for name in SOURCES if state.config.source(name).enabled]
    return web.json_response({"ok": True, "sources": enabled, "default_org": state.settings.default_org})


async def _generic_schema(request: web.Request) -> web.Response:
    from afterword.intake.sources.generic import Alert

    return web.json_response(Alert.model_json_schema(by_alias=True))


def _delivery_log(settings: Settings, config: IntakeConfig, credentials: dict[str, Credentials]) -> DeliveryLog | None:
    """The replay memory, when a source's deliveries are signed (only those can be told apart from a replay)."""
    if not any(creds.hmac_secrets for name, creds in credentials.items() if config.source(name).enabled):
        return None
    path = delivery_log_path(settings)
    try:
        return DeliveryLog(path, config.replay_memory_max_entries)
    except (OSError, sqlite3.Error) as exc:
        raise ConfigError(f"cannot open the intake's replay memory {path}: {exc}") from None


def build_app(
    starter: Starter,
    settings: Settings,
    policy_source: PolicySource | None = None,
    *,
    config: IntakeConfig | None = None,
    env: dict[str, str] | None = None,
    errors: Errors | None = None,
) -> web.Application:
    """The intake app; `starter` is `afterword.client.Postmortems` or anything with its four methods."""
    config_file = config_path(settings, env) if config is None else None
    config = config or load_config(config_file)
    policies = policy_source or OrgPolicies(settings)
    credentials = build_all(config, settings.intake_host, env)
    for level, warning in access_warnings(config, credentials, settings.intake_host, str(config_file or "") or None):
        log.log(level, "%s", warning)
    delivery_log = _delivery_log(settings, config, credentials)
    dispatcher = Dispatcher(
        starter,
        policies,
        ContentStore(settings.store_dir),
        timeout=config.temporal_timeout,
        dedupe_ttl=config.dedupe_ttl,
        trust_for=config.trust_for,
        errors=errors,
        pacer=StepPacer(config.pace_steps_per_second, config.pace_burst, config.pace_max_delay),
        payload_with_start_max_bytes=config.payload_with_start_max_bytes,
        delivery_log=delivery_log,
    )
    app = web.Application(middlewares=[_errors], client_max_size=config.max_body_bytes + 1)
    if delivery_log is not None:
        app.on_cleanup.append(lambda _app: asyncio.to_thread(delivery_log.close))
    app[STATE] = IntakeState(settings, config, credentials, policies)
    app[DISPATCHER] = dispatcher
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/v1/schemas/afterword.alert/v1", _generic_schema)
    app.router.add_post("/v1/alerts/{source}", _alert)
    app.router.add_post("/v1/orgs/{org}/alerts/{source}", _alert)
    app.router.add_post("/v1/deploys", _deploy)
    app.router.add_post("/v1/orgs/{org}/deploys", _deploy)
    return app


@dataclass(frozen=True)
class RunningIntake:
    url: str
    app: web.Application

    @property
    def dispatcher(self) -> Dispatcher:
        return self.app[DISPATCHER]


@asynccontextmanager
async def run_app(app: web.Application, host: str, port: int) -> AsyncIterator[RunningIntake]:
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    try:
        await site.start()
        bound = runner.addresses[0][1] if runner.addresses else port
        display = f"[{host}]" if ":" in host else host
        yield RunningIntake(f"http://{display}:{bound}", app)
    finally:
        await runner.cleanup()


@asynccontextmanager
async def serve(
    client: Client,
    settings: Settings,
    *,
    host: str | None = None,
    port: int | None = None,
    announce: bool = True,
    **app_options: Any,
) -> AsyncIterator[RunningIntake | None]:
    """Run the intake beside a worker. `settings.intake_port == 0` disables it (yields None);
    an explicit `port=0` binds a free port (tests)."""
    from afterword.client import Postmortems

    if port is None and settings.intake_port == 0:
        log.info("intake disabled (AFTERWORD_INTAKE_PORT=0)")
        yield None
        return
    app = build_app(Postmortems(client, settings), settings, **app_options)
    async with run_app(app, host or settings.intake_host, settings.intake_port if port is None else port) as running:
        log.info("afterword intake listening on %s", running.url)
        if announce:
            print(f"afterword intake: {running.url}/v1/alerts/<source>", file=sys.stderr, flush=True)
        yield running
