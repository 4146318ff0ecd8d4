"""The intake on real Temporal: one embedded dev server, a real worker and the intake HTTP service,
shared by this folder's end-to-end tests (each test uses its own incident keys)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from temporalio.client import Client

from afterword.client import Postmortems
from afterword.intake.configuration import IntakeConfig, SourceConfig
from afterword.intake.server import serve
from afterword.runtime.connection import connect, prepare_namespace
from afterword.runtime.dev_server import EmbeddedServer, free_port
from afterword.runtime.payload_codec import ensure_payload_keys
from afterword.settings import Settings
from afterword.worker import run_worker
from afterword.workflows.models import PostmortemStatus

PD_SECRET = "e2e-pagerduty-secret"
AM_TOKEN = "e2e-alertmanager-token"
ENV = {"E2E_PD_SECRET": PD_SECRET, "E2E_AM_TOKEN": AM_TOKEN}
POLICY = """\
org = "e2e"
name = "e2e"
extends = "default"

[intake]
flap_window = "10m"
"""


@dataclass
class Stack:
    client: Client
    settings: Settings
    url: str
    postmortems: Postmortems

    def alerts(self, source: str, org: str = "e2e") -> str:
        return f"{self.url}/v1/orgs/{org}/alerts/{source}"

    async def wait(self, workflow_id: str, states: set[str], within: float = 30.0) -> PostmortemStatus:
        """Wait for one of `states`, then the full status (incident, severity, ...)."""
        await self.postmortems.wait_for_state(workflow_id, states, within=within)
        return await self.postmortems.status(workflow_id)


@pytest.fixture(scope="session")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    data = tmp_path_factory.mktemp("intake-e2e")
    policies = data / "policies"
    policies.mkdir()
    (policies / "e2e.toml").write_text(POLICY)
    settings = Settings(
        data_dir=data,
        policy_dir=policies,
        embedded_port=free_port(),
        embedded_ui_port=free_port(),
        task_queue=f"intake-{uuid.uuid4().hex[:8]}",
    )
    config = IntakeConfig(
        allow_unauthenticated=True,  # generic/grafana/opsgenie open; the two below need their secrets
        sources={
            "pagerduty": SourceConfig(signing_secrets=["env:E2E_PD_SECRET"]),
            "alertmanager": SourceConfig(bearer_tokens=["env:E2E_AM_TOKEN"]),
        },
    )
    ensure_payload_keys(settings)  # as the worker does on its first start
    async with EmbeddedServer(settings, headless=True):
        client = await connect(settings)
        await prepare_namespace(client, settings)
        async with (
            run_worker(client, settings),
            serve(client, settings, port=0, announce=False, config=config, env=ENV) as running,
        ):
            assert running is not None
            yield Stack(client, settings, running.url, Postmortems(client, settings))


def examples_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "examples" / "alerts"
