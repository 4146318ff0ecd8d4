"""Opsgenie outgoing webhooks (alert actions). Opsgenie support ends 2027-04-05, so this stays small.

The alert's `alias` (Opsgenie's own de-duplication key) is the incident key, the alert id otherwise.
`Create` fires, `Close` resolves, `Delete` is acknowledged and ignored, and every other action
(Acknowledge, AddNote, Escalate, ...) only confirms that the incident is open.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from afterword.intake.moments import check_window
from afterword.intake.refusals import Malformed
from afterword.intake.sources.common import (
    LabelMap,
    Notification,
    Status,
    bounded_labels,
    flags,
    load_json,
    validate,
)
from afterword.workflows.models import MAX_DESCRIPTION, MAX_TITLE, clip

NAME = "opsgenie"
DESCRIPTION_LIMIT = 1_000  # Opsgenie truncates description and details at this length
Epoch = Annotated[StrictInt, Field(ge=0, le=2**63 - 1)]  # Opsgenie's times are Java longs


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
    details: LabelMap = Field(default_factory=dict)  # Opsgenie's custom properties: text to text
    createdAt: Epoch | None = None
    updatedAt: Epoch | None = None


class Payload(BaseModel):
    model_config = ConfigDict(extra="allow")
    action: str = Field(min_length=1)
    alert: Alert
    integrationName: str | None = None


def epoch(value: int | None, field: str) -> datetime | None:
    """Opsgenie sends createdAt in milliseconds and updatedAt in nanoseconds; 0 or absent: None."""
    if not value:
        return None
    seconds = value / 1e9 if value > 10**14 else value / 1e3
    try:
        return check_window(datetime.fromtimestamp(seconds, tz=UTC))
    except (OverflowError, OSError, ValueError) as exc:
        raise Malformed(f"Opsgenie webhook payload: alert.{field}: {value} is no time an incident has: {exc}") from None


def parse(body: bytes, headers: Mapping[str, str] | None = None) -> Notification:
    payload = validate(Payload, load_json(body), "Opsgenie webhook payload")
    alert = payload.alert
    action = payload.action.lower()
    now = datetime.now(UTC)
    created = epoch(alert.createdAt, "createdAt") or now
    updated = epoch(alert.updatedAt, "updatedAt") or now
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
