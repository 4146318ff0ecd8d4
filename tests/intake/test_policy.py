"""The intake's use of the real policy: orgs it serves, severity and requirement with reasons, the
flap window from `[intake]`, and the last good policy kept when an edit breaks it."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path

import pytest

from afterword.intake.policy_view import OrgPolicies, PolicyUnavailable
from afterword.intake.refusals import UnknownTarget
from afterword.intake.sources import PARSERS
from afterword.settings import Settings

from .fakes import example


@pytest.fixture
def policies(tmp_path: Path) -> OrgPolicies:
    (tmp_path / "acme.toml").write_text(
        'org = "acme"\nname = "acme"\nextends = "default"\n[intake]\nflap_window = "45m"\n'
    )
    return OrgPolicies(Settings(data_dir=tmp_path / "data", policy_dir=tmp_path), recheck=0)


def test_orgs_served(policies: OrgPolicies) -> None:
    policies.check_org("default")
    policies.check_org("acme")
    for bad in ("initech", "../acme", "acme/../../etc", "", "a" * 100):
        with pytest.raises(UnknownTarget):
            policies.check_org(bad)


def test_assessment_uses_the_policy(policies: OrgPolicies) -> None:
    firing = PARSERS["alertmanager"](example("alertmanager-firing.json"), {})
    assessment = policies.assess("acme", firing, "ab" * 32)
    assert assessment.incident.severity == "SEV1"  # severity=critical
    assert assessment.requirement.value == "required" and assessment.reasons
    assert assessment.flap_window == timedelta(minutes=45)
    rules = assessment.rules(assessment.incident)
    assert rules.org == "acme" and rules.policy["intake"]["flap_window"] == "45m"
    low = PARSERS["grafana"](example("grafana-firing.json"), {})  # severity=warning
    assert policies.assess("default", low, None).incident.severity != "SEV1"
    assert policies.assess("default", low, None).flap_window == timedelta(minutes=30)


def test_a_broken_edit_keeps_the_last_good_policy(policies: OrgPolicies, tmp_path: Path) -> None:
    firing = PARSERS["alertmanager"](example("alertmanager-firing.json"), {})
    assert policies.assess("acme", firing, None).flap_window == timedelta(minutes=45)
    broken = tmp_path / "acme.toml"
    broken.write_text('org = "acme"\n[intake]\nflap_window = "soon"\n')
    later = time.time() + 5
    os.utime(broken, (later, later))
    assert policies.assess("acme", firing, None).flap_window == timedelta(minutes=45)


def test_an_org_whose_policy_never_loaded_is_503_not_400(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text("org = \n")
    policies = OrgPolicies(Settings(data_dir=tmp_path / "data", policy_dir=tmp_path))
    firing = PARSERS["alertmanager"](example("alertmanager-firing.json"), {})
    with pytest.raises(PolicyUnavailable, match="does not load"):
        policies.assess("bad", firing, None)
