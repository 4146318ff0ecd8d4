"""Properties of the policy system (hypothesis)."""

from __future__ import annotations

import contextlib
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from afterword.policies import (
    PolicyError,
    add_business_time,
    due_times,
    is_working_time,
    load_policy,
    load_text,
    rules_for,
)
from afterword.policies.merge import merge
from afterword.policies.render import to_toml
from afterword.workflows.models import BusinessCalendar, Incident

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Sydney", "America/Sao_Paulo"]
ROLES = ["sre", "reviewer", "security", "legal", "cirt", "incident-commander", "manager", "engineer"]
MILESTONES = ["triggered", "owner_assigned", "resolved", "draft_submitted", "approved", "published",
              "external_published", "closed"]

instants = st.datetimes(datetime(2026, 1, 1), datetime(2026, 12, 1)).map(lambda d: d.replace(tzinfo=UTC))
names = st.from_regex(r"[a-z][a-z0-9_-]{0,8}", fullmatch=True)
wall = st.builds(lambda n, u: f"{n}{u}", st.integers(1, 500), st.sampled_from(["s", "m", "h", "d", "w"]))
business = st.builds(lambda n, u: f"{n} business {u}", st.integers(1, 20), st.sampled_from(["days", "hours"]))
durations = st.one_of(wall, business)


@st.composite
def policies(draw: st.DrawFn) -> dict[str, Any]:
    """Valid policy data: every cross-reference points at something that exists."""
    severities = draw(st.lists(st.from_regex(r"[A-Z][A-Z0-9]{1,4}", fullmatch=True), min_size=1, max_size=5,
                               unique=True))
    people = []
    handles = draw(st.lists(names, min_size=1, max_size=6, unique=True))
    for index, handle in enumerate(handles):
        roles = draw(st.lists(st.sampled_from(ROLES), max_size=3, unique=True))
        if index == 0:
            roles = sorted({*roles, "reviewer", "cirt", "security"})
        people.append({"name": handle.title(), "handle": handle, "roles": roles,
                       **({"aliases": [f"{handle}.alias"]} if draw(st.booleans()) else {})})
    reviewers = [p for p in people if "reviewer" in p["roles"]]
    deadlines = {}
    for name in draw(st.lists(names, max_size=4, unique=True)):
        after, until = draw(st.lists(st.sampled_from(MILESTONES), min_size=2, max_size=2, unique=True))
        deadline: dict[str, Any] = {"after": after, "until": until, "within": draw(durations)}
        if draw(st.booleans()):
            deadline["by_severity"] = {severities[0]: draw(durations)}
        if draw(st.booleans()):
            deadline["reminders"] = draw(st.lists(wall, max_size=2))
        if draw(st.booleans()):
            deadline["applies_to"] = draw(st.lists(st.sampled_from(severities), max_size=2, unique=True))
        deadlines[name] = deadline
    start = draw(st.integers(5, 11))
    return {
        "org": draw(names),
        "timezone": draw(st.sampled_from(ZONES)),
        "calendar": {
            "workdays": draw(st.lists(st.integers(0, 6), min_size=1, max_size=7, unique=True)),
            "start": time(start, draw(st.sampled_from([0, 30]))),
            "end": time(draw(st.integers(start + 1, 22)), 0),
            "holidays": draw(st.lists(st.dates(date(2026, 1, 1), date(2027, 12, 31)), max_size=3, unique=True)),
        },
        "severities": {
            "order": severities,
            "default": draw(st.sampled_from(severities)),
            "requirement": {s: draw(st.sampled_from(["required", "optional", "none"])) for s in severities},
            "map": {"priority": {f"P{i}": s for i, s in enumerate(severities, 1)}},
        },
        "triggers": {"error_budget_burn": draw(st.floats(0, 10, allow_nan=False)),
                     "downtime": draw(st.one_of(wall, st.just("off")))},
        "deadlines": deadlines,
        "deadline_options": {"check_order": False},
        "review": {"quorum": draw(st.integers(1, len(reviewers))), "security_required_roles": []},
        "people": people,
        "waivers": {"people": [handles[0]], "min_reason_length": draw(st.integers(0, 100))},
        "teams": {team: {"description": team, "review": {"quorum": 1},
                         "timezone": draw(st.sampled_from(ZONES))}
                  for team in draw(st.lists(names, max_size=2, unique=True))},
    }


@FAST
@given(policies())
def test_round_trip_through_toml(data: dict[str, Any]) -> None:
    policy = load_text(tomli_w.dumps(data), "generated.toml")
    again = load_text(to_toml(policy), "written.toml")
    assert again == policy


@FAST
@given(policies(), instants, st.timedeltas(timedelta(0), timedelta(days=3)), st.timedeltas(timedelta(0),
                                                                                            timedelta(days=9)))
def test_resolved_due_times_respect_working_hours_and_anchor_order(
        data: dict[str, Any], start: datetime, later: timedelta, duration: timedelta) -> None:
    policy = load_text(tomli_w.dumps(data), "generated.toml")
    team = next(iter(policy.teams), None)
    early = Incident(org=policy.org, key="k", title="t", severity=policy.severities.order[0], team=team,
                     started_at=start, resolved_at=start + duration)
    late = early.model_copy(update={"started_at": start + later, "resolved_at": start + later + duration})
    rules = {r.name: r for r in rules_for(policy, early).deadlines}
    due_early, due_late = due_times(policy, early), due_times(policy, late)
    for name, when in due_early.items():
        if when is None:
            continue
        later_when = due_late[name]
        assert later_when is not None and when <= later_when
        calendar = rules[name].calendar
        if calendar is not None:
            assert is_working_time(when, calendar) and is_working_time(later_when, calendar)


toml_scalars = st.one_of(
    st.text(max_size=12), st.integers(-10**6, 10**6), st.booleans(), st.floats(allow_nan=False, allow_infinity=False),
    st.dates(), st.times(), st.sampled_from(["72h", "5 business days", "SEV1", "required", "reviewer", "env:X"]),
)
# keys from the real schema, so generated documents reach deep into it, plus anything else
keys = st.one_of(
    st.sampled_from(["org", "name", "timezone", "calendar", "severities", "order", "requirement", "map",
                     "triggers", "deadlines", "draft", "after", "until", "within", "by_severity", "review",
                     "quorum", "people", "handle", "roles", "teams", "payments", "document", "template",
                     "integrations", "tickets", "adapter", "settings", "language", "redaction", "evidence",
                     "SEV1", "workdays", "holidays", "start", "end", "escalation", "chain", "action_items"]),
    st.text(min_size=1, max_size=8),
)
toml_values = st.recursive(
    toml_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(keys, inner, max_size=4)),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(keys, toml_values, max_size=6))
def test_loader_raises_only_policy_error_on_arbitrary_toml(data: dict[str, Any]) -> None:
    data.pop("extends", None)
    try:
        load_text(tomli_w.dumps(data), "arbitrary.toml")
    except PolicyError as err:
        assert err.problems
        assert all(p.file == "arbitrary.toml" or p.file.startswith("<") for p in err.problems)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200))
def test_loader_raises_only_policy_error_on_arbitrary_text(text: str) -> None:
    with contextlib.suppress(PolicyError):
        load_text(text, "text.toml")


@st.composite
def calendars(draw: st.DrawFn) -> BusinessCalendar:
    start = draw(st.integers(5, 11))
    return BusinessCalendar(
        timezone=draw(st.sampled_from(ZONES)),
        workdays=draw(st.lists(st.integers(0, 6), min_size=1, max_size=7, unique=True)),
        start=time(start, draw(st.sampled_from([0, 15, 30]))),
        end=time(draw(st.integers(start + 1, 22)), 0),
        holidays=draw(st.lists(st.dates(date(2026, 1, 1), date(2026, 12, 31)), max_size=10)),
    )


spans = st.timedeltas(timedelta(0), timedelta(days=30))


@settings(max_examples=200, deadline=None)
@given(calendars(), instants, instants, spans)
def test_business_deadlines_are_monotone_and_inside_working_hours(
        calendar: BusinessCalendar, a: datetime, b: datetime, span: timedelta) -> None:
    early, late = sorted((a, b))
    due_early = add_business_time(early, span, calendar)
    due_late = add_business_time(late, span, calendar)
    assert due_early <= due_late
    assert due_early >= early
    assert is_working_time(due_early, calendar)
    assert is_working_time(due_late, calendar)


@settings(max_examples=100, deadline=None)
@given(calendars(), instants, spans, spans)
def test_business_deadlines_grow_with_duration(calendar: BusinessCalendar, anchor: datetime,
                                               a: timedelta, b: timedelta) -> None:
    short, long = sorted((a, b))
    assert add_business_time(anchor, short, calendar) <= add_business_time(anchor, long, calendar)


# Policy data is type-consistent across files (a key that is a table in one file is a table in every file
# that validates), so the generated documents are too: keys "t*" hold tables, the others scalars or lists.
leaves = st.one_of(st.integers(), st.text(max_size=5), st.lists(st.integers(), max_size=3))
def tables(depth: int = 3) -> st.SearchStrategy[dict[str, Any]]:
    keys = ["t1", "t2", "v1", "v2"] if depth else ["v1", "v2"]
    return st.sets(st.sampled_from(keys), max_size=len(keys)).flatmap(
        lambda shape: st.fixed_dictionaries(
            {key: (tables(depth - 1) if key.startswith("t") else leaves) for key in sorted(shape)}))


@settings(max_examples=200, deadline=None)
@given(tables(), tables(), tables())
def test_merge_is_associative(a: dict[str, Any], b: dict[str, Any], c: dict[str, Any]) -> None:
    assert merge(merge(a, b), c) == merge(a, merge(b, c))


partials = st.fixed_dictionaries({}, optional={
    "review": st.fixed_dictionaries({}, optional={"quorum": st.integers(1, 2),
                                                   "allow_self_approval": st.booleans()}),
    "deadlines": st.fixed_dictionaries({}, optional={
        "draft": st.fixed_dictionaries({"after": st.just("resolved"), "until": st.just("draft_submitted"),
                                        "within": st.sampled_from(["24h", "48h", "2 business days"])}),
        "publish": st.fixed_dictionaries({}, optional={"within": st.sampled_from(["5d", "1w"])}),
    }),
    "severities": st.fixed_dictionaries({}, optional={
        "requirement": st.dictionaries(st.sampled_from(["SEV3", "SEV4"]),
                                       st.sampled_from(["required", "optional", "none"]), max_size=2)}),
    "document": st.fixed_dictionaries({}, optional={
        "required_sections": st.lists(st.sampled_from(["Summary", "Impact", "Timeline"]), min_size=1,
                                      unique=True)}),
    "timezone": st.sampled_from(["UTC", "Europe/Paris"]),
})


@FAST
@given(partials, partials, partials)
def test_inheritance_chain_of_three_is_associative(tmp_path: Path, a: dict[str, Any], b: dict[str, Any],
                                                   c: dict[str, Any]) -> None:
    """c extends b extends a (extends default) loads the same policy as c extends (a merged with b)."""
    folder = tmp_path / str(abs(hash((repr(a), repr(b), repr(c)))))
    folder.mkdir(exist_ok=True)

    def write(name: str, data: dict[str, Any], extends: str) -> Path:
        path = folder / name
        path.write_text(tomli_w.dumps({"extends": extends, "org": "acme", **data}))
        return path

    write("a.toml", a, "default")
    write("b.toml", b, "a.toml")
    chained = load_policy(write("c.toml", c, "b.toml"))
    write("ab.toml", merge(a, b), "default")
    grouped = load_policy(write("c2.toml", c, "ab.toml"))
    assert chained == grouped
