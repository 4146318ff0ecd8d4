"""Cross-field checks: what one field cannot know alone. Each yields (key path, message); the loader turns
them into file:line problems.

- every severity, role, team, handle, template and adapter a policy names exists;
- deadlines come in a sensible order (owner <= draft <= publish <= finalise) unless
  `deadline_options.check_order = false`;
- a quorum can be met by the reviewers there are, and each required role is held by a reviewer;
- security/legal triggers have somebody who may sign off;
- working hours make sense, reminders are wall-clock offsets, secrets are references.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import timedelta
from importlib import resources
from pathlib import Path

from afterword.policies.durations import Span, parse_duration
from afterword.policies.integrations import ADAPTERS, PLANNED, secret_problems
from afterword.policies.schema import Policy
from afterword.workflows.models import Milestone

Path_ = tuple[str | int, ...]
Found = Iterator[tuple[Path_, str]]

# The deadlines whose order is checked, earliest first.
ORDERED_DEADLINES = ("owner", "draft", "publish", "finalise")


def check(policy: Policy, base_dir: Path | None = None) -> list[tuple[Path_, str]]:
    found: list[tuple[Path_, str]] = []
    for checker in (_severities, _roles, _people, _deadlines, _review, _calendar, _document, _actions,
                    _integrations):
        found.extend(checker(policy))
    found.extend(_template(policy, base_dir))
    return found


def _known(names: list[str], what: str, allowed: list[str]) -> str:
    return f"unknown {what} {', '.join(repr(n) for n in names)}; declared: {', '.join(allowed) or 'none'}"


def _severities(policy: Policy) -> Found:
    order = policy.severities.order
    known = set(order)
    if len(known) != len(order):
        yield ("severities", "order"), "severity names must be unique"
    if policy.severities.default not in known:
        yield ("severities", "default"), _known([policy.severities.default], "severity", order)
    for name in policy.severities.requirement:
        if name not in known:
            yield ("severities", "requirement", name), _known([name], "severity", order)
    for label, values in policy.severities.map.items():
        for value, severity in values.items():
            if severity not in known:
                yield ("severities", "map", label, value), _known([severity], "severity", order)
    for dname, deadline in policy.deadlines.items():
        for name in deadline.by_severity:
            if name not in known:
                yield ("deadlines", dname, "by_severity", name), _known([name], "severity", order)
        for index, name in enumerate(deadline.applies_to):
            if name not in known:
                yield ("deadlines", dname, "applies_to", index), _known([name], "severity", order)
    for name in policy.review.by_severity:
        if name not in known:
            yield ("review", "by_severity", name), _known([name], "severity", order)
    for name in policy.document.by_severity:
        if name not in known:
            yield ("document", "by_severity", name), _known([name], "severity", order)


def _role_refs(policy: Policy) -> Iterator[tuple[Path_, str]]:
    """Every place a role is named, with its key path."""
    review = policy.review
    for field in ("reviewer_roles", "required_roles", "security_required_roles", "signoff_roles"):
        for index, role in enumerate(getattr(review, field)):
            yield ("review", field, index), role
    for sev, rules in review.by_severity.items():
        for index, role in enumerate(rules.required_roles or []):
            yield ("review", "by_severity", sev, "required_roles", index), role
    for index, role in enumerate(policy.waivers.roles):
        yield ("waivers", "roles", index), role
    for pindex, person in enumerate(policy.people):
        for index, role in enumerate(person.roles):
            yield ("people", pindex, "roles", index), role
    for path, ref in _people_refs(policy):
        if ref.startswith("role:"):
            yield path, ref[5:]


def _people_refs(policy: Policy) -> Iterator[tuple[Path_, str]]:
    """Every escalation target (a handle or role:<role>)."""
    for index, ref in enumerate(policy.escalation.chain):
        yield ("escalation", "chain", index), ref
    for name, deadline in policy.deadlines.items():
        for index, ref in enumerate(deadline.escalate_to or []):
            yield ("deadlines", name, "escalate_to", index), ref
    for index, ref in enumerate(policy.action_items.escalate_to or []):
        yield ("action_items", "escalate_to", index), ref


def _roles(policy: Policy) -> Found:
    declared = sorted(policy.roles)
    for path, role in _role_refs(policy):
        if role not in policy.roles:
            yield path, _known([role], "role", declared) + " (add it under [roles])"


def _people(policy: Policy) -> Found:
    seen: dict[str, int] = {}
    teams = sorted(policy.teams)
    for index, person in enumerate(policy.people):
        for name in (person.handle, *person.aliases):
            key = name.lower()
            if key in seen and seen[key] != index:
                yield ("people", index, "handle"), f"{name!r} is already used by people[{seen[key]}]"
            seen.setdefault(key, index)
        if person.team is not None and teams and person.team not in policy.teams:
            yield ("people", index, "team"), _known([person.team], "team", teams) + " (add it under [teams])"
    handles = {p.handle for p in policy.people}
    for path, ref in _people_refs(policy):
        if not ref.startswith("role:") and ref not in handles:
            yield path, f"unknown person {ref!r}: name a handle from [[people]] or write role:<role>"
    for index, handle in enumerate(policy.waivers.people):
        if handle not in handles:
            yield ("waivers", "people", index), f"unknown person {handle!r}: name a handle from [[people]]"


def approx_days(span: Span, workdays: int, workday: timedelta) -> float:
    """A business span in calendar days, roughly: enough to compare deadlines' order."""
    if not span.business:
        return span.wall / timedelta(days=1)
    week_ratio = 7 / max(workdays, 1)
    hours_ratio = timedelta(days=1) / workday if workday > timedelta(0) else 1.0
    return (span.business_days + (span.business_time / timedelta(days=1)) * hours_ratio) * week_ratio


def _deadlines(policy: Policy) -> Found:
    for name, deadline in policy.deadlines.items():
        if deadline.after == deadline.until:
            yield ("deadlines", name, "until"), "a deadline cannot start and end at the same milestone"
        for index, text in enumerate(deadline.reminders or []):
            if parse_duration(text).business:
                yield ("deadlines", name, "reminders", index), "reminder offsets are wall-clock (e.g. \"2h\")"
    for index, text in enumerate(policy.deadline_options.reminders):
        if parse_duration(text).business:
            yield ("deadline_options", "reminders", index), "reminder offsets are wall-clock (e.g. \"2h\")"
    if not policy.deadline_options.check_order:
        return
    calendar = policy.calendar
    workday = _workday(policy)
    for severity in policy.severities.order:
        due = _due_offsets(policy, severity, len(set(calendar.workdays)), workday)
        present = [(n, due[n]) for n in ORDERED_DEADLINES if n in due]
        for (early, early_due), (late, late_due) in itertools.pairwise(present):
            if late_due < early_due:
                yield ("deadlines", late, "within"), (
                    f"for {severity}, '{late}' falls due before '{early}' ({late_due:.1f} vs {early_due:.1f} "
                    "days after the trigger at the earliest); reorder them or set "
                    "deadline_options.check_order = false"
                )


def _workday(policy: Policy) -> timedelta:
    start, end = policy.calendar.start, policy.calendar.end
    return timedelta(hours=end.hour - start.hour, minutes=end.minute - start.minute,
                     seconds=end.second - start.second)


def _due_offsets(policy: Policy, severity: str, workdays: int, workday: timedelta) -> dict[str, float]:
    """Each applicable deadline's due time in days after the trigger, taking every milestone at its
    earliest (the incident resolved at once, each step done right at its own deadline)."""
    deadlines = {
        name: d for name, d in policy.deadlines.items()
        if d.enabled and (not d.applies_to or severity in d.applies_to)
    }
    by_until = {d.until: name for name, d in deadlines.items()}
    due: dict[str, float] = {}

    def offset(milestone: Milestone, depth: int = 0) -> float:
        if milestone in (Milestone.TRIGGERED, Milestone.RESOLVED) or depth > len(deadlines):
            return 0.0
        name = by_until.get(milestone)
        return due_of(name, depth + 1) if name else 0.0

    def due_of(name: str, depth: int = 0) -> float:
        if name not in due:
            d = deadlines[name]
            span = parse_duration(d.by_severity.get(severity, d.within))
            due[name] = offset(d.after, depth) + approx_days(span, workdays, workday)
        return due[name]

    for name in deadlines:
        due_of(name)
    return due


def _review(policy: Policy) -> Found:
    reviewer_roles = set(policy.review.reviewer_roles)
    reviewers = [p for p in policy.people if reviewer_roles & set(p.roles)]
    for severity in policy.severities.order:
        rules = policy.review.by_severity.get(severity)
        quorum = rules.quorum if rules and rules.quorum is not None else policy.review.quorum
        path: Path_ = ("review", "by_severity", severity, "quorum") if rules and rules.quorum else (
            "review", "quorum")
        if quorum > len(reviewers):
            yield path, (
                f"quorum {quorum} for {severity} cannot be met: only {len(reviewers)} "
                f"{'person holds' if len(reviewers) == 1 else 'people hold'} a reviewer role "
                f"({', '.join(sorted(reviewer_roles))})"
            )
        required = list(policy.review.required_roles)
        if rules and rules.required_roles is not None:
            required += rules.required_roles
        for role in required:
            if not any(role in p.roles for p in reviewers):
                yield ("review", "required_roles"), f"required role {role!r} is held by no reviewer"
    for role in policy.review.security_required_roles:
        if policy.triggers.security and role in policy.roles and not any(role in p.roles for p in reviewers):
            yield ("review", "security_required_roles"), f"required role {role!r} is held by no reviewer"
    if policy.triggers.security or policy.triggers.legal:
        signoff = set(policy.review.signoff_roles)
        if not any(signoff & set(p.roles) for p in policy.people):
            yield ("review", "signoff_roles"), (
                "security/legal incidents need a sign-off, but nobody in [[people]] holds "
                + ", ".join(sorted(signoff) or ["(no role listed)"])
            )


def _calendar(policy: Policy) -> Found:
    calendar = policy.calendar
    if calendar.start >= calendar.end:
        yield ("calendar", "end"), "the working day must end after it starts"
    if not calendar.workdays:
        yield ("calendar", "workdays"), "at least one working day is needed"


def _document(policy: Policy) -> Found:
    if not policy.document.required_sections:
        yield ("document", "required_sections"), "list at least one required section"


def _actions(policy: Policy) -> Found:
    allowed = set(policy.action_items.types) | set(policy.severities.order)
    for key in policy.action_items.default_due:
        if key not in allowed:
            yield ("action_items", "default_due", key), _known(
                [key], "action item type or severity", sorted(allowed))
    for index, text in enumerate(policy.action_items.reminders):
        if parse_duration(text).business:
            yield ("action_items", "reminders", index), "reminder offsets are wall-clock (e.g. \"2d\")"
    for key in ("review_every", "validation_window"):
        if parse_duration(getattr(policy.action_items, key)).business:
            yield ("action_items", key), "write this in wall-clock time (e.g. \"7d\", \"1w\")"


def _integrations(policy: Policy) -> Found:
    for concern, integration in policy.integrations.items():
        adapters = ADAPTERS.get(concern)
        if adapters is None:
            yield ("integrations", concern), _known([concern], "integration concern", sorted(ADAPTERS))
        elif integration.adapter in PLANNED.get(concern, ()):
            yield ("integrations", concern, "adapter"), (
                f"adapter {integration.adapter!r} for {concern} is not available in this release; "
                f"available: {', '.join(adapters)}")
        elif integration.adapter not in adapters:
            yield ("integrations", concern, "adapter"), _known(
                [integration.adapter], f"adapter for {concern}", list(adapters))
        for path, message in secret_problems(integration.settings):
            yield ("integrations", concern, "settings", *path), message


def shipped_templates() -> set[str]:
    folder = resources.files("afterword.policies").joinpath("templates")
    try:
        return {entry.name for entry in folder.iterdir() if entry.is_file()}
    except (FileNotFoundError, NotADirectoryError):
        return set()


def _template(policy: Policy, base_dir: Path | None) -> Found:
    shipped = shipped_templates()
    own: Path | None = None
    if policy.document.templates_dir:
        own = Path(policy.document.templates_dir)
        if base_dir is not None and not own.is_absolute():
            own = base_dir / own
        if not own.is_dir():
            yield ("document", "templates_dir"), f"templates folder {str(own)!r} does not exist"
            own = None
    names: list[tuple[Path_, str]] = [(("document", "template"), policy.document.template)]
    names += [(("document", "by_severity", s, "template"), d.template)
              for s, d in policy.document.by_severity.items() if d.template]
    for path, name in names:
        candidates = {name, name if name.endswith(".j2") else f"{name}.j2"}
        if candidates & shipped or (own is not None and any((own / c).is_file() for c in candidates)):
            continue
        shown = ", ".join(sorted(n.removesuffix(".j2") for n in shipped)) or "none"
        yield path, f"template {name!r} not found: shipped templates are {shown}; " \
            "or put it in document.templates_dir"
