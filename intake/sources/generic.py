"""The generic JSON schema, `afterword.alert/v1`, for anything that is not one of the named sources.

The schema is versioned by its `schema` field; a future v2 will be accepted beside v1, never instead.
It is documented in docs/intake.md and its JSON Schema is `Alert.model_json_schema()`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from afterword.intake.moments import IncidentTime
from afterword.intake.sources.common import (
    LabelMap,
    Notification,
    Status,
    bounded_labels,
    bounded_links,
    load_json,
    validate,
)
from afterword.workflows.models import MAX_DESCRIPTION, MAX_KEY, MAX_LABEL_VALUE, MAX_LINKS, MAX_NAME, MAX_TITLE

NAME = "generic"
SCHEMA_V1 = "afterword.alert/v1"


class Alert(BaseModel):
    """afterword.alert/v1: one incident's state, as any program can send it."""

    model_config = ConfigDict(extra="forbid", title="afterword.alert/v1")

    schema_: Literal["afterword.alert/v1"] = Field(alias="schema", description="schema name and version")
    key: str = Field(min_length=1, max_length=MAX_KEY, description="your stable id for this incident")
    status: Literal["firing", "resolved"]
    title: str = Field(min_length=1, max_length=MAX_TITLE)
    severity: str | None = Field(
        default=None, max_length=64, description="your severity; the policy maps it (label `severity`)"
    )
    service: str = Field(default="unknown", max_length=MAX_NAME)
    team: str | None = Field(default=None, max_length=MAX_NAME)
    labels: LabelMap = Field(default_factory=dict)
    annotations: LabelMap = Field(default_factory=dict)
    links: list[str] = Field(default_factory=list, max_length=MAX_LINKS)
    started_at: IncidentTime | None = Field(default=None, description="RFC 3339; default: when received")
    resolved_at: IncidentTime | None = Field(default=None, description="RFC 3339, for status=resolved")
    description: str = Field(default="", max_length=MAX_DESCRIPTION)
    security: bool = False
    legal: bool = False


def parse(body: bytes, headers: Mapping[str, str] | None = None) -> Notification:
    data = load_json(body)
    alert = validate(Alert, data, f"generic alert ({SCHEMA_V1})")
    now = datetime.now(UTC)
    started = alert.started_at or now
    labels = bounded_labels(
        {"severity": alert.severity} if alert.severity else None,
        {k: v[:MAX_LABEL_VALUE] for k, v in alert.labels.items()},
    )
    return Notification(
        source=NAME,
        key=alert.key,
        status=Status(alert.status),
        title=alert.title,
        service=alert.service,
        team=alert.team,
        labels=labels,
        annotations=bounded_labels(alert.annotations),
        links=bounded_links(alert.links),
        started_at=started,
        latest_start=started,
        resolved_at=(alert.resolved_at or now) if alert.status == "resolved" else None,
        description=alert.description,
        security=alert.security,
        legal=alert.legal,
    )
