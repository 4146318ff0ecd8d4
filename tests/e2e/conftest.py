"""A real Temporal dev server (the embedded default's own supervisor) for end-to-end tests."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from temporalio.client import Client

from afterword.runtime.connection import connect, prepare_namespace
from afterword.runtime.dev_server import EmbeddedServer, free_port
from afterword.runtime.payload_codec import ensure_payload_keys
from afterword.settings import Settings


@pytest.fixture(scope="session")
def e2e_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        data_dir=tmp_path_factory.mktemp("afterword-e2e"), embedded_port=free_port(), embedded_ui_port=free_port(),
        intake_port=0, task_queue=f"e2e-{uuid.uuid4().hex[:8]}",
    )


@pytest.fixture(scope="session")
async def dev_server(e2e_settings: Settings) -> AsyncIterator[str]:
    async with EmbeddedServer(e2e_settings, headless=True) as address:
        yield address


@pytest.fixture(scope="session")
async def dev_client(dev_server: str, e2e_settings: Settings) -> Client:
    ensure_payload_keys(e2e_settings)  # as the worker does on its first start
    client = await connect(e2e_settings, dev_server)
    await prepare_namespace(client, e2e_settings)
    return client
