"""Integration settings: secrets are references, resolved only when an adapter starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from afterword.policies import load_policy
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
    settings = policy.integrations["evidence"].settings
    assert settings["secret_access_key"] == "env:EVIDENCE_AWS_SECRET_ACCESS_KEY"
    resolved = resolve_settings(settings, {"EVIDENCE_AWS_ACCESS_KEY_ID": "id", "EVIDENCE_AWS_SECRET_ACCESS_KEY": "k"})
    assert resolved["secret_access_key"] == "k" and resolved["bucket"] == "fintech-incident-evidence"
