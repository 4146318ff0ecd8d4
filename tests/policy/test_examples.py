"""The three example organisations validate and behave as their comments promise."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from afterword.policies import decide, due_times, is_working_time, load_org_policy, load_policy, rules_for
from afterword.workflows.models import Incident, Milestone, Requirement

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "policies"
FRIDAY_NOON_UTC = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def incident(org: str, **kw: object) -> Incident:
    base: dict[str, object] = {"org": org, "key": "k", "title": "t", "severity": "SEV2",
                               "started_at": FRIDAY_NOON_UTC - timedelta(hours=3),
                               "resolved_at": FRIDAY_NOON_UTC}
    base.update(kw)
    return Incident.model_validate(base)


@pytest.mark.parametrize("name", ["startup", "fintech", "platform"])
def test_example_validates(name: str) -> None:
    policy = load_policy(EXAMPLES / f"{name}.toml")
    assert policy.org == name
    assert load_org_policy(name, EXAMPLES) == policy


def test_startup_light_process_in_business_days() -> None:
    policy = load_policy(EXAMPLES / "startup.toml")
    assert decide(policy, incident("startup", severity="SEV3")).requirement == Requirement.NONE
    assert decide(policy, incident("startup", severity="SEV2")).requirement == Requirement.REQUIRED
    rules = rules_for(policy, incident("startup"))
    draft = next(r for r in rules.deadlines if r.name == "draft")
    assert draft.calendar is not None and draft.duration == timedelta(hours=27)  # 3 x 9-hour days
    assert "external_summary" not in {r.name for r in rules.deadlines}
    due = due_times(policy, incident("startup"))
    # resolved Friday 04:00 in Los Angeles (before hours): three working days are Fri, Mon, Tue
    local = due["draft"].astimezone(ZoneInfo("America/Los_Angeles"))  # type: ignore[union-attr]
    assert (local.strftime("%a"), local.hour) == ("Tue", 18)
    assert due["meeting"] is None  # its clock starts when the draft is submitted
    for name, when in due.items():
        if name != "meeting":
            assert when is not None and is_working_time(when, draft.calendar), name


def test_startup_thanksgiving_is_not_working_time() -> None:
    policy = load_policy(EXAMPLES / "startup.toml")
    wednesday = datetime(2026, 11, 25, 23, 0, tzinfo=UTC)  # 15:00 in Los Angeles, 3 h left that day
    due = due_times(policy, incident("startup", started_at=wednesday, resolved_at=wednesday))
    local = due["owner"].astimezone(ZoneInfo("America/Los_Angeles"))  # type: ignore[union-attr]
    assert local.date().isoformat() == "2026-11-30"  # Thu/Fri holidays, then the weekend


def test_fintech_regulated_gates() -> None:
    policy = load_policy(EXAMPLES / "fintech.toml")
    rules = rules_for(policy, incident("fintech", severity="SEV2", security=True))
    assert rules.requirement == Requirement.REQUIRED
    assert rules.review.quorum == 2
    assert rules.review.required_roles == ["security"]
    assert set(rules.review.signoff_people) == {"kwame", "liam"}
    assert rules.external_summary is True
    external = next(r for r in rules.deadlines if r.name == "external_summary")
    assert (external.after, external.until, external.duration) == (
        Milestone.RESOLVED, Milestone.EXTERNAL_PUBLISHED, timedelta(hours=48))
    assert rules.action_items.validation_window == timedelta(days=7)
    assert rules.action_items.min_items == 1
    assert rules.waivers.allowed == ["hannah"]
    assert rules_for(policy, incident("fintech", severity="SEV1")).review.quorum == 3
    # four levels: what the shipped default mapped to SEV5 lands on SEV4 here
    assert rules_for(policy, incident("fintech", severity="info")).severity == "SEV4"
    near_miss = decide(policy, incident("fintech", severity="SEV4", labels={"near_miss": "true"}))
    assert near_miss.requirement == Requirement.REQUIRED


def test_platform_team_overrides() -> None:
    policy = load_policy(EXAMPLES / "platform.toml")
    org = rules_for(policy, incident("platform"))
    payments = rules_for(policy, incident("platform", team="payments"))
    search = rules_for(policy, incident("platform", team="search", severity="SEV3"))

    def draft(rules):  # type: ignore[no-untyped-def]
        return next(r for r in rules.deadlines if r.name == "draft")

    assert draft(org).duration == timedelta(hours=72)
    assert draft(payments).duration == timedelta(hours=48)
    assert payments.review.quorum == 2 and payments.review.required_roles == ["security"]
    assert payments.external_summary and not org.external_summary
    assert search.requirement == Requirement.NONE
    assert search.timezone == "America/New_York"
    assert draft(search).calendar is not None and draft(search).calendar.timezone == "America/New_York"
    assert org.policy_hash != payments.policy_hash != search.policy_hash
    data = rules_for(policy, incident("platform", team="data"))
    assert "Data impact" in data.required_sections
    # a team with no table of its own gets the org policy
    assert rules_for(policy, incident("platform", team="core")).policy_hash == org.policy_hash
    # the payments team counts revenue from 1000, the org from 25000
    money = incident("platform", severity="SEV4", labels={"revenue_impact": "5000"})
    assert decide(policy, money).requirement == Requirement.NONE
    assert decide(policy, money.model_copy(update={"team": "payments"})).requirement == Requirement.REQUIRED


@pytest.mark.parametrize("name", ["startup", "fintech", "platform"])
def test_effective_example_written_as_toml_loads_back_equal(name: str) -> None:
    from afterword.policies import load_text
    from afterword.policies.render import to_toml

    policy = load_policy(EXAMPLES / f"{name}.toml")
    assert load_text(to_toml(policy), f"{name}-effective.toml") == policy
