"""Process settings, read from the environment (AFTERWORD_* and TEMPORAL_*), shared by worker, CLI and intake.

Secrets are never values here: only the names of environment variables or files that hold them.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

TASK_QUEUE = "afterword"
# one log line format for the worker and the intake process it runs, so their output reads as one
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


# environment variable -> field
ENV_VARS: dict[str, str] = {
    "AFTERWORD_DATA_DIR": "data_dir",
    "AFTERWORD_POLICY_DIR": "policy_dir",
    "AFTERWORD_ORG": "default_org",
    "TEMPORAL_ADDRESS": "temporal_address",
    "TEMPORAL_NAMESPACE": "namespace",
    "AFTERWORD_TASK_QUEUE": "task_queue",
    "TEMPORAL_TLS_CERT": "tls_cert",
    "TEMPORAL_TLS_KEY": "tls_key",
    "TEMPORAL_TLS_CA": "tls_ca",
    "TEMPORAL_TLS": "tls",
    "TEMPORAL_GRPC_COMPRESSION": "grpc_compression",
    "AFTERWORD_TEMPORAL_PORT": "embedded_port",
    "AFTERWORD_UI_PORT": "embedded_ui_port",
    "AFTERWORD_METRICS_PORT": "embedded_metrics_port",
    "AFTERWORD_RETENTION_DAYS": "retention_days",
    "AFTERWORD_INTAKE_HOST": "intake_host",
    "AFTERWORD_INTAKE_PORT": "intake_port",
}


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
    temporal_address: str | None = Field(default=None, description="TEMPORAL_ADDRESS; unset: embedded server")
    namespace: str = Field(default="default", description="TEMPORAL_NAMESPACE")
    task_queue: str = Field(default=TASK_QUEUE, description="AFTERWORD_TASK_QUEUE")
    tls_cert: Path | None = Field(default=None, description="TEMPORAL_TLS_CERT (client certificate, PEM)")
    tls_key: Path | None = Field(default=None, description="TEMPORAL_TLS_KEY (client key, PEM)")
    tls_ca: Path | None = Field(default=None, description="TEMPORAL_TLS_CA (server CA, PEM)")
    tls: bool = Field(default=False, description="TEMPORAL_TLS=1: TLS with the system roots")
    grpc_compression: Literal["auto", "gzip", "none"] = Field(
        default="auto",
        description="TEMPORAL_GRPC_COMPRESSION: auto (none to a server on this machine, gzip to any other), gzip, none",
    )
    api_key_env: str = Field(default="TEMPORAL_API_KEY", description="name of the variable holding the API key")
    embedded_port: int = Field(default=7233, description="AFTERWORD_TEMPORAL_PORT")
    embedded_ui_port: int = Field(default=8233, description="AFTERWORD_UI_PORT")
    embedded_metrics_port: int = Field(
        default=0, ge=0, le=65535, description="AFTERWORD_METRICS_PORT: the embedded server's /metrics; 0: a free port"
    )
    retention_days: int = Field(default=365, description="AFTERWORD_RETENTION_DAYS")
    intake_host: str = Field(default="127.0.0.1", description="AFTERWORD_INTAKE_HOST")
    intake_port: int = Field(default=8787, description="AFTERWORD_INTAKE_PORT; 0 disables the intake")

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

    @property
    def api_key(self) -> str | None:
        return os.environ.get(self.api_key_env) or None

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
        return env

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: object) -> Settings:
        env = dict(os.environ if env is None else env)
        values: dict[str, object] = {field: env[var] for var, field in ENV_VARS.items() if env.get(var)}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls.model_validate(values)
