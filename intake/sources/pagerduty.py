"""PagerDuty v3 webhooks (incident.* events).

The incident id (`data.id`, e.g. PGR0VU2) is the incident key; the event id (`event.id`) identifies
the delivery: it stays the same across PagerDuty's retries, like the `X-Webhook-Id` header, and unlike
the header it is signed, so a captured event re-sent under another header id is recognised too.
Priority (P1..) and urgency go into labels for the policy's severity mapping.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from afterword.intake.moments import IncidentTime
from afterword.intake.sources.common import (
    Notification,
    Status,
    bounded_labels,
    bounded_links,
    flags,
    load_json,
    validate,
)
from afterword.workflows.models import MAX_DESCRIPTION, MAX_TITLE, clip

NAME = "pagerduty"
RESOLVING = {"incident.resolved"}
REOPENING = {"incident.reopened"}


class Reference(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str | None = None
    summary: str | None = None
    html_url: str | None = None


class IncidentData(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str = Field(min_length=1)
    type: str | None = None
    number: int | None = None
    title: str = ""
    status: str | None = None
    incident_key: str | None = None
    html_url: str | None = None
    created_at: IncidentTime | None = None
    urgency: str | None = None
    service: Reference | None = None
    priority: Reference | None = None
    teams: list[Reference] = Field(default_factory=list)


class Event(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str = Field(min_length=1, max_length=200)  # signed with the body: the delivery's identity
    event_type: str = Field(min_length=1)
    resource_type: str = ""
    occurred_at: IncidentTime
    agent: Reference | None = None
    data: dict[str, Any]


class Envelope(BaseModel):
    model_config = ConfigDict(extra="allow")
    event: Event


def parse(body: bytes, headers: Mapping[str, str] | None = None) -> Notification:
    event = validate(Envelope, load_json(body), "PagerDuty v3 webhook").event
    # the event id, not the X-Webhook-Id header: the signature covers the body, never the headers, so a
    # captured event re-sent under a new header id is still recognised (both are stable across retries)
    delivery = event.id
    occurred = event.occurred_at
    if not event.event_type.startswith("incident.") or event.resource_type not in ("", "incident"):
        # service/other events carry no incident: acknowledged and logged, nothing started
        return Notification(
            source=NAME,
            key=f"event:{event.id}",
            status=Status.IGNORED,
            delivery_id=delivery,
            sent_at=occurred,
            title=event.event_type,
            started_at=occurred,
            latest_start=occurred,
            note=f"{event.event_type} is not an incident event",
        )
    data = validate(IncidentData, event.data, "PagerDuty v3 webhook", within=("event", "data"))
    labels = bounded_labels(
        {
            "priority": data.priority.summary if data.priority else None,
            "urgency": data.urgency,
            "pagerduty_status": data.status,
            "pagerduty_service": data.service.summary if data.service else None,
            "pagerduty_incident_key": data.incident_key,
            "team": data.teams[0].summary if data.teams else None,
        }
    )
    started = data.created_at or occurred
    if event.event_type in RESOLVING:
        status = Status.RESOLVED
    elif event.event_type in REOPENING:
        status = Status.REOPENED
    else:
        # triggered / acknowledged / priority_updated / escalated / annotated ...: the incident is open
        status = Status.FIRING
    security, legal = flags(labels)
    agent = event.agent.summary if event.agent and event.agent.summary else "PagerDuty"
    return Notification(
        source=NAME,
        key=data.id,
        status=status,
        delivery_id=delivery,
        sent_at=occurred,
        title=clip(data.title or f"PagerDuty incident {data.id}", MAX_TITLE),
        service=(data.service.summary if data.service and data.service.summary else "unknown"),
        team=labels.get("team"),
        labels=labels,
        links=bounded_links([data.html_url, data.service.html_url if data.service else None]),
        started_at=started,
        latest_start=occurred if status is Status.REOPENED else started,
        resolved_at=occurred if status is Status.RESOLVED else None,
        description=clip(f"PagerDuty {event.event_type} by {agent}", MAX_DESCRIPTION),
        security=security,
        legal=legal,
    )
