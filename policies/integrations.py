"""The `[integrations]` section: which adapter serves each concern, and the rule that secrets are
references (`env:NAME` or `file:/path`), never values written into the policy."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# concern -> adapters afterword can run for it (the first is the embedded default).
ADAPTERS: dict[str, tuple[str, ...]] = {
    "alerts": ("webhook", "alertmanager", "pagerduty", "grafana", "opsgenie", "generic"),
    "evidence": ("directory",),
    "metrics": ("prometheus",),
    "logs": ("file", "http_json"),
    "archive": ("git",),
    "tickets": ("builtin",),
    "notifications": ("outbox",),
    "validation": ("manual", "prometheus"),
}
# adapters the design names that this release does not have: a policy choosing one is refused rather than
# silently served by the default
PLANNED: dict[str, tuple[str, ...]] = {
    "evidence": ("s3",),
    "archive": ("confluence",),
    "tickets": ("github", "jira", "linear"),
    "notifications": ("slack", "smtp"),
    "validation": (),
}

SECRET_KEY = re.compile(
    r"(?i)(token|secret|password|passwd|api[_-]?key|private[_-]?key|credential|webhook[_-]?url|auth)"
)
# Values that are secrets whatever key holds them.
SECRET_VALUE = re.compile(
    r"(ghp_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|xox[abprs]-[A-Za-z0-9-]{10,}|AKIA[0-9A-Z]{16}"
    r"|sk_(live|test)_[A-Za-z0-9]{10,}|-----BEGIN [A-Z ]*PRIVATE KEY-----|hooks\.slack\.com/services/)"
)
INLINE = 'looks like an inline secret: write it as "env:NAME" or "file:/path"'
ENV_REF = re.compile(r"^env:[A-Za-z_][A-Za-z0-9_]*$")
FILE_REF = re.compile(r"^file:/\S+$")


def is_reference(value: str) -> bool:
    return bool(ENV_REF.match(value) or FILE_REF.match(value))


def secret_problems(settings: dict[str, Any], path: tuple[str | int, ...] = ()) -> Iterator[
        tuple[tuple[str | int, ...], str]]:
    """(key path, message) for each inline secret in an integration's settings."""
    for key, value in settings.items():
        here = (*path, key)
        if isinstance(value, dict):
            yield from secret_problems(value, here)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, str) and SECRET_VALUE.search(item):
                    yield (*here, index), INLINE
        elif isinstance(value, str):
            if value.startswith(("env:", "file:")) and not is_reference(value):
                yield here, (
                    f"{value!r} is not a valid secret reference: use env:NAME (letters, digits, _) "
                    "or file:/absolute/path"
                )
            elif SECRET_KEY.search(key) and not is_reference(value):
                yield here, (
                    "secrets are never written inline: reference an environment variable (\"env:NAME\") "
                    "or a file (\"file:/path\")"
                )
            elif SECRET_VALUE.search(value):
                yield here, INLINE


class SecretError(ValueError):
    """A secret reference that cannot be resolved; the message names the variable or file."""


def resolve_secret(ref: str, env: dict[str, str] | None = None) -> str:
    """The value behind `env:NAME` (an environment variable) or `file:/path` (a file, trailing newline
    stripped). Resolve when the adapter starts, never into the policy or a workflow's history."""
    environ = dict(os.environ) if env is None else env
    if ENV_REF.match(ref):
        value = environ.get(ref[4:])
        if not value:
            raise SecretError(f"secret {ref!r}: environment variable {ref[4:]} is not set or empty")
        return value
    if FILE_REF.match(ref):
        try:
            value = Path(ref[5:]).read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as err:
            raise SecretError(f"secret {ref!r}: cannot read the file ({err.strerror})") from None
        if not value:
            raise SecretError(f"secret {ref!r}: the file is empty")
        return value
    raise SecretError(f"{ref!r} is not a secret reference: write env:NAME or file:/path")


def resolve_settings(settings: dict[str, Any], env: dict[str, str] | None = None) -> dict[str, Any]:
    """An integration's settings with every secret reference replaced by its value."""
    resolved: dict[str, Any] = {}
    for key, value in settings.items():
        if isinstance(value, dict):
            resolved[key] = resolve_settings(value, env)
        elif isinstance(value, str) and is_reference(value):
            resolved[key] = resolve_secret(value, env)
        else:
            resolved[key] = value
    return resolved
