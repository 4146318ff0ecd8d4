"""The public API others build on: loading, errors with positions, decisions and resolved rules."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest

from afterword.policies import (
    PolicyError,
    add_business_time,
    decide,
    default_policy,
    load_org_policy,
    load_policy,
    map_severity,
    rules_for,
)
from afterword.workflows.models import BusinessCalendar, Incident, Milestone, Requirement

T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)  # a Monday


def incident(**kw: object) -> Incident:
    base: dict[str, object] = {"org": "acme", "key": "k1", "title": "db down", "severity": "SEV3",
                               "started_at": T0, "resolved_at": T0 + timedelta(hours=2)}
    base.update(kw)
    return Incident.model_validate(base)


def write(tmp_path: Path, text: str, name: str = "acme.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_default_policy_has_domain_defaults() -> None:
    policy = default_policy()
    assert policy.severities.order == ["SEV1", "SEV2", "SEV3", "SEV4", "SEV5"]
    rules = rules_for(policy, incident(severity="SEV1"))
    due = {r.name: (r.after, r.until, r.duration) for r in rules.deadlines}
    assert due["owner"] == (Milestone.TRIGGERED, Milestone.OWNER_ASSIGNED, timedelta(hours=24))
    assert due["draft"] == (Milestone.RESOLVED, Milestone.DRAFT_SUBMITTED, timedelta(hours=72))
    assert due["meeting"] == (Milestone.DRAFT_SUBMITTED, Milestone.APPROVED, timedelta(hours=48))
    assert due["publish"] == (Milestone.RESOLVED, Milestone.PUBLISHED, timedelta(days=5))
    assert due["external_summary"] == (Milestone.RESOLVED, Milestone.EXTERNAL_PUBLISHED, timedelta(hours=48))
    assert due["finalise"] == (Milestone.RESOLVED, Milestone.CLOSED, timedelta(days=14))
    assert rules.external_summary is True
    assert rules.review.quorum == 2
    assert "Root cause analysis" in rules.required_sections
    assert len(rules.policy_hash) == 64


def test_rules_are_each_callers_own_copy() -> None:
    """Whatever a caller does with the rules it got, the next incident's rules are unchanged."""
    policy = default_policy()
    first = rules_for(policy, incident(severity="SEV1"))
    expected = first.model_dump()
    first.deadlines[0].reminders.append(timedelta(minutes=1))
    first.deadlines[0].escalate_to.append("mallory")
    first.policy["review"]["quorum"] = 99
    first.policy.clear()
    assert rules_for(policy, incident(severity="SEV1")).model_dump() == expected


def test_external_summary_only_for_sev1() -> None:
    rules = rules_for(default_policy(), incident(severity="SEV2"))
    assert rules.external_summary is False
    assert "external_summary" not in {r.name for r in rules.deadlines}


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({"severity": "critical"}, "SEV1"),
        ({"priority": "P2"}, "SEV2"),
        ({"severity": "warning", "priority": "P1"}, "SEV1"),  # the most severe wins
        ({"severity": "sev4"}, "SEV4"),
        ({"team": "x"}, "SEV3"),  # nothing maps: the default
    ],
)
def test_map_severity(labels: dict[str, str], expected: str) -> None:
    assert map_severity(default_policy(), labels) == expected


@pytest.mark.parametrize(
    ("kw", "requirement", "trigger"),
    [
        ({"severity": "SEV1"}, Requirement.REQUIRED, None),
        ({"severity": "SEV3"}, Requirement.OPTIONAL, None),
        ({"severity": "SEV5"}, Requirement.NONE, None),
        ({"severity": "SEV5", "labels": {"slo_breached": "true"}}, Requirement.REQUIRED, "slo_breached"),
        ({"severity": "SEV4", "labels": {"error_budget_burn": "2.5"}}, Requirement.REQUIRED, "error_budget_burn"),
        ({"severity": "SEV4", "labels": {"error_budget_burn": "1.5"}}, Requirement.NONE, None),
        ({"severity": "SEV4", "annotations": {"downtime_minutes": "31"}}, Requirement.REQUIRED, "downtime"),
        ({"severity": "SEV4", "labels": {"downtime_minutes": "30"}}, Requirement.NONE, None),
        ({"severity": "SEV4", "labels": {"revenue_impact": "12000"}}, Requirement.REQUIRED, "revenue_impact"),
        ({"severity": "SEV4", "security": True}, Requirement.REQUIRED, "security"),
        ({"severity": "SEV4", "labels": {"legal": "true"}}, Requirement.REQUIRED, "legal"),
        ({"severity": "SEV5", "labels": {"near_miss": "true"}}, Requirement.OPTIONAL, "near_miss"),
    ],
)
def test_decide(kw: dict[str, object], requirement: Requirement, trigger: str | None) -> None:
    decision = decide(default_policy(), incident(**kw))
    assert decision.requirement == requirement
    if trigger:
        assert trigger in decision.triggers
    else:
        assert decision.triggers == []


def test_security_incident_needs_signoff_and_security_reviewer() -> None:
    rules = rules_for(default_policy(), incident(severity="SEV2", labels={"security": "true"}))
    assert rules.review.signoff_people == ["carol", "dan"]
    assert "security" in rules.review.required_roles
    assert any("sign-off" in r for r in rules.requirement_reasons)


def test_unparseable_number_is_reported_not_fatal() -> None:
    decision = decide(default_policy(), incident(severity="SEV4", labels={"downtime_minutes": "lots"}))
    assert decision.requirement == Requirement.NONE
    assert any("not a number" in r for r in decision.reasons)


def test_org_fallback_and_file(tmp_path: Path) -> None:
    assert load_org_policy("beta", tmp_path).org == "beta"
    assert load_org_policy("beta", None).org == "beta"
    write(tmp_path, 'extends = "default"\n[deadlines.draft]\nafter = "resolution"\nuntil = "draft"\nwithin = "48h"\n')
    policy = load_org_policy("acme", tmp_path)
    assert policy.org == "acme"
    rules = rules_for(policy, incident())
    assert {r.name: r.duration for r in rules.deadlines}["draft"] == timedelta(hours=48)
    assert rules.policy_hash != rules_for(default_policy(), incident()).policy_hash


def test_unknown_key_error_names_file_line_and_key(tmp_path: Path) -> None:
    path = write(tmp_path, 'extends = "default"\n\n[review]\nquorom = 2\n')
    with pytest.raises(PolicyError) as err:
        load_policy(path)
    message = str(err.value)
    assert f"{path}:4: review.quorom: unknown key 'quorom'" in message
    assert "quorum" in message  # what is allowed


def test_syntax_error_has_line(tmp_path: Path) -> None:
    path = write(tmp_path, 'extends = "default"\n[review]\nquorum = = 2\n')
    with pytest.raises(PolicyError) as err:
        load_policy(path)
    assert str(err.value).startswith(f"{path}:3: (syntax): TOML syntax error")


def test_business_duration_resolves_to_working_time(tmp_path: Path) -> None:
    path = write(tmp_path, 'extends = "default"\ntimezone = "Europe/Berlin"\n'
                 '[deadlines.draft]\nafter = "resolved"\nuntil = "draft_submitted"\nwithin = "2 business days"\n')
    rules = rules_for(load_policy(path), incident())
    draft = next(r for r in rules.deadlines if r.name == "draft")
    assert draft.calendar is not None and draft.calendar.timezone == "Europe/Berlin"
    assert draft.duration == timedelta(hours=16)  # two 8-hour working days
    owner = next(r for r in rules.deadlines if r.name == "owner")
    assert owner.calendar is None


def test_add_business_time_skips_nights_weekends_and_holidays() -> None:
    calendar = BusinessCalendar(timezone="UTC", start=time(9), end=time(17), holidays=[date(2026, 1, 12)])
    friday_4pm = datetime(2026, 1, 9, 16, 0, tzinfo=UTC)
    # 1h left on Friday, weekend skipped, Monday 12th is a holiday: Tuesday 09:00 + 1h
    assert add_business_time(friday_4pm, timedelta(hours=2), calendar) == datetime(2026, 1, 13, 10, 0, tzinfo=UTC)
    saturday = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
    assert add_business_time(saturday, timedelta(hours=8), calendar) == datetime(2026, 1, 13, 17, 0, tzinfo=UTC)


def test_a_calendar_edited_in_place_is_honoured_at_once() -> None:
    calendar = BusinessCalendar(timezone="UTC", start=time(9), end=time(17))
    monday_4pm = datetime(2026, 1, 12, 16, 0, tzinfo=UTC)
    assert add_business_time(monday_4pm, timedelta(hours=2), calendar) == datetime(2026, 1, 13, 10, 0, tzinfo=UTC)
    calendar.holidays.append(date(2026, 1, 13))  # e.g. the policy store reloaded an edit
    assert add_business_time(monday_4pm, timedelta(hours=2), calendar) == datetime(2026, 1, 14, 10, 0, tzinfo=UTC)


def test_add_business_time_uses_org_timezone() -> None:
    calendar = BusinessCalendar(timezone="America/New_York")
    # 13:00 UTC on a Monday in January is 08:00 in New York: the clock starts at 09:00 local (14:00 UTC)
    start = datetime(2026, 1, 5, 13, 0, tzinfo=UTC)
    assert add_business_time(start, timedelta(hours=1), calendar) == datetime(2026, 1, 5, 15, 0, tzinfo=UTC)


def test_org_file_must_be_that_orgs_policy(tmp_path: Path) -> None:
    write(tmp_path, 'extends = "default"\norg = "beta"\n')
    with pytest.raises(PolicyError) as err:
        load_org_policy("acme", tmp_path)
    assert f"{tmp_path / 'acme.toml'}:2: org: this file is looked up for org 'acme'" in str(err.value)


def test_invalid_org_name_is_a_policy_error(tmp_path: Path) -> None:
    (tmp_path / "outside.toml").write_text('extends = "default"\n')
    folder = tmp_path / "policies"
    folder.mkdir()
    for bad in ("no such/org", "../outside", ".hidden"):
        with pytest.raises(PolicyError, match="not a valid org name"):
            load_org_policy(bad, folder)
