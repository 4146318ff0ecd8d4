"""Integration settings: secrets are references, resolved only when an adapter starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from afterword.policies import PolicyError, load_policy
from afterword.policies.integrations import SecretError, resolve_secret, resolve_settings

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "policies"


def test_references_resolve(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("s3cret\n")
    settings = {"url": "https://x", "api_token": f"file:{secret}", "auth": {"password": "env:PW"}, "port": 1}
    assert resolve_settings(settings, {"PW": "pw"}) == {
        "url": "https://x", "api_token": "s3cret", "auth": {"password": "pw"}, "port": 1}


@pytest.mark.parametrize(("ref", "fragment"), [
    ("env:MISSING", "MISSING is not set"),
    ("file:/nonexistent/secret", "cannot read the file"),
    ("hunter2", "not a secret reference"),
])
def test_unresolvable_references_say_why(ref: str, fragment: str) -> None:
    with pytest.raises(SecretError, match=fragment):
        resolve_secret(ref, {})


def test_example_settings_hold_only_references() -> None:
    policy = load_policy(EXAMPLES / "fintech.toml")
    settings = policy.integrations["metrics"].settings
    assert settings["bearer_token"] == "env:PROMETHEUS_TOKEN"
    resolved = resolve_settings(settings, {"PROMETHEUS_TOKEN": "t0ken"})
    assert resolved["bearer_token"] == "t0ken" and resolved["url"] == "https://prometheus.fintech.internal"


def test_an_adapter_this_release_lacks_is_refused_not_ignored(tmp_path: Path) -> None:
    path = tmp_path / "acme.toml"
    path.write_text('extends = "default"\norg = "acme"\n[integrations.tickets]\nadapter = "jira"\n')
    with pytest.raises(PolicyError, match="adapter 'jira' for tickets is not available in this release; "
                                         "available: builtin"):
        load_policy(path)
