"""The records of a postmortem's evidence, as data: manifests and their items and gaps, the manifest
log's entries, custody lines, a legal hold, verify and purge reports.

Pure pydantic models with no file access, so that a client far from the worker's disk (the CLI) can read
what the worker's evidence activities send back; `custody.py` writes and reads them on that disk.
"""

from __future__ import annotations

import getpass
import os
import socket
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MANIFEST_FORMAT = "afterword-evidence-manifest/1"


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ItemRecord(_Record):
    """One evidence item as the manifest lists it."""

    id: str = Field(description="stable key: <phase>/<source>/<name>; a retry reuses it")
    source: str
    kind: str
    target: str = Field(description="query, path, glob, URL or repository that was collected")
    start: datetime | None = None
    end: datetime | None = None
    collected_at: datetime
    collector: str
    size: int
    sha256: str
    media_type: str = "application/octet-stream"
    note: str = ""
    phase: str
    meta: dict[str, str] = Field(default_factory=dict, description="hints for reading events back")


class Gap(_Record):
    """A source that could not be captured: recorded, never a failure."""

    source: str
    target: str
    reason: str
    attempts: int
    suggested_action: str

    def describe(self) -> str:
        return f"{self.source} ({self.target}): {self.reason} — suggested action: {self.suggested_action}"


class Manifest(_Record):
    format: str = MANIFEST_FORMAT
    postmortem_id: str
    org: str
    incident_key: str
    service: str
    version: int
    phase: str
    supersedes: str | None = None
    window_start: datetime
    window_end: datetime
    created_at: datetime
    collector: str
    retention_until: datetime
    items: list[ItemRecord]
    gaps: list[Gap] = Field(default_factory=list)
    items_digest: str = Field(description="sha256 over the sorted (id, sha256) pairs and `supersedes`")
    skew_tolerance_seconds: float = Field(default=5.0, description="the policy's skew_tolerance, for the timeline")


class ManifestEntry(_Record):
    ref: str
    version: int
    phase: str
    supersedes: str | None
    sealed_at: datetime


class CustodyEntry(_Record):
    seq: int
    at: datetime
    who: str
    action: str
    ref: str | None = None
    item: str | None = None
    where: str
    detail: str = ""
    prev: str | None = Field(description="sha256 of the previous line, None for the first")


class Hold(_Record):
    by: str
    at: datetime
    reason: str


class Problem(_Record):
    """One finding of `verify`: what is wrong and with which item."""

    kind: Literal["item-missing", "item-changed", "manifest-changed", "manifest-missing", "custody-broken"]
    subject: str
    detail: str


class VerifyReport(_Record):
    postmortem_id: str
    manifest_ref: str | None
    items_checked: int
    bytes_checked: int
    problems: list[Problem] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


class Purged(_Record):
    """The mark a purge leaves: who, when, how many blobs went."""

    by: str
    at: datetime
    blobs: int


class PurgeOutcome(_Record):
    postmortem_id: str
    action: Literal["purged", "kept"]
    reason: str
    bytes_freed: int = 0


def default_identity() -> str:
    """Who acts, as custody records it when nobody says: user@host of this machine."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = f"uid{os.getuid()}"
    return f"{user}@{socket.gethostname()}"
