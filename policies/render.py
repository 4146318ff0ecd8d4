"""Policies written back out: as TOML (tomli-w), folded for one severity, and compared key by key."""

from __future__ import annotations

import json
from typing import Any

import tomli_w

from afterword.policies.schema import Policy


def _drop_none(value: Any) -> Any:
    # TOML has no null: an unset optional key is simply not written
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value if v is not None]
    return value


def _drop_empty_defaults(full: dict[str, Any], changed: dict[str, Any]) -> dict[str, Any]:
    # an empty table or list that is also the schema's default says nothing: leave it out of the output
    out: dict[str, Any] = {}
    for key, value in full.items():
        mine = changed.get(key) if isinstance(changed, dict) else None
        if value in ({}, []) and key not in changed:
            continue
        out[key] = _drop_empty_defaults(value, mine) if isinstance(value, dict) and isinstance(mine, dict) else value
    return out


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def policy_data(policy: Policy) -> dict[str, Any]:
    """The policy as plain TOML-able data, written the way people write it (weekday names, TOML times
    and dates)."""
    data: dict[str, Any] = _drop_empty_defaults(_drop_none(policy.model_dump(mode="json")),
                                                policy.model_dump(mode="json", exclude_defaults=True))
    calendar = data["calendar"]
    calendar["workdays"] = [WEEKDAYS[day] for day in policy.calendar.workdays]
    calendar["start"], calendar["end"] = policy.calendar.start, policy.calendar.end
    calendar["holidays"] = list(policy.calendar.holidays)
    return data


def to_toml(data: dict[str, Any] | Policy) -> str:
    if isinstance(data, Policy):
        data = policy_data(data)
    return tomli_w.dumps(_drop_none(data))


def fold_severity(policy: Policy, severity: str) -> dict[str, Any]:
    """The policy as it reads for one severity: per-severity values folded in, other severities' tables
    and the deadlines that do not apply left out."""
    data = policy_data(policy)
    requirement = data["severities"].get("requirement", {})
    data["severities"]["requirement"] = {severity: requirement.get(severity, "optional")}
    deadlines: dict[str, Any] = {}
    for name, deadline in data.get("deadlines", {}).items():
        applies = deadline.pop("applies_to", [])
        by_severity = deadline.pop("by_severity", {})
        if not deadline.get("enabled", True) or (applies and severity not in applies):
            continue
        deadline["within"] = by_severity.get(severity, deadline["within"])
        deadlines[name] = deadline
    data["deadlines"] = deadlines
    for section in ("review", "document"):
        per = data[section].pop("by_severity", {}).get(severity, {})
        if section == "review" and "required_roles" in per:
            data[section]["required_roles"] = [*data[section].get("required_roles", []),
                                               *per.pop("required_roles")]
        data[section].update(per)
    return data


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted key -> value; lists of tables by index (people[0].handle), other lists whole."""
    out: dict[str, Any] = {}
    if isinstance(data, dict):
        if not data and prefix:
            out[prefix] = {}
        for key, value in data.items():
            out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(data, list) and data and all(isinstance(item, dict) for item in data):
        for index, item in enumerate(data):
            out.update(flatten(item, f"{prefix}[{index}]"))
    else:
        out[prefix] = data
    return out


def diff(a: Policy, b: Policy) -> list[tuple[str, Any, Any]]:
    """(key, value in a, value in b) for every effective difference; a missing side is None."""
    left, right = flatten(policy_data(a)), flatten(policy_data(b))
    changes = []
    for key in sorted(left.keys() | right.keys()):
        old, new = left.get(key), right.get(key)
        if json.dumps(old, sort_keys=True, default=str) != json.dumps(new, sort_keys=True, default=str):
            changes.append((key, old, new))
    return changes
