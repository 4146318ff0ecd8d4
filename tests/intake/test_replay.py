"""A captured, signed delivery re-sent later changes nothing: PagerDuty events are recognised by their
signed `event.id` (not the unsigned `X-Webhook-Id`), also after the intake restarts, and refused once
older than `max_event_age`; Grafana's signed timestamp bounds and identifies its deliveries the same way."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from afterword.intake.configuration import IntakeConfig, SourceConfig
from afterword.intake.replay_guard import DeliveryLog, delivery_log_path
from afterword.intake.server import build_app
from afterword.settings import Settings

from .fakes import FakePolicies, FakeStarter, example, recent_pagerduty

SECRET = "pd-signing-secret"
JSON = {"Content-Type": "application/json"}
SIGNED = IntakeConfig(
    sources={
        "pagerduty": SourceConfig(signing_secrets=["env:PD"]),
        "grafana": SourceConfig(signing_secrets=["env:GF"], timestamp_header="X-Grafana-Alerting-Signature-Timestamp"),
    }
)
ENV = {"PD": SECRET, "GF": "gf-secret"}
Intake = Callable[[], Any]


def pd_delivery(payload: dict[str, Any], webhook_id: str) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return body, {**JSON, "X-PagerDuty-Signature": f"v1={signature}", "X-Webhook-Id": webhook_id}


@pytest.fixture
def starter() -> FakeStarter:
    return FakeStarter()


@pytest.fixture
def intake(starter: FakeStarter, tmp_path: Path) -> Callable[..., Any]:
    """An intake on `tmp_path`; each `async with intake()` is a fresh process's worth of memory (a restart)
    in front of the same Temporal (the starter) and the same data directory."""

    @asynccontextmanager
    async def running(config: IntakeConfig = SIGNED) -> AsyncIterator[TestClient]:
        app = build_app(starter, Settings(data_dir=tmp_path), FakePolicies(), config=config, env=ENV)
        async with TestClient(TestServer(app)) as client:
            yield client

    return running


async def test_a_captured_reopen_replayed_under_a_new_webhook_id_reopens_nothing_even_after_a_restart(
    intake: Callable[..., Any], starter: FakeStarter
) -> None:
    events = {name: recent_pagerduty(name) for name in ("triggered", "resolved", "reopened")}
    second_resolve = recent_pagerduty("resolved")
    second_resolve["event"]["id"] = "a-second-resolution"
    second_resolve["event"]["occurred_at"] = datetime.now(UTC).isoformat()
    async with intake() as http:
        for number, name in enumerate(events):
            body, headers = pd_delivery(events[name], f"wh-{number}")
            assert (await http.post("/v1/alerts/pagerduty", data=body, headers=headers)).status == 202
        body, headers = pd_delivery(second_resolve, "wh-3")
        assert (await (await http.post("/v1/alerts/pagerduty", data=body, headers=headers)).json())["action"] == (
            "resolved"
        )
        (workflow,) = starter.workflows.values()
        assert starter.count("reopen") == 1 and workflow["state"] == "drafting"

        captured, _ = pd_delivery(events["reopened"], "wh-2")
        _, replay_headers = pd_delivery(events["reopened"], "attacker-chosen-id")
        replayed = await http.post("/v1/alerts/pagerduty", data=captured, headers=replay_headers)
        answer = await replayed.json()
        assert replayed.status == 202 and answer["duplicate"] is True and answer["action"] == "reopened"
    assert starter.count("reopen") == 1 and workflow["state"] == "drafting"

    async with intake() as http:  # restarted: the memory of what was applied is on disk
        _, headers = pd_delivery(events["reopened"], "yet-another-id")
        replayed = await http.post("/v1/alerts/pagerduty", data=captured, headers=headers)
        assert replayed.status == 202 and (await replayed.json())["duplicate"] is True
        body, headers = pd_delivery(events["triggered"], "wh-new")
        assert (await (await http.post("/v1/alerts/pagerduty", data=body, headers=headers)).json())["duplicate"]
    assert starter.count("reopen") == 1 and workflow["state"] == "drafting"
    assert starter.count("open") == 1


async def test_a_signed_event_older_than_max_event_age_is_refused_as_a_replay(
    intake: Callable[..., Any], starter: FakeStarter
) -> None:
    event = recent_pagerduty("triggered")
    event["event"]["occurred_at"] = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    body, headers = pd_delivery(event, "wh-old")
    async with intake() as http:
        response = await http.post("/v1/alerts/pagerduty", data=body, headers=headers)
        answer = await response.json()
    assert response.status == 401 and "max_event_age" in answer["reason"] and "2:00:0" in answer["reason"], answer
    assert starter.calls == []
    patient = IntakeConfig(sources={**SIGNED.sources, "pagerduty": SourceConfig(
        signing_secrets=["env:PD"], max_event_age=timedelta(hours=3))})
    async with intake(patient) as http:
        assert (await http.post("/v1/alerts/pagerduty", data=body, headers=headers)).status == 202
    assert starter.count("open") == 1


async def test_an_unsigned_pagerduty_source_has_no_age_bound(
    intake: Callable[..., Any], starter: FakeStarter
) -> None:
    """Without a signing secret anyone can make up any body: an age bound would protect nothing (and the
    examples of years past still replay through an open intake on loopback)."""
    open_on_loopback = IntakeConfig(allow_unauthenticated=True)
    async with intake(open_on_loopback) as http:
        response = await http.post("/v1/alerts/pagerduty", data=example("pagerduty-triggered.json"), headers=JSON)
        assert response.status == 202 and (await response.json())["action"] == "started"


async def test_a_grafana_delivery_replayed_within_its_skew_after_a_restart_is_recognised(
    intake: Callable[..., Any], starter: FakeStarter
) -> None:
    body = example("grafana-resolved.json")
    stamp = str(int(time.time()))
    signature = hmac.new(b"gf-secret", stamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    headers = {**JSON, "X-Grafana-Alerting-Signature": signature, "X-Grafana-Alerting-Signature-Timestamp": stamp}
    async with intake() as http:
        first = await http.post("/v1/alerts/grafana", data=body, headers=headers)
        assert first.status == 202 and (await first.json())["duplicate"] is False
    async with intake() as http:
        again = await http.post("/v1/alerts/grafana", data=body, headers=headers)
        assert again.status == 202 and (await again.json())["duplicate"] is True
    assert starter.count("resolve") == 1


def test_the_delivery_log_forgets_what_expired_and_stays_within_its_bound(tmp_path: Path) -> None:
    path = delivery_log_path(Settings(data_dir=tmp_path))
    log = DeliveryLog(path, max_entries=100)
    now = time.time()
    log.put("expired", now - 1, {"action": "matched"}, now=now)
    assert log.get("expired", now=now) is None
    for number in range(1_000):
        log.put(f"event-{number}", now + 3600 + number, {"action": "started", "n": number}, now=now)
    log.close()
    reopened = DeliveryLog(path, max_entries=100)  # pruned on open, as at an intake's start
    assert len(reopened) == 100
    assert reopened.get("event-999", now=now) == {"action": "started", "n": 999}  # the latest to expire stay
    assert reopened.get("event-0", now=now) is None
    assert reopened.get("event-999", now=now + 3600 + 1000) is None  # once expired, gone
