"""Each source's realistic payloads map to the incident a person would expect (and bad ones to a 400)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from afterword.intake.refusals import Malformed
from afterword.intake.sources import PARSERS, Status, alertmanager, generic, grafana, opsgenie, pagerduty

from .fakes import example, example_json


def test_alertmanager_single_firing_alert() -> None:
    n = alertmanager.parse(example("alertmanager-firing.json"))
    assert n.status is Status.FIRING
    assert n.key.startswith("{}/{severity=")
    assert n.title == "Checkout error budget burning 14x"
    assert n.service == "checkout" and n.team == "payments"
    assert n.labels["instance"] == "checkout-1:8080"  # a lone alert's own labels are kept
    assert n.started_at == datetime(2026, 11, 20, 14, 2, 11, 482000, tzinfo=UTC)
    assert n.resolved_at is None
    assert "https://runbooks.example.com/checkout/error-budget" in n.links
    assert any(link.startswith("http://prometheus.example.com:9090/graph") for link in n.links)


def test_alertmanager_grouped_alerts_are_one_incident() -> None:
    n = alertmanager.parse(example("alertmanager-grouped.json"))
    assert n.alerts == 3
    assert n.title == "Checkout error budget burning 14x (3 alerts)"
    assert "instance" not in n.labels  # not common to the group
    assert n.started_at == datetime(2026, 11, 20, 14, 3, 11, 482000, tzinfo=UTC)  # the earliest
    assert n.latest_start == datetime(2026, 11, 20, 14, 5, 11, 482000, tzinfo=UTC)
    assert n.description.count("[firing]") == 3


def test_alertmanager_truncated_group_says_so() -> None:
    n = alertmanager.parse(example("alertmanager-truncated.json"))
    assert n.truncated == 7
    assert n.labels["afterword_truncated_alerts"] == "7"
    assert "(9 alerts)" in n.title
    assert "7 more alert(s)" in n.description


def test_alertmanager_resolved_uses_the_last_end_time() -> None:
    n = alertmanager.parse(example("alertmanager-resolved.json"))
    assert n.status is Status.RESOLVED
    assert n.resolved_at == datetime(2026, 11, 20, 15, 13, 41, 3000, tzinfo=UTC)
    assert n.key == alertmanager.parse(example("alertmanager-grouped.json")).key


def test_alertmanager_accepts_fields_of_newer_releases() -> None:
    data = example_json("alertmanager-firing.json") | {"notification_reason": "new", "routeLabels": {"a": "b"}}
    assert alertmanager.parse(json.dumps(data).encode()).status is Status.FIRING


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"groupKey": ""}, "groupKey"),
        ({"alerts": []}, "alerts"),
        ({"status": "exploded"}, "status"),
        ({"alerts": [{"status": "firing", "startsAt": "yesterday"}]}, "startsAt"),
    ],
)
def test_alertmanager_malformed_payloads_name_the_field(change: dict[str, object], reason: str) -> None:
    data = example_json("alertmanager-firing.json") | change
    with pytest.raises(Malformed, match=reason):
        alertmanager.parse(json.dumps(data).encode())


def test_pagerduty_lifecycle_events_map_to_one_incident() -> None:
    headers = {"X-Webhook-Id": "d6f6b3a0-0000-4000-8000-000000000001"}
    triggered = pagerduty.parse(example("pagerduty-triggered.json"), headers)
    assert (triggered.key, triggered.status) == ("PGR0VU2", Status.FIRING)
    assert triggered.delivery_id == "5ac64822-4adc-4fda-ade0-410becf0de4f"  # the signed event id, not the header
    assert triggered.labels["priority"] == "P1" and triggered.labels["urgency"] == "high"
    assert triggered.service == "checkout" and triggered.team == "payments"
    assert triggered.links[0] == "https://acme.pagerduty.com/incidents/PGR0VU2"
    ack = pagerduty.parse(example("pagerduty-acknowledged.json"))
    assert ack.status is Status.FIRING and ack.latest_start == triggered.started_at  # not a new firing
    resolved = pagerduty.parse(example("pagerduty-resolved.json"))
    assert resolved.status is Status.RESOLVED
    assert resolved.resolved_at == datetime(2026, 11, 20, 15, 12, 48, 901000, tzinfo=UTC)
    reopened = pagerduty.parse(example("pagerduty-reopened.json"))
    assert reopened.status is Status.REOPENED and reopened.latest_start > resolved.resolved_at
    assert ack.delivery_id == "7b2e1c33-9f0a-4c5d-8e6f-1a2b3c4d5e6f"


def test_pagerduty_non_incident_events_are_ignored_not_refused() -> None:
    body = json.dumps(
        {
            "event": {
                "id": "x",
                "event_type": "service.updated",
                "resource_type": "service",
                "occurred_at": "2026-11-20T14:00:00Z",
                "data": {"id": "PSVC"},
            }
        }
    ).encode()
    assert pagerduty.parse(body).status is Status.IGNORED


def test_pagerduty_without_incident_id_is_malformed() -> None:
    data = example_json("pagerduty-triggered.json")
    del data["event"]["data"]["id"]
    with pytest.raises(Malformed, match=r"event.data.*id"):
        pagerduty.parse(json.dumps(data).encode())


def test_grafana_firing_and_resolved() -> None:
    firing = grafana.parse(example("grafana-firing.json"))
    resolved = grafana.parse(example("grafana-resolved.json"))
    assert firing.key == resolved.key and firing.key.startswith("org1:")
    assert firing.status is Status.FIRING and resolved.status is Status.RESOLVED
    assert firing.title == "Search p99 latency above 1.5 s"
    assert firing.service == "search" and firing.labels["severity"] == "warning"
    assert "https://grafana.example.com/d/search-slo?orgId=1" in firing.links
    assert resolved.resolved_at == datetime(2026, 11, 21, 10, 26, tzinfo=UTC)


def test_opsgenie_create_and_close() -> None:
    create = opsgenie.parse(example("opsgenie-create.json"))
    close = opsgenie.parse(example("opsgenie-close.json"))
    assert create.key == close.key == "payments-db-replication-lag"
    assert create.status is Status.FIRING and close.status is Status.RESOLVED
    assert create.labels["priority"] == "P1" and create.labels["service"] == "payments-db"
    assert create.started_at == datetime(2025, 11, 21, 9, 20, 0, 123000, tzinfo=UTC)
    assert close.resolved_at is not None and close.resolved_at > create.started_at


def test_opsgenie_truncated_description_is_noted() -> None:
    data = example_json("opsgenie-create.json")
    data["alert"]["description"] = "x" * 1000
    n = opsgenie.parse(json.dumps(data).encode())
    assert n.truncated == 1 and "truncated" in n.note


def test_generic_v1_round_trip() -> None:
    firing = generic.parse(example("generic-firing.json"))
    assert firing.key == "batch-2026-11-22-ledger" and firing.labels["severity"] == "SEV2"
    resolved = generic.parse(example("generic-resolved.json"))
    assert resolved.resolved_at == datetime(2026, 11, 22, 6, 40, tzinfo=UTC)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"schema": "afterword.alert/v9"}, "schema"),
        ({"surprise": 1}, "surprise"),
        ({"status": "maybe"}, "status"),
        ({"key": ""}, "key"),
    ],
)
def test_generic_schema_is_strict(change: dict[str, object], reason: str) -> None:
    data = example_json("generic-firing.json") | change
    with pytest.raises(Malformed, match=reason):
        generic.parse(json.dumps(data).encode())


@pytest.mark.parametrize("source", sorted(PARSERS))
@pytest.mark.parametrize("body", [b"", b"{", b"[]", b"null", b"\xff\xfe", b'{"a": 1}', b"[" * 100_000])
def test_every_source_refuses_junk_with_a_reason(source: str, body: bytes) -> None:
    with pytest.raises(Malformed) as refused:
        PARSERS[source](body, {})
    assert refused.value.reason


def test_labels_and_text_are_bounded() -> None:
    data = example_json("alertmanager-firing.json")
    data["commonLabels"] = {f"k{i}": "v" * 5000 for i in range(500)}
    data["alerts"] = data["alerts"] * 2
    n = alertmanager.parse(json.dumps(data).encode())
    assert len(n.labels) <= 64 and all(len(v) <= 1000 for v in n.labels.values())


def test_an_overlong_key_is_a_400_not_a_crash() -> None:
    data = example_json("alertmanager-firing.json") | {"groupKey": "k" * 5000}
    with pytest.raises(Malformed, match="key"):
        PARSERS["alertmanager"](json.dumps(data).encode(), {})
