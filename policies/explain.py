"""`afterword policy explain`: which rules apply to one incident and why, with every due time.

The input is an Incident JSON, or an alert payload as a source sends it (Alertmanager, PagerDuty, Grafana,
Opsgenie, generic) read with the intake's own parsers, so what is explained is what the intake would do.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from afterword.policies.durations import format_timedelta
from afterword.policies.resolve import Decision, decide, due_at, effective, map_severity, rules_for
from afterword.policies.schema import Policy
from afterword.workflows.models import DeadlineRule, Incident, Milestone, PostmortemRules


class AlertFileError(ValueError):
    """The alert file is neither an Incident nor a payload any source understands."""


def incident_from_data(data: Any, org: str, policy: Policy, source: str | None = None) -> Incident:
    """An Incident from Incident JSON or from an alert payload (its severity mapped by the policy)."""
    reasons = []
    if source is None and isinstance(data, dict) and {"key", "title", "severity", "started_at"} <= data.keys():
        try:
            return Incident.model_validate({**data, "org": org})
        except ValidationError as err:
            first = err.errors()[0]
            reasons.append(f"Incident: {'.'.join(map(str, first['loc']))}: {first['msg']}")
    from afterword.intake.sources import PARSERS  # the intake's parsers: same reading as a live alert

    body = json.dumps(data).encode()
    names = [source] if source else list(PARSERS)
    if not source and isinstance(data, dict) and "orgId" in data and "grafana" in names:
        # Grafana sends an Alertmanager-shaped payload plus its own fields: read it as Grafana
        names.remove("grafana")
        names.insert(0, "grafana")
    for name in names:
        parser = PARSERS.get(name)
        if parser is None:
            raise AlertFileError(f"unknown source {name!r}: one of {', '.join(PARSERS)}")
        try:
            notification = parser(body, {})
        except Exception as err:  # each parser raises its own Malformed; try the next
            reasons.append(f"{name}: {err}")
            continue
        return notification.incident(org, map_severity(policy, notification.labels), None)
    raise AlertFileError("no source understands this payload:\n  " + "\n  ".join(reasons))


def incident_from_file(path: Path, org: str, policy: Policy, source: str | None = None) -> Incident:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise AlertFileError(f"cannot read {path}: {err.strerror}") from None
    except json.JSONDecodeError as err:
        raise AlertFileError(f"{path}:{err.lineno}: not valid JSON: {err.msg}") from None
    return incident_from_data(data, org, policy, source)


@dataclass
class DueLine:
    rule: DeadlineRule
    due: datetime | None
    waiting_for: Milestone | None


@dataclass
class Explanation:
    incident: Incident
    decision: Decision
    rules: PostmortemRules
    due: list[DueLine]

    def as_json(self) -> dict[str, Any]:
        return {
            "incident": self.incident.model_dump(mode="json"),
            "decision": self.decision.as_json(),
            "rules": self.rules.model_dump(mode="json", exclude={"policy"}),
            "due": {
                line.rule.name: line.due.isoformat() if line.due else None for line in self.due
            },
        }


def explain(policy: Policy, incident: Incident) -> Explanation:
    policy = effective(policy, incident.team)
    rules = rules_for(policy, incident)
    anchors = {Milestone.TRIGGERED: incident.started_at, Milestone.RESOLVED: incident.resolved_at}
    lines = []
    for rule in rules.deadlines:
        anchor = anchors.get(rule.after)
        due = due_at(rule, anchor) if anchor is not None else None
        lines.append(DueLine(rule, due, None if anchor is not None else rule.after))
    return Explanation(incident, decide(policy, incident), rules, lines)


def _when(moment: datetime, zone: str) -> str:
    local = moment.astimezone(ZoneInfo(zone))
    text = local.strftime("%a %Y-%m-%d %H:%M %Z")
    if zone != "UTC":
        text += moment.astimezone(ZoneInfo("UTC")).strftime(" (%H:%M UTC)")
    return text


def format_explanation(e: Explanation) -> str:
    r, d, i = e.rules, e.decision, e.incident
    out = [
        f"org {r.org} · policy {r.policy_name} ({r.policy_hash[:12]})" + (f" · team {i.team}" if i.team else ""),
        f"incident: {i.title} [{i.source} {i.key}] service {i.service}",
        f"severity: {d.severity}" + ("" if d.severity == i.severity else f" (alert said {i.severity!r})"),
        f"postmortem: {d.requirement.value.upper()}",
    ]
    out += [f"  - {reason}" for reason in d.reasons]
    out.append(f"deadlines (timezone {r.timezone}):")
    width = max((len(line.rule.name) for line in e.due), default=0)
    for line in e.due:
        rule = line.rule
        span = format_timedelta(rule.duration) + (" business time" if rule.calendar else "")
        what = f"{span} after {rule.after.value}, met by {rule.until.value}"
        if line.due is not None:
            when = "due " + _when(line.due, r.timezone)
        else:
            when = f"starts when {line.waiting_for.value if line.waiting_for else '?'}"
        out.append(f"  {rule.name:<{width}}  {what}; {when}")
    review = r.review
    out.append(f"review: {review.quorum} approval(s) from {', '.join(review.reviewers) or 'nobody'}"
               + ("" if review.allow_self_approval else ", no self-approval")
               + (f"; required roles: {', '.join(review.required_roles)}" if review.required_roles else ""))
    if d.signoff_required:
        out.append(f"sign-off before publishing: one of {', '.join(review.signoff_people) or 'nobody'}")
    out.append(f"external summary: {'yes' if r.external_summary else 'no'}")
    out.append(f"template {r.template}; required sections: {', '.join(r.required_sections)}")
    out.append(f"escalation: {' -> '.join(r.escalation) or 'nobody'}")
    return "\n".join(out)
