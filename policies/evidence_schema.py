"""`EvidencePolicy`: the `[evidence]` section of an organisation's policy, as the evidence code reads it.

The policy engineer's schema embeds this model (or mirrors it); activities receive the section as a
plain dict (`req.policy.get("evidence", {})`) and validate it here. docs/evidence.md documents every key.
Durations accept seconds (number) or "90s" / "30m" / "2h" / "1d" strings.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

# log lines that become timeline rows unless a source says otherwise
DEFAULT_PATTERN = (
    r"(?i)\b(error|fatal|critical|panic|exception|timeout|refused|deploy\w*|rollback|restart\w*|oom\w*|killed)\b"
)

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}


def parse_duration(value: Any) -> Any:
    """'30m' -> timedelta(minutes=30); numbers are seconds; timedelta and ISO 8601 pass through."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])
    return value


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _ServiceScoped(_Section):
    services: list[str] = Field(default_factory=list, description="services this source applies to; empty: all")

    def applies_to(self, service: str) -> bool:
        return not self.services or service in self.services


class PrometheusQuery(_Section):
    expr: str = Field(min_length=1)
    name: str | None = None
    above: float | None = Field(default=None, description="timeline event when a series crosses above this")


class PrometheusConfig(_Section):
    enabled: bool = True
    url: str | None = Field(
        default=None, description="base URL of the Prometheus HTTP API; unset: the alert's generatorURL host"
    )
    alert_expression: bool = Field(default=True, description="also capture the alert's own g0.expr")
    queries: dict[str, list[PrometheusQuery | str]] = Field(
        default_factory=dict, description='service -> queries; "*" applies to every service'
    )
    step: Duration | None = Field(default=None, description="resolution; unset: window / 500, at least 1 s")
    bearer_token_env: str | None = Field(default=None, description="variable holding a bearer token")

    def queries_for(self, service: str) -> list[PrometheusQuery]:
        chosen: list[PrometheusQuery] = []
        for key in ("*", service):
            for query in self.queries.get(key, []):
                chosen.append(PrometheusQuery(expr=query) if isinstance(query, str) else query)
        return chosen


class LogFileConfig(_ServiceScoped):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9._-]+$")
    paths: list[str] = Field(min_length=1, description="files or glob patterns")
    timeline_pattern: str = Field(
        default=DEFAULT_PATTERN,
        description="lines matching this become timeline rows (all lines in the window are kept as evidence)",
    )

    @field_validator("timeline_pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"timeline_pattern is not a valid regular expression: {exc}") from None
        return value


class HttpJsonConfig(_ServiceScoped):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9._-]+$")
    url: str = Field(description="URL template with {start}, {end} (RFC 3339), {start_unix}, {end_unix}, {service}")
    records_path: str = Field(default="", description="dotted path to the list of records; empty: the body")
    time_field: str = "timestamp"
    message_field: str = "message"
    headers: dict[str, str] = Field(default_factory=dict)
    bearer_token_env: str | None = None
    timeline_pattern: str = DEFAULT_PATTERN


class GitConfig(_ServiceScoped):
    name: str = Field(default="git", pattern=r"^[A-Za-z0-9._-]+$")
    repo: str = Field(description="path of a local clone (kept up to date by whoever deploys)")
    revisions: list[str] = Field(default_factory=lambda: ["--all"], description="what `git log` walks")


class SlackExportConfig(_ServiceScoped):
    name: str = Field(default="slack", pattern=r"^[A-Za-z0-9._-]+$")
    path: str = Field(description="directory of an unpacked Slack export")
    channels: list[str] = Field(default_factory=list, description="channel names; empty: all")


class SlackApiConfig(_ServiceScoped):
    name: str = Field(default="slack-api", pattern=r"^[A-Za-z0-9._-]+$")
    channels: list[str] = Field(min_length=1, description="channel ids (C0123...)")
    token_env: str = Field(default="SLACK_TOKEN", description="variable holding a token with channels:history")
    api_url: str = "https://slack.com/api"


class EvidencePolicy(_Section):
    """What to capture for an incident, from where, and how long to keep it."""

    margin_before: Duration = Field(default=timedelta(minutes=30), description="captured before the start")
    margin_after: Duration = Field(default=timedelta(minutes=15), description="captured after the resolve")
    retention_days: int | None = Field(default=None, ge=1, description="unset: AFTERWORD_RETENTION_DAYS")
    attempts: int = Field(default=3, ge=1, le=10, description="tries per source before it becomes a gap")
    backoff: Duration = Field(default=timedelta(seconds=1), description="first retry delay; doubles each try")
    timeout: Duration = Field(default=timedelta(seconds=15), description="per request")
    max_item_bytes: int = Field(default=64 << 20, ge=1024, description="larger items are truncated, and say so")
    skew_tolerance: Duration = Field(
        default=timedelta(seconds=5), description="two sources differing by more on one event are flagged"
    )
    prometheus: PrometheusConfig | None = Field(default_factory=PrometheusConfig)
    logs: list[LogFileConfig] = Field(default_factory=list)
    http_json: list[HttpJsonConfig] = Field(default_factory=list)
    git: list[GitConfig] = Field(default_factory=list)
    slack: list[SlackExportConfig] = Field(default_factory=list)
    slack_api: list[SlackApiConfig] = Field(default_factory=list)

    @classmethod
    def from_policy(cls, policy: dict[str, Any]) -> EvidencePolicy:
        """Read the `[evidence]` section of a whole-policy dict (absent: defaults)."""
        section = policy.get("evidence") or {}
        return cls.model_validate(section)
