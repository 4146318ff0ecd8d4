"""Deploy events posted to the intake become evidence and timeline rows of that service's incidents."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from afterword.activities.capture import capture
from afterword.evidence.blobs import ContentStore
from afterword.evidence.timeline import reconstruct_timeline
from afterword.intake.configuration import IntakeConfig, SourceConfig
from afterword.intake.server import build_app
from afterword.settings import Settings
from afterword.workflows.models import EvidenceRequest, Incident

from .fakes import FakePolicies, FakeStarter

HEADERS = {"Content-Type": "application/json", "Authorization": "Bearer deploy-token"}
START = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


@pytest.fixture
async def http(settings: Settings) -> AsyncIterator[TestClient]:
    config = IntakeConfig(sources={"generic": SourceConfig(bearer_tokens=["env:DEPLOY_TOKEN"])})
    app = build_app(FakeStarter(), settings, FakePolicies(), config=config, env={"DEPLOY_TOKEN": "deploy-token"})
    async with TestClient(TestServer(app)) as client:
        yield client


def deploy(service: str, version: str, at: datetime, **extra: str) -> bytes:
    return json.dumps({"service": service, "version": version, "at": at.isoformat(), **extra}).encode()


async def test_deploys_in_the_window_reach_the_incidents_timeline(http: TestClient, settings: Settings) -> None:
    for service, version, at in [
        ("checkout", "v41", START - timedelta(hours=6)),      # long before: outside the window
        ("checkout", "v42", START - timedelta(minutes=5)),    # the deploy that preceded the errors
        ("payments", "v7", START - timedelta(minutes=3)),     # another service's deploy
    ]:
        body = deploy(service, version, at, description="rolled out", by="ci")
        response = await http.post("/v1/deploys", data=body, headers=HEADERS)
        assert response.status == 202, await response.text()

    incident = Incident(org="default", key="inc-1", title="Checkout errors", severity="SEV2", service="checkout",
                        started_at=START, resolved_at=START + timedelta(minutes=40))
    summary = await capture(settings, EvidenceRequest(postmortem_id="pm-default-inc-1", incident=incident,
                                                      phase="resolution"))
    rows = reconstruct_timeline(ContentStore(settings.store_dir), summary.manifest_ref, [])
    deploys = [r for r in rows if r.source == "logs:deploys"]
    assert [r.event for r in deploys] == ["deploy checkout v42 by ci: rolled out"]
    assert deploys[0].at == START - timedelta(minutes=5) and deploys[0].evidence_ref


async def test_bad_deploy_events_are_refused_and_recorded_nowhere(http: TestClient, settings: Settings) -> None:
    unsigned = await http.post("/v1/deploys", data=deploy("checkout", "v1", START),
                               headers={"Content-Type": "application/json"})
    assert unsigned.status == 401
    missing = await http.post("/v1/deploys", data=b'{"version": "v1"}', headers=HEADERS)
    assert missing.status == 400 and "service" in (await missing.json())["reason"]
    odd_name = await http.post("/v1/deploys", data=deploy("../etc", "v1", START), headers=HEADERS)
    assert odd_name.status == 400
    assert not (settings.evidence_dir / "deploys").exists()
