"""The one interface every evidence source implements, and the small types it speaks.

A source collects raw bytes for a time window; it never touches the store, the manifest or the
chain of custody (the capture code does, so every source gets the same integrity guarantees).
Turning stored bytes back into timeline events is a pure function per `kind`, kept next to the
source (`extract_events`), so a timeline can always be rebuilt from the sealed evidence alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol, runtime_checkable

from afterword.workflows.models import Incident


@dataclass(frozen=True)
class Window:
    """The span of time a capture covers (aware datetimes, start <= end)."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("capture window bounds must carry a timezone")
        if self.end < self.start:
            raise ValueError(f"capture window ends ({self.end}) before it starts ({self.start})")

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment <= self.end


@dataclass(frozen=True)
class Collected:
    """One piece of evidence a source produced: bytes in memory, or a file to stream into the store."""

    name: str  # stable within the source: the same query/path always gives the same name
    target: str  # what was asked for: a PromQL expression, a path or glob, a URL, a repository
    media_type: str
    data: bytes | None = None
    file: Path | None = None
    window: Window | None = None
    note: str = ""
    # hints the event extractor needs later (e.g. a threshold); sealed into the manifest with the item
    meta: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if (self.data is None) == (self.file is None):
            raise ValueError("a collected item carries either data or a file, not both or neither")


@dataclass(frozen=True)
class Event:
    """One moment recovered from an evidence item.

    `key` identifies the same happening across sources (an alert fingerprint, a commit hash, a log
    message with its timestamp stripped): two sources reporting one key at different times reveal
    clock skew between them.
    """

    at: datetime
    text: str
    key: str
    count: int = 1
    until: datetime | None = None
    extra: dict[str, str] = field(default_factory=dict)


class SourceUnavailable(Exception):
    """The source could not be reached or answered with a server error: worth retrying."""


class SourceRejected(Exception):
    """The source answered but refused the request (bad query, missing file): retrying cannot help."""


@runtime_checkable
class EvidenceSource(Protocol):
    """An evidence source chosen by the policy for an incident's service."""

    @property
    def name(self) -> str:
        """Unique within one capture (e.g. "prometheus", "logs:api")."""
        ...

    @property
    def target(self) -> str:
        """What it reads, for people: a URL, a path or glob, a repository."""
        ...

    @property
    def kind(self) -> str:
        """Selects the event extractor for what this source stores (e.g. "prometheus-range")."""
        ...

    @property
    def instrument_hint(self) -> str:
        """What to do so that this source is there next time (becomes a suggested action item)."""
        ...

    async def collect(self, incident: Incident, window: Window) -> list[Collected]:
        """Gather evidence for the window; raise SourceUnavailable / SourceRejected on failure."""
        ...


def utc(moment: datetime) -> datetime:
    """Normalise to UTC; naive values are taken as UTC (log formats that omit the zone)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def parse_time(text: str) -> datetime | None:
    """ISO 8601 (with 'Z' or offset) or epoch seconds; None if it is neither."""
    text = text.strip()
    if not text:
        return None
    try:
        return utc(datetime.fromtimestamp(float(text), tz=UTC))
    except (ValueError, OverflowError, OSError):
        pass
    try:
        return utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        return None
