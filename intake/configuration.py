"""Intake configuration: limits and, per source, how a sender proves who it is.

Read from a TOML file (`AFTERWORD_INTAKE_CONFIG`, else `<data_dir>/intake.toml` when it exists); the
address itself comes from `Settings` (intake_host / intake_port). Secrets are never written inline:
each one is a reference, `env:NAME` (an environment variable) or `file:/path` (a file's content,
trailing newline stripped), resolved once when the intake starts. Several secrets per source may be
listed so a secret can be rotated without refusing a single delivery.
"""

from __future__ import annotations

import os
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from afterword.policies.durations import parse_wall_duration
from afterword.policies.integrations import SecretError, is_reference
from afterword.policies.integrations import resolve_secret as resolve_reference
from afterword.settings import Settings, is_loopback

SOURCES = ("alertmanager", "pagerduty", "grafana", "opsgenie", "generic")
DEFAULT_MAX_BODY = 256 * 1024  # PagerDuty drops anything larger; nothing legitimate is bigger


class ConfigError(Exception):
    """The intake configuration is unusable; the message names the key and what to write instead."""


def resolve_secret(ref: str, env: dict[str, str] | None = None) -> str:
    """Turn `env:NAME` / `file:/path` into the secret's value (the policy's resolver); anything else is
    refused as inline."""
    if not is_reference(ref):
        raise ConfigError(
            "secrets are never written inline: use 'env:VARIABLE' or 'file:/path/to/secret' "
            f"(got a value starting with {ref[:3]!r}...)"
        )
    try:
        return resolve_reference(ref, env)
    except SecretError as exc:
        raise ConfigError(str(exc)) from None


def _secret_ref(value: object) -> object:
    if isinstance(value, str) and not value.startswith(("env:", "file:")):
        raise ValueError("secrets are never written inline: use 'env:VARIABLE' or 'file:/path'")
    return value


SecretRef = Annotated[str, BeforeValidator(_secret_ref)]


class BasicAuth(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1)
    password: SecretRef


class SourceConfig(BaseModel):
    """How one source authenticates. Empty lists mean: this check is not configured."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    bearer_tokens: list[SecretRef] = Field(default_factory=list, description="Authorization: Bearer <token>")
    basic_auth: list[BasicAuth] = Field(default_factory=list)
    signing_secrets: list[SecretRef] = Field(default_factory=list, description="HMAC-SHA256 secrets")
    signature_header: str | None = Field(default=None, description="Grafana: header carrying the HMAC")
    timestamp_header: str | None = Field(default=None, description="Grafana: header carrying the timestamp")
    max_skew: timedelta = Field(default=timedelta(minutes=5), description="Grafana: accepted timestamp age")
    max_event_age: timedelta = Field(
        default=timedelta(hours=1),
        gt=timedelta(0),
        description="PagerDuty, when signed: events whose occurred_at is older are refused as replays (PagerDuty "
        "retries a delivery for about 20 minutes)",
    )
    token_header: str | None = Field(default=None, description="Opsgenie: custom header carrying a token")
    tokens: list[SecretRef] = Field(default_factory=list, description="Opsgenie: accepted header tokens")

    @field_validator("max_skew", "max_event_age", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> timedelta:
        return parse_wall_duration(value)

    @property
    def has_credentials(self) -> bool:
        return bool(self.bearer_tokens or self.basic_auth or self.signing_secrets or self.tokens)


class IntakeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_body_bytes: int = Field(default=DEFAULT_MAX_BODY, ge=1024, le=16 * 1024 * 1024)
    payload_with_start_max_bytes: int = Field(
        default=64 * 1024,
        ge=0,
        le=256 * 1024,  # Temporal warns from 512 KiB per payload; the start and the capture each carry it
        description="a new postmortem's raw alert payload up to this size travels with its start (durable in "
        "Temporal, stored by the worker); larger ones are written to the content store first; 0: always",
    )
    allow_unauthenticated: bool | None = Field(
        default=None,
        description="sources without credentials accept anyone; unset: only when bound to loopback",
    )
    temporal_timeout: timedelta = Field(
        default=timedelta(seconds=4), description="answer 503 if Temporal has not acknowledged by then"
    )
    retry_after_seconds: int = Field(default=30, ge=1)
    dedupe_ttl: timedelta = Field(default=timedelta(minutes=15), description="how long delivery ids are kept")
    replay_memory_max_entries: int = Field(
        default=50_000,
        ge=100,
        description="signed deliveries remembered across restarts (<data_dir>/intake/deliveries.sqlite3), each "
        "until it is too old to be accepted; past this many, those closest to expiry are forgotten first",
    )
    trust_for: timedelta = Field(
        default=timedelta(seconds=10),
        description="a firing with a newer alert, for an incident whose postmortem Temporal acknowledged less "
        "than this ago, is answered without another call (re-sends of alerts already answered never need one); "
        "0: every firing with a newer alert goes to Temporal",
    )
    pace_steps_per_second: float = Field(
        default=2.0,
        ge=0,
        description="in a storm, the rate at which postmortems take their steps: a new one its first steps (the "
        "trigger-time capture), a resolved one its resolution steps (the resolution-time capture and the draft); "
        "each start and resolution is recorded at once, only those steps wait; 0: no pacing",
    )
    pace_burst: int = Field(default=1, ge=1, description="postmortems of a storm whose steps run undelayed")
    pace_max_delay: timedelta = Field(
        default=timedelta(minutes=2), description="the longest a paced postmortem's steps wait"
    )
    sources: dict[str, SourceConfig] = Field(default_factory=dict)

    @field_validator("temporal_timeout", "dedupe_ttl", "trust_for", "pace_max_delay", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> timedelta:
        return parse_wall_duration(value)

    @field_validator("sources")
    @classmethod
    def _known_sources(cls, value: dict[str, SourceConfig]) -> dict[str, SourceConfig]:
        unknown = sorted(set(value) - set(SOURCES))
        if unknown:
            raise ValueError(f"unknown source(s) {', '.join(unknown)}; known: {', '.join(SOURCES)}")
        return value

    def source(self, name: str) -> SourceConfig:
        return self.sources.get(name) or SourceConfig()

    def unauthenticated_allowed(self, host: str) -> bool:
        if self.allow_unauthenticated is not None:
            return self.allow_unauthenticated
        return is_loopback(host)


def config_path(settings: Settings, env: dict[str, str] | None = None) -> Path | None:
    env = dict(os.environ) if env is None else env
    if env.get("AFTERWORD_INTAKE_CONFIG"):
        return Path(env["AFTERWORD_INTAKE_CONFIG"])
    default = settings.data_dir / "intake.toml"
    return default if default.exists() else None


def load_config(path: Path | None) -> IntakeConfig:
    """Load and validate the intake TOML (the `[intake]` table, or the whole file); None: defaults."""
    if path is None:
        return IntakeConfig()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    table = data.get("intake", data)
    try:
        return IntakeConfig.model_validate(table)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors())
        raise ConfigError(f"{path}: [intake] {problems}") from None
