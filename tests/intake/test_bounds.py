"""What an incident carries into workflow history is bounded whatever a sender (or a person, or a program)
puts in: for every source, each text field that reaches the incident is cut to its cap."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from afterword.intake.configuration import IntakeConfig
from afterword.intake.server import build_app
from afterword.settings import Settings
from afterword.workflows.models import Incident

from .fakes import FakePolicies, FakeStarter, example_json, over_caps, recent_pagerduty

HUGE = "x" * 200_000
LINK = "https://example.com/" + "p" * 10_000
MANY = {f"name{i}{'n' * 300}": "v" * 2_000 for i in range(100)}


def alertmanager_like(data: dict[str, Any]) -> None:
    for labels in (data["groupLabels"], data["commonLabels"]):
        labels.update(MANY, service=HUGE, team=HUGE, alertname=HUGE)
    data["commonAnnotations"].update(MANY, summary=HUGE, description=HUGE, runbook_url=LINK, dashboard=LINK)
    data["externalURL"] = LINK
    data["alerts"] = [data["alerts"][0] | {"generatorURL": f"{LINK}{i}"} for i in range(30)]
    data["alerts"][0]["labels"] = MANY
    data["truncatedAlerts"] = 10**9


def grafana(data: dict[str, Any]) -> None:
    alertmanager_like(data)
    data["message"] = data["title"] = HUGE
    for alert in data["alerts"]:
        alert["dashboardURL"] = alert["panelURL"] = LINK


def pagerduty(data: dict[str, Any]) -> None:
    incident = data["event"]["data"]
    incident["title"] = HUGE
    incident["html_url"] = LINK
    incident["service"] |= {"summary": HUGE, "html_url": LINK}
    incident["teams"][0]["summary"] = HUGE
    incident["priority"]["summary"] = HUGE
    incident["incident_key"] = HUGE
    data["event"]["agent"]["summary"] = HUGE


def opsgenie(data: dict[str, Any]) -> None:
    alert = data["alert"]
    alert |= {"team": HUGE, "message": HUGE, "entity": HUGE, "description": HUGE, "priority": HUGE}
    alert["tags"] = [f"{'t' * 3000}{i}:{'v' * 3000}" for i in range(100)]
    alert["details"] = MANY


def generic(data: dict[str, Any]) -> None:
    # its schema refuses an over-long title, service or team (a 400); what it does not bound is cut
    data["labels"] = MANY
    data["annotations"] = MANY
    data["links"] = [f"{LINK}{i}" for i in range(20)]


CASES: dict[str, tuple[Callable[[], dict[str, Any]], Callable[[dict[str, Any]], None]]] = {
    "alertmanager": (lambda: example_json("alertmanager-grouped.json"), alertmanager_like),
    "grafana": (lambda: example_json("grafana-firing.json"), grafana),
    "pagerduty": (lambda: recent_pagerduty("triggered"), pagerduty),
    "opsgenie": (lambda: example_json("opsgenie-create.json"), opsgenie),
    "generic": (lambda: example_json("generic-firing.json"), generic),
}


@pytest.mark.parametrize("source", sorted(CASES))
async def test_every_text_reaching_history_is_within_its_cap(source: str, tmp_path: Path) -> None:
    make, enlarge = CASES[source]
    data = make()
    enlarge(data)
    body = json.dumps(data).encode()
    starter = FakeStarter()
    config = IntakeConfig(allow_unauthenticated=True, max_body_bytes=16 * 1024 * 1024)
    app = build_app(starter, Settings(data_dir=tmp_path), FakePolicies(), config=config)
    async with TestClient(TestServer(app)) as client:
        response = await client.post(f"/v1/alerts/{source}", data=body, headers={"Content-Type": "application/json"})
        assert response.status == 202, await response.text()
    (started,) = starter.workflows.values()
    incident = started["incident"]
    assert over_caps(incident) == []
    assert incident.title and incident.labels  # cut, not dropped


def test_a_person_or_program_describing_an_incident_is_bounded_too() -> None:
    """`afterword start` and `afterword.intake.api` build the Incident themselves: the model bounds it."""
    incident = Incident(
        org="acme", key="k", source=HUGE, title=HUGE, severity=HUGE, service=HUGE, team=HUGE, labels=MANY,
        annotations=MANY, links=[LINK] * 50, description=HUGE, started_at=datetime(2026, 11, 20, tzinfo=UTC),
    )
    assert over_caps(incident) == []
    assert incident.title.endswith("…") and len(incident.title) == 300
    with pytest.raises(ValueError, match="key"):
        Incident(org="acme", key="k" * 600, title="t", severity="SEV2", started_at=datetime(2026, 11, 20, tzinfo=UTC))
