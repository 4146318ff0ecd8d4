"""What every source turns its payload into: one `Notification` about one incident.

A source module only parses and maps; it never talks to Temporal or the policy. Severity is left to
the policy (`map_severity` over the labels), so sources put what the sender says about urgency into
labels (`severity`, `priority`, `urgency`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from afterword.intake.refusals import Malformed
from afterword.workflows.models import Incident

# Incident fields go into workflow history: keep them bounded whatever a sender puts in.
MAX_KEY = 512
MAX_TITLE = 300
MAX_DESCRIPTION = 8_000
MAX_LABELS = 64
MAX_LABEL_VALUE = 1_000
MAX_LINKS = 20
ZERO_TIME = datetime(1, 1, 1, tzinfo=UTC)
M = TypeVar("M", bound=BaseModel)


class Status(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"
    REOPENED = "reopened"  # the sender says explicitly: this incident is back (PagerDuty)
    IGNORED = "ignored"  # an event that concerns no incident state (e.g. a PagerDuty service event)


class Notification(BaseModel):
    """One delivery, mapped: which incident, what happened, and what the incident looks like."""

    model_config = ConfigDict(extra="forbid")

    source: str
    key: str = Field(min_length=1, max_length=MAX_KEY)
    status: Status
    delivery_id: str | None = Field(default=None, description="the sender's id for this delivery, if any")
    title: str
    service: str = "unknown"
    team: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    links: list[str] = Field(default_factory=list)
    started_at: datetime
    latest_start: datetime = Field(description="start of the newest firing in this delivery (flap detection)")
    resolved_at: datetime | None = None
    description: str = ""
    security: bool = False
    legal: bool = False
    alerts: int = 1
    truncated: int = 0
    note: str = ""

    def incident(self, org: str, severity: str, payload_ref: str | None, key: str | None = None) -> Incident:
        return Incident(
            org=org,
            key=key or self.key,
            source=self.source,
            title=self.title,
            severity=severity,
            service=self.service,
            team=self.team,
            labels=self.labels,
            annotations=self.annotations,
            links=self.links,
            started_at=self.started_at,
            resolved_at=self.resolved_at if self.status is Status.RESOLVED else None,
            security=self.security,
            legal=self.legal,
            description=self.description,
            payload_ref=payload_ref,
        )


def load_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except UnicodeDecodeError:
        raise Malformed("body is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise Malformed(f"body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise Malformed("body is not valid JSON: nested too deeply") from None


def validate(model: type[M], data: Any, what: str) -> M:
    """Validate `data` against a source's payload model; a failure is a 400 naming the field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise Malformed(f"{what}: {where}: {first['msg']}{more}") from None


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def bounded_labels(*sources: Mapping[str, Any] | None) -> dict[str, str]:
    """Merge label maps (earlier wins), stringify values, cap count and length."""
    merged: dict[str, str] = {}
    for source in sources:
        for name, value in (source or {}).items():
            if len(merged) >= MAX_LABELS:
                return merged
            if name not in merged and value is not None:
                merged[clip(str(name), 200)] = clip(value if isinstance(value, str) else str(value), MAX_LABEL_VALUE)
    return merged


def bounded_links(links: Iterable[str | None]) -> list[str]:
    seen: list[str] = []
    for link in links:
        if link and link not in seen and link.startswith(("http://", "https://")):
            seen.append(clip(link, 2_000))
        if len(seen) >= MAX_LINKS:
            break
    return seen


def truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"true", "yes", "1", "y"}


def flags(labels: Mapping[str, str]) -> tuple[bool, bool]:
    """(security, legal) as labelled by the sender: `security="true"`, `category="security"`, ..."""
    category = labels.get("category", "").lower()
    security = truthy(labels.get("security")) or category == "security"
    legal = truthy(labels.get("legal")) or category == "legal"
    return security, legal


def utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
