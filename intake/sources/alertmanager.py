"""Prometheus Alertmanager webhook, payload version 4.

One notification is one alert group; its `groupKey` is stable for the group across re-sends, retries
and resolution, so it is the incident key. `truncatedAlerts` counts alerts Alertmanager left out
(`max_alerts`): the postmortem notes it rather than pretending the list is complete.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from afterword.intake.moments import EndTime, IncidentTime
from afterword.intake.sources.common import (
    LabelMap,
    Notification,
    Status,
    bounded_labels,
    bounded_links,
    flags,
    load_json,
    validate,
)
from afterword.workflows.models import MAX_DESCRIPTION, MAX_TITLE, clip

NAME = "alertmanager"
MAX_TRUNCATED = 2**31 - 1  # Alertmanager counts them in a Go int; anything larger is not its payload


class Alert(BaseModel):
    model_config = ConfigDict(extra="allow")
    status: str = Field(pattern="^(firing|resolved)$")
    labels: LabelMap = Field(default_factory=dict)
    annotations: LabelMap = Field(default_factory=dict)
    startsAt: IncidentTime
    endsAt: EndTime = None  # Go's zero time while firing: None
    generatorURL: str | None = None
    fingerprint: str | None = None


class Payload(BaseModel):
    model_config = ConfigDict(extra="allow")  # newer releases add fields (notification_reason, ...)
    version: str | None = None
    groupKey: str = Field(min_length=1)
    truncatedAlerts: StrictInt = Field(default=0, ge=0, le=MAX_TRUNCATED)
    status: str = Field(pattern="^(firing|resolved)$")
    receiver: str = ""
    groupLabels: LabelMap = Field(default_factory=dict)
    commonLabels: LabelMap = Field(default_factory=dict)
    commonAnnotations: LabelMap = Field(default_factory=dict)
    externalURL: str | None = None
    alerts: list[Alert] = Field(min_length=1)


def title_for(labels: dict[str, str], annotations: dict[str, str], count: int, truncated: int) -> str:
    base = annotations.get("summary") or labels.get("alertname") or "Alertmanager alert group"
    total = count + truncated
    return clip(base if total <= 1 else f"{base} ({total} alerts)", MAX_TITLE)


def describe(payload: Payload) -> str:
    lines = [payload.commonAnnotations.get("description", "")]
    for alert in payload.alerts[:50]:
        summary = alert.annotations.get("summary") or alert.annotations.get("description", "")
        shown = ", ".join(f"{k}={v}" for k, v in sorted(alert.labels.items()) if k != "alertname")
        lines.append(f"- [{alert.status}] {alert.labels.get('alertname', '?')} {{{shown}}} {summary}".rstrip())
    if payload.truncatedAlerts:
        lines.append(f"- ... and {payload.truncatedAlerts} more alert(s) Alertmanager truncated (max_alerts)")
    return clip("\n".join(line for line in lines if line), MAX_DESCRIPTION)


def parse(body: bytes, headers: dict[str, str] | Any = None) -> Notification:
    payload = validate(Payload, load_json(body), "Alertmanager payload (version 4)")
    firing = [a for a in payload.alerts if a.status == "firing"] or payload.alerts
    # group labels identify the group; common labels are what all alerts share; a lone alert's own labels
    labels = bounded_labels(
        payload.groupLabels,
        payload.commonLabels,
        payload.alerts[0].labels if len(payload.alerts) == 1 else None,
    )
    if payload.truncatedAlerts:
        labels["afterword_truncated_alerts"] = str(payload.truncatedAlerts)
    annotations = bounded_labels(payload.commonAnnotations)
    ends = [a.endsAt for a in payload.alerts if a.endsAt is not None]
    resolved = payload.status == "resolved"
    security, legal = flags(labels)
    return Notification(
        source=NAME,
        key=payload.groupKey,
        status=Status.RESOLVED if resolved else Status.FIRING,
        title=title_for(labels, annotations, len(payload.alerts), payload.truncatedAlerts),
        service=labels.get("service") or labels.get("job") or "unknown",
        team=labels.get("team"),
        labels=labels,
        annotations=annotations,
        links=bounded_links(
            [payload.externalURL, annotations.get("runbook_url"), annotations.get("dashboard")]
            + [a.generatorURL for a in payload.alerts]
        ),
        started_at=min(a.startsAt for a in payload.alerts),
        latest_start=max(a.startsAt for a in firing),
        resolved_at=(max(ends) if ends else None) if resolved else None,
        description=describe(payload),
        security=security,
        legal=legal,
        alerts=len(payload.alerts),
        truncated=payload.truncatedAlerts,
    )
