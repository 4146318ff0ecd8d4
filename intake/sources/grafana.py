"""Grafana alerting webhook (contact point of type webhook, payload version "1").

The body is Alertmanager's plus Grafana fields (`orgId`, `title`, `state`, `message`, per-alert
`values`, `dashboardURL`, `panelURL`, `silenceURL`). The incident key is Grafana's org id plus the
group key, so two Grafana orgs with equally named groups never share a postmortem.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from afterword.intake.sources import alertmanager
from afterword.intake.sources.alertmanager import MAX_TRUNCATED, title_for
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

NAME = "grafana"


class Alert(alertmanager.Alert):
    """Grafana's alerts are Alertmanager's, with links to the dashboard and the values that fired."""

    dashboardURL: str | None = None
    panelURL: str | None = None
    values: dict[str, Any] | None = None


class Payload(BaseModel):
    model_config = ConfigDict(extra="allow")
    version: str | None = None
    orgId: StrictInt | None = Field(default=None, ge=0, le=2**63 - 1)  # Grafana's org ids are int64
    groupKey: str = Field(min_length=1)
    truncatedAlerts: StrictInt = Field(default=0, ge=0, le=MAX_TRUNCATED)
    status: str = Field(pattern="^(firing|resolved)$")
    title: str | None = None
    message: str | None = None
    groupLabels: LabelMap = Field(default_factory=dict)
    commonLabels: LabelMap = Field(default_factory=dict)
    commonAnnotations: LabelMap = Field(default_factory=dict)
    externalURL: str | None = None
    alerts: list[Alert] = Field(min_length=1)


def parse(body: bytes, headers: Mapping[str, str] | None = None) -> Notification:
    payload = validate(Payload, load_json(body), "Grafana webhook payload")
    firing = [a for a in payload.alerts if a.status == "firing"] or payload.alerts
    labels = bounded_labels(
        payload.groupLabels,
        payload.commonLabels,
        payload.alerts[0].labels if len(payload.alerts) == 1 else None,
    )
    labels.pop("__alert_rule_uid__", None)
    if payload.truncatedAlerts:
        labels["afterword_truncated_alerts"] = str(payload.truncatedAlerts)
    annotations = bounded_labels(payload.commonAnnotations)
    ends = [a.endsAt for a in payload.alerts if a.endsAt is not None]
    resolved = payload.status == "resolved"
    security, legal = flags(labels)
    title = title_for(labels, annotations, len(payload.alerts), payload.truncatedAlerts)
    return Notification(
        source=NAME,
        key=f"org{payload.orgId or 1}:{payload.groupKey}",
        status=Status.RESOLVED if resolved else Status.FIRING,
        title=clip(title, MAX_TITLE),
        service=labels.get("service") or labels.get("grafana_folder") or "unknown",
        team=labels.get("team"),
        labels=labels,
        annotations=annotations,
        links=bounded_links(
            [payload.externalURL] + [u for a in payload.alerts for u in (a.dashboardURL, a.panelURL, a.generatorURL)]
        ),
        started_at=min(a.startsAt for a in payload.alerts),
        latest_start=max(a.startsAt for a in firing),
        resolved_at=(max(ends) if ends else None) if resolved else None,
        description=clip(payload.message or payload.title or "", MAX_DESCRIPTION),
        security=security,
        legal=legal,
        alerts=len(payload.alerts),
        truncated=payload.truncatedAlerts,
    )
