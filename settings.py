"""Process settings, read from the environment, shared by worker, CLI and intake.

The connection to Temporal comes from Temporal's own client configuration (temporalio.envconfig): a
temporal.toml profile and the TEMPORAL_* variables, the same the `temporal` CLI reads, so one profile
serves both. Everything else is AFTERWORD_*. Secrets (an API key, a TLS key) are never fields here: the
connection reads them from the profile when it connects.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

if TYPE_CHECKING:
    from temporalio.envconfig import ClientConfigProfile

TASK_QUEUE = "afterword"
# one log line format for the worker and the intake process it runs, so their output reads as one
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


# environment variable -> field. TEMPORAL_ADDRESS and TEMPORAL_NAMESPACE are read through Temporal's own
# client configuration (temporalio.envconfig), where they override the selected temporal.toml profile.
ENV_VARS: dict[str, str] = {
    "AFTERWORD_DATA_DIR": "data_dir",
    "AFTERWORD_POLICY_DIR": "policy_dir",
    "AFTERWORD_ORG": "default_org",
    "TEMPORAL_PROFILE": "temporal_profile",
    "TEMPORAL_CONFIG_FILE": "temporal_config_file",
    "TEMPORAL_ADDRESS": "temporal_address",
    "TEMPORAL_NAMESPACE": "namespace",
    "AFTERWORD_TASK_QUEUE": "task_queue",
    "TEMPORAL_GRPC_COMPRESSION": "grpc_compression",
    "AFTERWORD_TEMPORAL_PORT": "embedded_port",
    "AFTERWORD_UI_PORT": "embedded_ui_port",
    "AFTERWORD_EMBEDDED_METRICS_PORT": "embedded_metrics_port",
    "AFTERWORD_RETENTION_DAYS": "retention_days",
    "AFTERWORD_INTAKE_HOST": "intake_host",
    "AFTERWORD_INTAKE_PORT": "intake_port",
    "AFTERWORD_PAYLOAD_ENCRYPTION": "payload_encryption",
    "AFTERWORD_PAYLOAD_KEYS": "payload_keys",
    "AFTERWORD_CODEC_HOST": "codec_host",
    "AFTERWORD_CODEC_PORT": "codec_port",
    "AFTERWORD_CODEC_ORIGINS": "codec_origins",
    "AFTERWORD_CODEC_TOKEN": "codec_token",
}
# Names of the previous release -> the names that replace them. Each still works for one release (its value
# is used when the new name is unset) and warns, naming the new one.
DEPRECATED_ENV_VARS: dict[str, str] = {
    "AFTERWORD_METRICS_PORT": "AFTERWORD_EMBEDDED_METRICS_PORT",
    "TEMPORAL_TLS_CERT": "TEMPORAL_TLS_CLIENT_CERT_PATH",
    "TEMPORAL_TLS_KEY": "TEMPORAL_TLS_CLIENT_KEY_PATH",
    "TEMPORAL_TLS_CA": "TEMPORAL_TLS_SERVER_CA_CERT_PATH",
}
DEFAULT_CONFIG_FILE = "~/.config/temporalio/temporal.toml"
log = logging.getLogger(__name__)
_warned: set[str] = set()


class SettingsError(ValueError):
    """A setting the process cannot start with; the message names the variable or file and what to fix."""


def current_names(env: Mapping[str, str]) -> dict[str, str]:
    """`env` with each deprecated variable's value moved to its new name (unless that is set), warning once
    per process for each deprecated name in use."""
    current = dict(env)
    for old, new in DEPRECATED_ENV_VARS.items():
        value = current.get(old)
        if not value:
            continue
        if current.get(new):
            message = f"{old} is deprecated and ignored, since {new} is set as well: remove {old}"
        else:
            current[new] = value
            message = f"{old} is deprecated and will be removed in the next release: set {new} instead"
        if old not in _warned:
            _warned.add(old)
            log.warning("%s", message)
    return current


def load_temporal_profile(env: Mapping[str, str]) -> ClientConfigProfile:
    """The Temporal client profile `env` selects, as the `temporal` CLI reads it: TEMPORAL_PROFILE (default
    `default`) of TEMPORAL_CONFIG_FILE (default ~/.config/temporalio/temporal.toml, if it exists), with the
    TEMPORAL_* variables (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_*) on top."""
    from temporalio.envconfig import ClientConfigProfile

    config_file = env.get("TEMPORAL_CONFIG_FILE")
    if config_file and not Path(config_file).expanduser().is_file():
        raise SettingsError(
            f"TEMPORAL_CONFIG_FILE={config_file}: no such file. Point it at a temporal.toml "
            "(`temporal config set --profile NAME --prop address --value HOST:PORT` writes one), or unset it"
        )
    try:
        return ClientConfigProfile.load(override_env_vars=env)
    except RuntimeError as exc:  # the SDK's ConfigError: an unreadable file, an unknown profile
        profile = env.get("TEMPORAL_PROFILE") or "default"
        raise SettingsError(
            f"cannot load Temporal profile {profile!r} (TEMPORAL_PROFILE) from {config_file or DEFAULT_CONFIG_FILE}"
            f"{' (TEMPORAL_CONFIG_FILE)' if config_file else ''}: {exc}"
        ) from None


def is_loopback(host: str) -> bool:
    """Whether `host` (a name, or an IP address; IPv6 with or without brackets) is this machine's loopback."""
    host = host.strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # any other name: assume it is across a network
        return False


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data_dir: Path = Field(default=Path(".afterword"), description="AFTERWORD_DATA_DIR")
    policy_dir: Path | None = Field(default=None, description="AFTERWORD_POLICY_DIR: <org>.toml files")
    default_org: str = Field(default="default", description="AFTERWORD_ORG")
    temporal_profile: str | None = Field(
        default=None, description="TEMPORAL_PROFILE: the temporal.toml profile to connect with (default: default)"
    )
    temporal_config_file: Path | None = Field(
        default=None, description=f"TEMPORAL_CONFIG_FILE: the temporal.toml (default: {DEFAULT_CONFIG_FILE})"
    )
    temporal_address: str | None = Field(
        default=None, description="TEMPORAL_ADDRESS, else the profile's address; neither: the embedded server"
    )
    namespace: str = Field(default="default", description="TEMPORAL_NAMESPACE, else the profile's namespace")
    task_queue: str = Field(default=TASK_QUEUE, description="AFTERWORD_TASK_QUEUE")
    grpc_compression: Literal["auto", "gzip", "none"] = Field(
        default="auto",
        description="TEMPORAL_GRPC_COMPRESSION: auto (none to a server on this machine, gzip to any other), gzip, none",
    )
    embedded_port: int = Field(default=7233, description="AFTERWORD_TEMPORAL_PORT")
    embedded_ui_port: int = Field(default=8233, description="AFTERWORD_UI_PORT")
    embedded_metrics_port: int = Field(
        default=0,
        ge=0,
        le=65535,
        description="AFTERWORD_EMBEDDED_METRICS_PORT: the embedded server's /metrics; 0: a free port",
    )
    retention_days: int = Field(default=365, description="AFTERWORD_RETENTION_DAYS")
    intake_host: str = Field(default="127.0.0.1", description="AFTERWORD_INTAKE_HOST")
    intake_port: int = Field(default=8787, description="AFTERWORD_INTAKE_PORT; 0 disables the intake")
    payload_encryption: Literal["on", "off"] = Field(
        default="on", description="AFTERWORD_PAYLOAD_ENCRYPTION: on (workflow history is encrypted) or off"
    )
    payload_keys: str | None = Field(
        default=None,
        description="AFTERWORD_PAYLOAD_KEYS: env:NAME / file:/path references to keyrings, comma-separated "
        "(the first key seals); unset: <data dir>/payload-keys",
    )
    codec_host: str = Field(default="127.0.0.1", description="AFTERWORD_CODEC_HOST: where the codec endpoint listens")
    codec_port: int = Field(
        default=0, ge=0, le=65535, description="AFTERWORD_CODEC_PORT: the codec endpoint's port; 0: a free port"
    )
    codec_origins: str | None = Field(
        default=None,
        description="AFTERWORD_CODEC_ORIGINS: Web UI origins the codec endpoint answers (comma-separated); "
        "unset: the embedded server's UI",
    )
    codec_token: str | None = Field(
        default=None,
        description="AFTERWORD_CODEC_TOKEN: env:NAME / file:/path of the bearer token the codec endpoint asks for "
        "(required when it listens beyond loopback)",
    )

    @property
    def store_dir(self) -> Path:
        return self.data_dir / "store"

    @property
    def evidence_dir(self) -> Path:
        return self.data_dir / "evidence"

    @property
    def archive_dir(self) -> Path:
        return self.data_dir / "archive"

    @property
    def outbox_path(self) -> Path:
        return self.data_dir / "outbox.jsonl"

    # The environment this process read its settings from, kept for the connection (the profile's API key
    # and TLS material are read from it when connecting). None: settings built in code, which connect with
    # their own fields only, never a profile found on the machine.
    _environment: dict[str, str] | None = PrivateAttr(default=None)

    def temporal_client_profile(self) -> ClientConfigProfile:
        """The Temporal profile these settings were read with (an empty one for settings built in code)."""
        from temporalio.envconfig import ClientConfigProfile

        if self._environment is None:
            return ClientConfigProfile()
        return load_temporal_profile(self._environment)

    def temporal_client_profile_env(self) -> Mapping[str, str]:
        """The environment the profile is read from (empty for settings built in code)."""
        return self._environment or {}

    def address_origin(self) -> str:
        """Which setting gave temporal_address, for messages: the variable, or the profile and its file."""
        env = self._environment or {}
        if env.get("TEMPORAL_ADDRESS") or self._environment is None:
            return "TEMPORAL_ADDRESS"
        where = self.temporal_config_file or DEFAULT_CONFIG_FILE
        return f"profile {self.temporal_profile or 'default'!r} in {where}"

    def to_env(self) -> dict[str, str]:
        """These settings as the environment `from_env` reads back (for a child process of the worker)."""
        env: dict[str, str] = {}
        for var, name in ENV_VARS.items():
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool):
                env[var] = "1" if value else "0"
            elif isinstance(value, Path):
                env[var] = str(value.expanduser().resolve())
            else:
                env[var] = str(value)
        for old, new in DEPRECATED_ENV_VARS.items():
            if self._environment and self._environment.get(new) and new not in env:
                env[new] = self._environment[new]
            env[old] = ""  # the child reads the current names only, and need not warn again
        return env

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Settings from `env` (default: this process's environment) and the Temporal profile it selects;
        `overrides` (not None) win. SettingsError names what is wrong."""
        current = current_names(os.environ if env is None else env)
        values: dict[str, object] = {field: current[var] for var, field in ENV_VARS.items() if current.get(var)}
        profile = load_temporal_profile(current)
        if profile.address:
            values["temporal_address"] = profile.address
        if profile.namespace:
            values["namespace"] = profile.namespace
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            settings = cls.model_validate(values)
        except ValidationError as exc:
            raise SettingsError(f"invalid settings:\n{describe_errors(exc)}") from None
        settings._environment = current
        return settings


def describe_errors(exc: ValidationError) -> str:
    """One line per invalid setting, named by its environment variable."""
    lines = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else "?"
        info = Settings.model_fields.get(field)
        env_var = (info.description or field).split(" ")[0].rstrip(":;,") if info else field
        lines.append(f"  {env_var}={error.get('input')!r}: {error['msg']}")
    return "\n".join(lines)
