"""Input a webhook format does not allow is refused with a 400 that names the field, never a 5xx and never
a start: numbers beyond what JSON readers take, times Python cannot convert or no incident has, epoch
numbers where the format has RFC 3339 strings, text that is not UTF-8, label names no policy could use.
The same window of times holds for the other ways in (`afterword start`, `afterword.intake.api`)."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from click.testing import CliRunner
from pydantic import ValidationError

from afterword.cli import main
from afterword.intake.configuration import IntakeConfig, SourceConfig
from afterword.intake.server import build_app
from afterword.settings import Settings
from afterword.workflows.models import Incident

from .fakes import FakePolicies, FakeStarter, example_json

JSON = {"Content-Type": "application/json"}
Change = Callable[[dict[str, Any]], None]


def alertmanager_start(value: object) -> Change:
    def change(data: dict[str, Any]) -> None:
        data["alerts"][0]["startsAt"] = value

    return change


def set_path(*path: str | int, value: object) -> Change:
    def change(data: dict[str, Any]) -> None:
        holder: Any = data
        for step in path[:-1]:
            holder = holder[step]
        holder[path[-1]] = value

    return change


FAR_FUTURE = (datetime.now(UTC) + timedelta(days=30)).isoformat()


@pytest.fixture
def starter() -> FakeStarter:
    return FakeStarter()


@pytest.fixture
async def http(starter: FakeStarter, tmp_path: Path) -> AsyncIterator[TestClient]:
    app = build_app(starter, Settings(data_dir=tmp_path), FakePolicies(), config=IntakeConfig(allow_unauthenticated=True))
    async with TestClient(TestServer(app)) as client:
        yield client


@pytest.mark.parametrize(
    ("source", "example", "change", "field", "reason"),
    [
        # times Python cannot convert to UTC: an OverflowError (a 500) before
        ("alertmanager", "alertmanager-firing", alertmanager_start("0001-01-01T00:00:00+01:00"), "startsAt", "calendar"),
        ("alertmanager", "alertmanager-firing", alertmanager_start("9999-12-31T23:59:59-01:00"), "startsAt", "calendar"),
        ("pagerduty", "pagerduty-triggered", set_path("event", "occurred_at", value="0001-01-01T00:00:00+01:00"),
         "event.occurred_at", "calendar"),
        ("generic", "generic-firing", set_path("started_at", value="9999-12-31T23:59:59-01:00"), "started_at",
         "calendar"),
        # times that parse but no incident has: accepted before, and every evidence capture failed on them
        ("alertmanager", "alertmanager-firing", alertmanager_start("0001-01-01T00:00:00Z"), "startsAt", "before 2000"),
        ("grafana", "grafana-firing", set_path("alerts", 0, "startsAt", value="1970-01-01T00:00:00Z"), "startsAt",
         "before 2000"),
        ("generic", "generic-firing", set_path("started_at", value=FAR_FUTURE), "started_at", "ahead of this host"),
        ("pagerduty", "pagerduty-triggered", set_path("event", "data", "created_at", value="2207-11-20T14:02:30Z"),
         "event.data.created_at", "ahead of this host"),
        # epoch numbers and digit strings were taken as epoch seconds
        ("alertmanager", "alertmanager-firing", alertmanager_start(1763647331), "startsAt", "not a number"),
        ("alertmanager", "alertmanager-firing", alertmanager_start("1763647331"), "startsAt", "RFC 3339"),
        ("generic", "generic-firing", set_path("started_at", value=1763647331.5), "started_at", "not a number"),
        ("pagerduty", "pagerduty-triggered", set_path("event", "occurred_at", value="1763647331"), "event.occurred_at",
         "RFC 3339"),
        ("generic", "generic-firing", set_path("started_at", value="2026-11-22T02:00:00"), "started_at", "zone"),
        # Opsgenie's times are epoch milliseconds: a huge one was an OverflowError
        ("opsgenie", "opsgenie-create", set_path("alert", "createdAt", value=10**30), "alert.createdAt", "less than"),
        ("opsgenie", "opsgenie-create", set_path("alert", "createdAt", value=99_000_000_000_000), "alert.createdAt",
         "no time an incident has"),
        ("opsgenie", "opsgenie-create", set_path("alert", "createdAt", value="1763716800123"), "alert.createdAt",
         "integer"),
        # a name of one space, or with a line break, is no label a policy could name
        ("alertmanager", "alertmanager-firing", set_path("commonLabels", " ", value="x"), "commonLabels[' '] (name)",
         "not a label name"),
        ("grafana", "grafana-firing", set_path("commonAnnotations", "a\nb", value="x"), "commonAnnotations",
         "not a label name"),
        ("generic", "generic-firing", set_path("labels", "", value="x"), "labels[''] (name)", "not a label name"),
        ("opsgenie", "opsgenie-create", set_path("alert", "details", " region", value="x"), "alert.details",
         "not a label name"),
        ("opsgenie", "opsgenie-create", set_path("alert", "details", "count", value=3), "alert.details.count",
         "string"),
        ("alertmanager", "alertmanager-firing", set_path("truncatedAlerts", value="7"), "truncatedAlerts", "integer"),
    ],
)
async def test_what_the_format_does_not_allow_is_a_400_naming_the_field(
    http: TestClient, starter: FakeStarter, source: str, example: str, change: Change, field: str, reason: str
) -> None:
    data = example_json(f"{example}.json")
    change(data)
    response = await http.post(f"/v1/alerts/{source}", data=json.dumps(data).encode(), headers=JSON)
    answer = await response.json()
    assert response.status == 400, answer
    assert field in answer["reason"] and reason in answer["reason"], answer["reason"]
    assert starter.calls == []


def body_of(example: str) -> bytes:
    return json.dumps(example_json(f"{example}.json")).encode()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"groupKey": ' + b"7" * 5000 + b"}", "number too long"),  # json.loads' ValueError was a 500
        (b'{"groupKey": 1e999}', "too large"),
        (b'{"groupKey": NaN}', "NaN is not a JSON number"),
        (body_of("alertmanager-firing").decode().encode("utf-16"), "UTF-16"),
        (b"\xef\xbb\xbf" + body_of("alertmanager-firing"), "byte order mark"),
        (body_of("alertmanager-firing").replace(b'"checkout"', b'"\xed\xa0\x80"'), "not UTF-8"),  # surrogate bytes
        (body_of("alertmanager-firing").replace(b'"checkout"', b'"\\ud800"', 1), "lone UTF-16 surrogate"),
    ],
)
async def test_a_body_that_is_not_json_as_rfc_8259_defines_it_is_a_400(
    http: TestClient, starter: FakeStarter, body: bytes, reason: str
) -> None:
    response = await http.post("/v1/alerts/alertmanager", data=body, headers=JSON)
    answer = await response.json()
    assert response.status == 400, answer
    assert reason in answer["reason"]
    assert starter.calls == []


async def test_a_lone_surrogate_is_refused_naming_where_it_is(http: TestClient) -> None:
    body = body_of("generic-firing").replace(b'"ledger"', b'"led\\udfffger"', 1)
    response = await http.post("/v1/alerts/generic", data=body, headers=JSON)
    assert response.status == 400 and "service" in (await response.json())["reason"]


async def test_alertmanagers_zero_end_while_firing_is_not_ended_not_an_error(
    http: TestClient, starter: FakeStarter
) -> None:
    data = example_json("alertmanager-grouped.json")
    assert {alert["endsAt"] for alert in data["alerts"]} == {"0001-01-01T00:00:00Z"}
    data["alerts"][1]["endsAt"] = "0001-01-01T00:00:00+00:00"  # the same zero, as Python writes it
    response = await http.post("/v1/alerts/alertmanager", data=json.dumps(data).encode(), headers=JSON)
    assert response.status == 202 and (await response.json())["action"] == "started"
    incident = next(iter(starter.workflows.values()))["incident"]
    assert incident.resolved_at is None


async def test_a_grafana_timestamp_of_unicode_digits_is_a_401_not_a_500(starter: FakeStarter, tmp_path: Path) -> None:
    config = IntakeConfig(
        sources={"grafana": SourceConfig(signing_secrets=["env:GF"], timestamp_header="X-Stamp")}
    )
    app = build_app(starter, Settings(data_dir=tmp_path), FakePolicies(), config=config, env={"GF": "gf"})
    body = body_of("grafana-firing")
    async with TestClient(TestServer(app)) as client:
        signature = hmac.new(b"gf", "²:".encode() + body, hashlib.sha256).hexdigest()
        headers = {**JSON, "X-Stamp": "²", "X-Grafana-Alerting-Signature": signature}
        response = await client.post("/v1/alerts/grafana", data=body, headers=headers)
        assert response.status == 401 and "X-Stamp" in (await response.json())["reason"]


async def test_a_deploy_at_the_calendars_edge_is_a_400(tmp_path: Path) -> None:
    app = build_app(FakeStarter(), Settings(data_dir=tmp_path), FakePolicies(), config=IntakeConfig(
        allow_unauthenticated=True))
    async with TestClient(TestServer(app)) as client:
        for at, reason in (("0001-01-01T00:00:00+01:00", "calendar"), (1763647331, "not a number")):
            body = json.dumps({"service": "checkout", "at": at}).encode()
            response = await client.post("/v1/deploys", data=body, headers=JSON)
            answer = await response.json()
            assert response.status == 400 and "at" in answer["reason"] and reason in answer["reason"], answer
    assert not (tmp_path / "evidence" / "deploys").exists()


def test_an_incident_refuses_times_no_incident_has() -> None:
    base: dict[str, Any] = {"org": "acme", "key": "k", "title": "t", "severity": "SEV2"}
    for started, reason in (
        (datetime(1, 1, 1, tzinfo=UTC), "before 2000"),
        ("9999-12-31T23:59:59-01:00", "end of the calendar"),
        (datetime(2026, 11, 20, 14, 0), "UTC offset"),
    ):
        with pytest.raises(ValidationError, match=reason):
            Incident(**base, started_at=started)


def test_afterword_start_refuses_a_start_outside_the_window_before_connecting() -> None:
    for started, reason in (("0001-01-01T00:00:00Z", "before 2000"), ("2207-01-01T00:00:00Z", "ahead of this host")):
        result = CliRunner().invoke(main, ["start", "--title", "Checkout down", "--started", started])
        assert result.exit_code != 0
        assert "not valid" in result.output and reason in result.output, result.output
