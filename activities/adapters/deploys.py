"""Deploy events posted to the intake (`POST /v1/deploys`), kept as JSON lines per org and service and
captured like any log file: each deploy in the incident window becomes evidence and a timeline row.

The intake appends; the evidence capture reads. One file per service keeps a capture from reading
other services' deploys, and an append under a file lock keeps concurrent intakes from interleaving.
"""

from __future__ import annotations

import fcntl
import json
import re
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from afterword.activities.adapters.logs import LogFileSource
from afterword.intake.moments import IncidentTime
from afterword.workflows.models import Incident

_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
# the log source's timeline pattern: every deploy record is a timeline row
EVERY_LINE = r"."


class DeployEvent(BaseModel):
    """What a deploy pipeline posts (schema `afterword.deploy/v1`)."""

    model_config = ConfigDict(extra="forbid")

    service: str = Field(pattern=_NAME, description="the service deployed, as alerts name it")
    version: str | None = Field(default=None, max_length=128, description="version, tag or commit")
    at: IncidentTime | None = Field(default=None, description="when it happened (RFC 3339); default: received")
    description: str = Field(default="", max_length=1000)
    by: str | None = Field(default=None, max_length=128, description="pipeline or person")
    link: str | None = Field(default=None, max_length=2000, description="the pipeline run")


def deploy_log(evidence_dir: Path, org: str, service: str) -> Path:
    if not re.match(_NAME, org) or not re.match(_NAME, service):
        raise ValueError(f"org {org!r} and service {service!r} must be plain names")
    return Path(evidence_dir) / "deploys" / org / f"{service}.jsonl"


def record_deploy(evidence_dir: Path, org: str, event: DeployEvent) -> dict[str, str]:
    """Append one deploy to its service's log; returns the record as written."""
    at = (event.at or datetime.now(UTC)).astimezone(UTC)
    words = [f"deploy {event.service}", event.version or "", f"by {event.by}" if event.by else ""]
    message = " ".join(w for w in words if w) + (f": {event.description}" if event.description else "")
    record = {"timestamp": at.isoformat(), "message": message, **event.model_dump(mode="json", exclude_none=True)}
    record["at"] = at.isoformat()
    path = deploy_log(evidence_dir, org, event.service)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n"
    with open(path, "a", encoding="utf-8") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            fh.write(line)
            fh.flush()
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
    return record


def deploy_source(evidence_dir: Path, incident: Incident) -> LogFileSource | None:
    """The deploys posted for the incident's service, if any were."""
    try:
        path = deploy_log(evidence_dir, incident.org, incident.service)
    except ValueError:
        return None
    if not path.is_file():
        return None
    return LogFileSource("deploys", [str(path)], EVERY_LINE)
