"""The incident record and the raw alert payload: the first two evidence items of every postmortem.

Neither is collected over the network (the intake stored the payload already), so these are not
sources; this module reads them back as timeline events and finds the alert expressions
(Prometheus `generatorURL` links carry the rule's PromQL in the `g0.expr` parameter).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

from afterword.activities.adapters.base import Event, parse_time
from afterword.workflows.models import Incident

INCIDENT_KIND = "incident"
ALERT_KIND = "alert-payload"
_ZERO_TIME = "0001-01-01"


def incident_events(data: bytes, meta: dict[str, str]) -> list[Event]:
    incident = Incident.model_validate_json(data)
    key = f"incident:{incident.org}:{incident.key}"
    events = [
        Event(
            at=parse_time(incident.started_at.isoformat()) or incident.started_at,
            text=f"Incident started: {incident.title} ({incident.severity}, service {incident.service})",
            key=f"{key}:started",
        )
    ]
    if incident.resolved_at is not None:
        events.append(
            Event(
                at=parse_time(incident.resolved_at.isoformat()) or incident.resolved_at,
                text=f"Incident resolved: {incident.title}",
                key=f"{key}:resolved",
            )
        )
    return events


def _alert_identity(alert: dict[str, Any]) -> str:
    fingerprint = alert.get("fingerprint")
    if isinstance(fingerprint, str) and fingerprint:
        return fingerprint
    labels = alert.get("labels") or {}
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels)) if isinstance(labels, dict) else "?"


def _alert_name(alert: dict[str, Any]) -> str:
    labels = alert.get("labels") or {}
    name = labels.get("alertname") if isinstance(labels, dict) else None
    return str(name or alert.get("title") or "alert")


def alertmanager_events(payload: dict[str, Any]) -> list[Event]:
    """Alertmanager and Grafana webhook bodies: one event per alert start, one per alert end."""
    events: list[Event] = []
    for alert in payload.get("alerts") or []:
        if not isinstance(alert, dict):
            continue
        name = _alert_name(alert)
        ident = _alert_identity(alert)
        labels = alert.get("labels") or {}
        where = ", ".join(f"{k}={v}" for k, v in sorted(labels.items()) if k != "alertname")
        starts = parse_time(str(alert.get("startsAt") or ""))
        if starts is not None and not str(alert.get("startsAt")).startswith(_ZERO_TIME):
            text = f"Alert {name} firing" + (f" ({where})" if where else "")
            events.append(Event(at=starts, text=text, key=f"alert:{ident}:firing"))
        ends_raw = str(alert.get("endsAt") or "")
        ends = parse_time(ends_raw)
        if ends is not None and not ends_raw.startswith(_ZERO_TIME) and alert.get("status") == "resolved":
            events.append(Event(at=ends, text=f"Alert {name} resolved", key=f"alert:{ident}:resolved"))
    return events


def pagerduty_events(payload: dict[str, Any]) -> list[Event]:
    event = payload.get("event")
    if not isinstance(event, dict):
        return []
    at = parse_time(str(event.get("occurred_at") or ""))
    if at is None:
        return []
    data = event.get("data") if isinstance(event.get("data"), dict) else {}
    assert isinstance(data, dict)
    kind = str(event.get("event_type") or "event")
    title = str(data.get("title") or data.get("id") or "")
    return [Event(at=at, text=f"PagerDuty {kind}: {title}".strip(), key=f"pagerduty:{event.get('id', at)}")]


def alert_payload_events(data: bytes, meta: dict[str, str]) -> list[Event]:
    try:
        payload = json.loads(data)
    except ValueError:
        return []
    if not isinstance(payload, dict):
        return []
    if isinstance(payload.get("alerts"), list):
        return alertmanager_events(payload)
    if "event" in payload:
        return pagerduty_events(payload)
    return []


def alert_expressions(payload: bytes | None, links: list[str]) -> list[tuple[str, str]]:
    """(Prometheus base URL, PromQL) for each distinct alert expression in generator URLs."""
    urls: list[str] = list(links)
    if payload:
        try:
            body = json.loads(payload)
        except ValueError:
            body = None
        if isinstance(body, dict):
            for alert in body.get("alerts") or []:
                if isinstance(alert, dict) and isinstance(alert.get("generatorURL"), str):
                    urls.append(alert["generatorURL"])
    found: list[tuple[str, str]] = []
    for url in urls:
        parts = urlsplit(url)
        exprs = parse_qs(parts.query).get("g0.expr")
        if not exprs or not parts.scheme or not parts.netloc:
            continue
        # the UI lives at <base>/graph; anything before it is the route prefix of the API
        path = parts.path
        base_path = path[: -len("/graph")] if path.endswith("/graph") else path.rsplit("/", 1)[0]
        base = f"{parts.scheme}://{parts.netloc}{base_path}"
        pair = (base, exprs[0])
        if pair not in found:
            found.append(pair)
    return found
