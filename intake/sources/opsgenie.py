"""Opsgenie outgoing webhooks (alert actions). Opsgenie support ends 2027-04-05, so this stays small.

The alert's `alias` (Opsgenie's own de-duplication key) is the incident key, the alert id otherwise.
`Create` fires, `Close` resolves, `Delete` is acknowledged and ignored, and every other action
(Acknowledge, AddNote, Escalate, ...) only confirms that the incident is open.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from afterword.intake.sources.common import (
    MAX_DESCRIPTION,
    MAX_TITLE,
    Notification,
    Status,
    bounded_labels,
    clip,
    flags,
    load_json,
    validate,
)

NAME = "opsgenie"
DESCRIPTION_LIMIT = 1_000  # Opsgenie truncates description and details at this length


class Alert(BaseModel):
    model_config = ConfigDict(extra="allow")
    alertId: str = Field(min_length=1)
    alias: str | None = None
    message: str = ""
    tinyId: str | None = None
    entity: str | None = None
    description: str | None = None
    priority: str | None = None
    source: str | None = None
    team: str | None = None
    tags: list[str] = Field(default_factory=list)
    details: dict[str, Any] = Field(default_factory=dict)
    createdAt: int | None = None
    updatedAt: int | None = None


class Payload(BaseModel):
    model_config = ConfigDict(extra="allow")
    action: str = Field(min_length=1)
    alert: Alert
    integrationName: str | None = None


def epoch(value: int | None) -> datetime | None:
    """Opsgenie sends createdAt in milliseconds and updatedAt in nanoseconds."""
    if value is None or value <= 0:
        return None
    seconds = value / 1e9 if value > 10**14 else value / 1e3
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def parse(body: bytes, headers: Mapping[str, str] | None = None) -> Notification:
    payload = validate(Payload, load_json(body), "Opsgenie webhook payload")
    alert = payload.alert
    action = payload.action.lower()
    now = datetime.now(UTC)
    created = epoch(alert.createdAt) or now
    updated = epoch(alert.updatedAt) or now
    status = {"create": Status.FIRING, "close": Status.RESOLVED, "delete": Status.IGNORED}.get(action, Status.FIRING)
    tags = {tag.partition(":")[0]: tag.partition(":")[2] or "true" for tag in alert.tags[:32]}
    labels = bounded_labels(
        {"priority": alert.priority, "team": alert.team, "entity": alert.entity}, alert.details, tags
    )
    description = alert.description or ""
    truncated = len(description) >= DESCRIPTION_LIMIT
    security, legal = flags(labels)
    return Notification(
        source=NAME,
        key=alert.alias or alert.alertId,
        status=status,
        title=clip(alert.message or f"Opsgenie alert {alert.tinyId or alert.alertId}", MAX_TITLE),
        service=labels.get("service") or alert.entity or "unknown",
        team=alert.team or None,
        labels=labels,
        started_at=created,
        latest_start=created,
        resolved_at=updated if status is Status.RESOLVED else None,
        description=clip(description, MAX_DESCRIPTION),
        security=security,
        legal=legal,
        truncated=1 if truncated else 0,
        note=f"Opsgenie action {payload.action}" + (" (description truncated by Opsgenie)" if truncated else ""),
    )
