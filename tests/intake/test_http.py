"""The HTTP contract: status codes, reasons, and that nothing refused ever reaches Temporal.

The starter here is an in-memory fake (the contract is the intake's own); the same flows run on real
Temporal in test_end_to_end.py.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from afterword.intake.configuration import IntakeConfig, SourceConfig
from afterword.intake.server import build_app
from afterword.settings import Settings

from .fakes import FakePolicies, FakeStarter, example, recent_pagerduty

PD_SECRET = "pd-signing-secret"
ENV = {"PD_SECRET": PD_SECRET, "AM_TOKEN": "am-token"}
JSON = {"Content-Type": "application/json"}
AM = {**JSON, "Authorization": "Bearer am-token"}


def pd_headers(body: bytes, webhook_id: str = "wh-1") -> dict[str, str]:
    signature = hmac.new(PD_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {**JSON, "X-PagerDuty-Signature": f"v1={signature}", "X-Webhook-Id": webhook_id}


@pytest.fixture
def starter() -> FakeStarter:
    return FakeStarter()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


@pytest.fixture
async def http(starter: FakeStarter, settings: Settings) -> AsyncIterator[TestClient]:
    config = IntakeConfig(
        max_body_bytes=64 * 1024,
        sources={
            "pagerduty": SourceConfig(signing_secrets=["env:PD_SECRET"]),
            "alertmanager": SourceConfig(bearer_tokens=["env:AM_TOKEN"]),
        },
    )
    app = build_app(starter, settings, FakePolicies(), config=config, env=ENV)
    async with TestClient(TestServer(app)) as client:
        yield client


async def test_alertmanager_firing_starts_a_postmortem_carrying_its_raw_payload(
    http: TestClient, starter: FakeStarter, settings: Settings
) -> None:
    body = example("alertmanager-firing.json")
    response = await http.post("/v1/alerts/alertmanager", data=body, headers=AM)
    answer = await response.json()
    assert response.status == 202, answer
    assert answer["action"] == "started" and answer["severity"] == "SEV1"
    assert answer["reasons"] == ["severity SEV1 requires one"]
    assert answer["payload_ref"] == hashlib.sha256(body).hexdigest()
    started = starter.workflows[answer["workflow_id"]]
    assert started["alert_payload"] == body  # raw bytes, unaltered, with the start
    incident = started["incident"]
    assert incident.payload_ref == answer["payload_ref"] and incident.source == "alertmanager"


async def test_pagerduty_retry_with_the_same_webhook_id_is_answered_once(
    http: TestClient, starter: FakeStarter
) -> None:
    body = json.dumps(recent_pagerduty("triggered")).encode()
    first = await http.post("/v1/alerts/pagerduty", data=body, headers=pd_headers(body, "wh-42"))
    again = await http.post("/v1/alerts/pagerduty", data=body, headers=pd_headers(body, "wh-42"))
    assert first.status == again.status == 202
    assert (await again.json())["duplicate"] is True
    assert starter.count("open") == 1
    ack = json.dumps(recent_pagerduty("acknowledged")).encode()
    third = await http.post("/v1/alerts/pagerduty", data=ack, headers=pd_headers(ack, "wh-43"))
    assert (await third.json())["action"] == "matched"
    assert len(starter.workflows) == 1


async def test_resolved_notification_resolves(http: TestClient, starter: FakeStarter) -> None:
    fired = await http.post("/v1/alerts/alertmanager", data=example("alertmanager-grouped.json"), headers=AM)
    resolved = await http.post("/v1/alerts/alertmanager", data=example("alertmanager-resolved.json"), headers=AM)
    answer = await resolved.json()
    assert answer["action"] == "resolved" and answer["workflow_id"] == (await fired.json())["workflow_id"]
    assert starter.workflows[answer["workflow_id"]]["state"] == "drafting"


@pytest.mark.parametrize(
    ("path", "body", "headers", "status", "reason"),
    [
        ("/v1/alerts/nagios", b"{}", JSON, 404, "unknown alert source 'nagios'"),
        ("/v1/alerts/generic?org=initech", b"{}", JSON, 404, "unknown org 'initech'"),
        ("/v1/orgs/..%2F..%2Fetc/alerts/generic", b"{}", JSON, 404, "unknown org"),
        ("/v1/alerts/alertmanager", b"{}", JSON, 401, "missing Authorization"),
        ("/v1/alerts/alertmanager", b"{}", {**JSON, "Authorization": "Bearer nope"}, 401, "not accepted"),
        ("/v1/alerts/pagerduty", b"{}", JSON, 401, "X-PagerDuty-Signature"),
        ("/v1/alerts/alertmanager", b"{}", {**AM, "Content-Type": "text/plain"}, 415, "application/json"),
        ("/v1/alerts/generic", b"{}", {"Content-Type": "application/x-www-form-urlencoded"}, 415, "content type"),
        ("/v1/alerts/alertmanager", b"{not json", AM, 400, "not valid JSON"),
        ("/v1/alerts/alertmanager", b"", AM, 400, "empty body"),
        ("/v1/alerts/alertmanager", b'{"groupKey": "x"}', AM, 400, "status"),
        ("/v1/alerts/generic", b"x" * (64 * 1024 + 1), JSON, 413, "over the limit"),
    ],
)
async def test_refusals_are_4xx_with_a_reason_and_start_nothing(
    http: TestClient, starter: FakeStarter, path: str, body: bytes, headers: dict[str, str], status: int, reason: str
) -> None:
    response = await http.post(path, data=body, headers=headers)
    answer = await response.json()
    assert response.status == status, answer
    assert reason in answer["reason"]
    assert starter.calls == []


async def test_oversized_body_without_content_length_is_413(http: TestClient, starter: FakeStarter) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(100):
            yield b" " * 1024

    response = await http.post("/v1/alerts/generic", data=chunks(), headers=JSON)
    assert response.status == 413 and starter.calls == []


async def test_temporal_unreachable_is_503_with_retry_after(http: TestClient, starter: FakeStarter) -> None:
    starter.down = True
    response = await http.post("/v1/alerts/alertmanager", data=example("alertmanager-firing.json"), headers=AM)
    assert response.status == 503
    assert int(response.headers["Retry-After"]) > 0
    assert "retry later" in (await response.json())["reason"]
    starter.down = False  # the sender's retry goes through, and is not mistaken for a duplicate
    retry = await http.post("/v1/alerts/alertmanager", data=example("alertmanager-firing.json"), headers=AM)
    assert retry.status == 202 and (await retry.json())["action"] == "started"


async def test_policy_none_is_2xx_logged_and_starts_nothing(
    http: TestClient, starter: FakeStarter, caplog: pytest.LogCaptureFixture
) -> None:
    alert = json.loads(example("generic-firing.json"))
    alert["labels"]["postmortem"] = "none"
    caplog.set_level("INFO", logger="afterword.intake")
    response = await http.post("/v1/alerts/generic", json=alert)
    answer = await response.json()
    assert response.status == 202
    assert (answer["action"], answer["requirement"]) == ("ignored", "none")
    assert answer["reasons"] == ["labelled postmortem=none"]
    assert starter.calls == []
    assert "labelled postmortem=none" in caplog.text


async def test_org_in_the_path(http: TestClient, starter: FakeStarter) -> None:
    response = await http.post("/v1/orgs/acme/alerts/generic", data=example("generic-firing.json"), headers=JSON)
    answer = await response.json()
    assert response.status == 202 and answer["workflow_id"].startswith("pm-acme-")


async def test_healthz(http: TestClient) -> None:
    response = await http.get("/healthz")
    assert response.status == 200 and (await response.json())["ok"] is True


async def test_wrong_method_is_4xx(http: TestClient) -> None:
    response = await http.get("/v1/alerts/generic")
    assert response.status == 405


async def test_the_generic_schema_is_published(http: TestClient) -> None:
    response = await http.get("/v1/schemas/afterword.alert/v1")
    schema = await response.json()
    assert schema["properties"]["schema"]["const"] == "afterword.alert/v1"
    assert {"key", "status", "title"} <= set(schema["required"])


async def test_grafana_and_opsgenie_prove_their_origin(starter: FakeStarter, settings: Settings) -> None:
    import time

    config = IntakeConfig(
        sources={
            "grafana": SourceConfig(
                signing_secrets=["env:GF"], timestamp_header="X-Grafana-Alerting-Signature-Timestamp"
            ),
            "opsgenie": SourceConfig(tokens=["env:OG"]),
        },
        allow_unauthenticated=False,
    )
    app = build_app(starter, settings, FakePolicies(), config=config, env={"GF": "gf-secret", "OG": "og-token"})
    async with TestClient(TestServer(app)) as client:
        body = example("grafana-firing.json")
        stamp = str(int(time.time()))
        signature = hmac.new(b"gf-secret", stamp.encode() + b":" + body, hashlib.sha256).hexdigest()
        signed = {**JSON, "X-Grafana-Alerting-Signature": signature, "X-Grafana-Alerting-Signature-Timestamp": stamp}
        assert (await client.post("/v1/alerts/grafana", data=body, headers=signed)).status == 202
        replayed = {**signed, "X-Grafana-Alerting-Signature-Timestamp": str(int(stamp) - 3600)}
        assert (await client.post("/v1/alerts/grafana", data=body, headers=replayed)).status == 401
        og = example("opsgenie-create.json")
        assert (await client.post("/v1/alerts/opsgenie", data=og, headers=JSON)).status == 401
        ok = await client.post("/v1/alerts/opsgenie", data=og, headers={**JSON, "X-Afterword-Token": "og-token"})
        assert ok.status == 202
        generic = await client.post("/v1/alerts/generic", data=example("generic-firing.json"), headers=JSON)
        assert generic.status == 401  # no credentials configured and unauthenticated refused
    assert len(starter.workflows) == 2
