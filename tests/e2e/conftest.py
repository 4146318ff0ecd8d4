"""A real Temporal dev server (the embedded default's own supervisor) for end-to-end tests."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from temporalio.client import Client

from afterword.runtime.connection import connect, prepare_namespace
from afterword.runtime.dev_server import EmbeddedServer, free_port
from afterword.runtime.payload_codec import new_key_line
from afterword.settings import Settings


@pytest.fixture(scope="session")
def deployment_keys(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One deployment, one keyring: every worker process, CLI and client of these tests seals and opens
    history with it (AFTERWORD_PAYLOAD_KEYS, as operations.md says), whatever data directory it has."""
    path = tmp_path_factory.mktemp("keys") / "payload-keys"
    path.write_text(new_key_line("e2e") + "\n")
    return f"file:{path}"


@pytest.fixture(scope="session")
def e2e_settings(tmp_path_factory: pytest.TempPathFactory, deployment_keys: str) -> Settings:
    return Settings(
        data_dir=tmp_path_factory.mktemp("afterword-e2e"), embedded_port=free_port(), embedded_ui_port=free_port(),
        intake_port=0, task_queue=f"e2e-{uuid.uuid4().hex[:8]}", payload_keys=deployment_keys,
    )


@pytest.fixture(scope="session")
async def dev_server(e2e_settings: Settings) -> AsyncIterator[str]:
    async with EmbeddedServer(e2e_settings, headless=True) as address:
        yield address


@pytest.fixture(scope="session")
async def dev_client(dev_server: str, e2e_settings: Settings) -> Client:
    client = await connect(e2e_settings, dev_server)
    await prepare_namespace(client, e2e_settings)
    return client
