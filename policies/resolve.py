"""Resolving a policy for one incident: its severity, whether a postmortem is required (and why), and the
`PostmortemRules` snapshot the workflow records.

The intake calls `decide` on every alert, so everything that depends only on the policy is compiled once
per policy object (`_Compiled`) and the per-incident work is a few dict lookups.

Facts read from an incident's labels (then annotations), under these names unless `[triggers.labels]`
renames them: slo_breached="true", error_budget_burn="2.5" (burn rate multiple), downtime_minutes="45",
revenue_impact="12000", security="true", legal="true", near_miss="true", customer_impact="true".
`Incident.security` / `Incident.legal` count as well.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic_core import from_json

from afterword.policies.calendar import add_business_time, workday_length
from afterword.policies.durations import parse_duration
from afterword.policies.loader import for_team
from afterword.policies.schema import Policy, TriggerPolicy
from afterword.workflows.models import (
    ActionItemRules,
    BusinessCalendar,
    DeadlineRule,
    Incident,
    Milestone,
    PostmortemRules,
    Requirement,
    ReviewRules,
    WaiverRules,
)

_TRUE = frozenset({"true", "yes", "1", "y", "on"})
_RANK = {Requirement.NONE: 0, Requirement.OPTIONAL: 1, Requirement.REQUIRED: 2}
FACTS = ("slo_breached", "error_budget_burn", "downtime_minutes", "revenue_impact", "security", "legal",
         "near_miss", "customer_impact")


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether an incident needs a postmortem, at which severity, and every reason. (A dataclass, not a
    model: the intake makes one per alert.)"""

    requirement: Requirement
    severity: str
    reasons: list[str]
    signoff_required: bool = False
    triggers: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"requirement": self.requirement.value, "severity": self.severity, "reasons": list(self.reasons),
                "signoff_required": self.signoff_required, "triggers": list(self.triggers)}


@dataclass
class _Compiled:
    """What `decide` and `rules_for` need from one policy, computed once."""

    order: dict[str, int]
    names: dict[str, str]  # lower-case name -> severity
    label_maps: list[tuple[str, dict[str, str]]]
    requirement: dict[str, Requirement]
    labels: dict[str, str]  # fact -> label name
    fact_of: dict[str, str]  # label name -> fact
    downtime_minutes: float | None
    calendar: BusinessCalendar
    roles: dict[str, list[str]]
    policy_dict: dict[str, Any]
    policy_json: str  # the dict once more as JSON: a fresh copy per postmortem is one parse away
    policy_hash: str
    deadlines: dict[str, list[DeadlineRule]] = field(default_factory=dict)
    teams: dict[str, Policy] = field(default_factory=dict)


def _compiled(policy: Policy) -> _Compiled:
    # straight to pydantic's private-attribute dict: attribute access costs more than the lookup itself
    private = policy.__pydantic_private__
    found: _Compiled | None = private.get("_compiled") if private is not None else None
    if found is None:
        found = _compile(policy)
        policy._compiled = found
    return found


def _compile(policy: Policy) -> _Compiled:
    severities = policy.severities
    order = {name: index for index, name in enumerate(severities.order)}
    names = {name.lower(): name for name in severities.order}
    label_maps = [(label, {value.lower(): sev for value, sev in values.items()})
                  for label, values in severities.map.items()]
    downtime = policy.triggers.downtime
    calendar = BusinessCalendar(
        timezone=policy.timezone,
        workdays=sorted(set(policy.calendar.workdays)),
        start=policy.calendar.start,
        end=policy.calendar.end,
        holidays=list(policy.calendar.holidays),
    )
    policy_dict = policy.model_dump(mode="json")
    renamed: dict[str, str] = {str(fact): label for fact, label in policy.triggers.labels.items()}
    labels = {fact: renamed.get(fact, fact) for fact in FACTS}
    return _Compiled(
        order=order,
        names=names,
        label_maps=label_maps,
        requirement={n: severities.requirement.get(n, Requirement.OPTIONAL) for n in severities.order},
        labels=labels,
        fact_of={label: fact for fact, label in labels.items()},
        downtime_minutes=None if downtime == "off" else parse_duration(downtime).wall / timedelta(minutes=1),
        calendar=calendar,
        roles={p.handle: list(p.roles) for p in policy.people},
        policy_dict=policy_dict,
        policy_json=json.dumps(policy_dict),
        policy_hash=hashlib.sha256(canonical_json(policy_dict).encode()).hexdigest(),
    )


def canonical_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def policy_hash(policy: Policy) -> str:
    """sha256 of the canonical JSON of the policy: equal policies, equal hash."""
    return _compiled(policy).policy_hash


def effective(policy: Policy, team: str | None) -> Policy:
    """The team's effective policy, cached on the org policy."""
    if not team or team not in policy.teams:
        return policy
    compiled = _compiled(policy)
    found = compiled.teams.get(team)
    if found is None:
        found = compiled.teams[team] = for_team(policy, team)
    return found


# ---------------------------------------------------------------------------------------------------
# Severity and requirement
# ---------------------------------------------------------------------------------------------------


def map_severity(policy: Policy, labels: dict[str, str]) -> str:
    """The severity an alert's labels map to; the most severe when several do; else the policy default."""
    return _map(_compiled(policy), labels) or policy.severities.default


def _map(compiled: _Compiled, labels: dict[str, str]) -> str | None:
    best: str | None = None
    for label, values in compiled.label_maps:
        raw = labels.get(label)
        if raw is None:
            continue
        found = values.get(raw.lower()) or compiled.names.get(raw.lower())
        if found is not None and (best is None or compiled.order[found] < compiled.order[best]):
            best = found
    if best is None:
        for label in ("severity", "priority"):
            raw = labels.get(label)
            if raw is not None and raw.lower() in compiled.names:
                return compiled.names[raw.lower()]
    return best


def incident_severity(policy: Policy, incident: Incident) -> str:
    """The incident's severity as the policy names it: its own if the policy knows it; else its value
    looked up in every label map ("P2", "critical"), else its labels mapped; else the default."""
    compiled = _compiled(policy)
    value = incident.severity.lower()
    own = compiled.names.get(value)
    if own is not None:
        return own
    best: str | None = None
    for _, values in compiled.label_maps:
        found = values.get(value)
        if found is not None and (best is None or compiled.order[found] < compiled.order[best]):
            best = found
    return best or _map(compiled, incident.labels) or policy.severities.default


def _number(raw: str, label: str, reasons: list[str]) -> float | None:
    try:
        return float(raw.replace(",", "").replace("$", "").replace("x", "").strip())
    except ValueError:
        reasons.append(f"label {label}={raw!r} is not a number; ignored")
        return None


def decide(policy: Policy, incident: Incident) -> Decision:
    """Required, optional or none for this incident, with the severity and every reason."""
    policy = effective(policy, incident.team)
    compiled = _compiled(policy)
    severity = incident_severity(policy, incident)
    requirement = compiled.requirement[severity]
    reasons = [f"severity {severity}: postmortem {requirement.value} by the severity rule"]
    # the facts this incident carries (labels win over annotations); most alerts carry none
    fact_of = compiled.fact_of
    facts: dict[str, str] = {}
    for source in (incident.annotations, incident.labels):
        for label, value in source.items():
            fact = fact_of.get(label)
            if fact is not None:
                facts[fact] = value.strip()
    if not facts and not incident.security and not incident.legal:
        return Decision(requirement, severity, reasons)
    fired: list[str] = []
    signoff = _triggers(policy.triggers, compiled, incident, facts, fired, reasons)
    if fired:
        requirement = Requirement.REQUIRED
    near_miss = facts.get("near_miss")
    floor = policy.triggers.near_miss
    if near_miss is not None and near_miss.lower() in _TRUE and _RANK[floor] > _RANK[requirement]:
        requirement = floor
        fired.append("near_miss")
        reasons.append(f"near miss: postmortem {requirement.value}")
    return Decision(requirement, severity, reasons, signoff, fired)


def _triggers(triggers: TriggerPolicy, compiled: _Compiled, incident: Incident, facts: dict[str, str],
              fired: list[str], reasons: list[str]) -> bool:
    """Append each trigger that fires (and why); True when a CIRT/legal sign-off is needed."""
    names = compiled.labels

    def flag(fact: str) -> bool:
        raw = facts.get(fact)
        return raw is not None and raw.lower() in _TRUE

    def number(fact: str) -> float | None:
        raw = facts.get(fact)
        return None if raw is None else _number(raw, names[fact], reasons)

    def require(trigger: str, why: str) -> None:
        fired.append(trigger)
        reasons.append(why)

    if triggers.slo_breached and flag("slo_breached"):
        require("slo_breached", "a customer-facing SLO was breached: required")
    if triggers.error_budget_burn > 0 and (burn := number("error_budget_burn")) is not None \
            and burn >= triggers.error_budget_burn:
        require("error_budget_burn",
                f"error-budget burn {burn:g}x is at or above {triggers.error_budget_burn:g}x: required")
    if compiled.downtime_minutes is not None and (minutes := number("downtime_minutes")) is not None \
            and minutes > compiled.downtime_minutes:
        require("downtime", f"user-facing downtime {minutes:g} min is above {triggers.downtime}: required")
    if triggers.revenue_impact > 0 and (amount := number("revenue_impact")) is not None \
            and amount > triggers.revenue_impact:
        require("revenue_impact", f"revenue impact {amount:g} is above {triggers.revenue_impact:g}: required")
    if triggers.customer_impact and flag("customer_impact"):
        require("customer_impact", "customers were affected: required")
    signoff = False
    for kind, involved, enabled, what in (
        ("security", incident.security or flag("security"), triggers.security, "security incident"),
        ("legal", incident.legal or flag("legal"), triggers.legal, "legal involvement"),
    ):
        if involved:
            signoff = True
            if enabled:
                require(kind, f"{what}: required, with a CIRT/legal sign-off before publishing")
            else:
                reasons.append(f"{what}: CIRT/legal sign-off before publishing")
    return signoff


# ---------------------------------------------------------------------------------------------------
# Rules
# ---------------------------------------------------------------------------------------------------


def _people(policy: Policy, roles: list[str] | set[str]) -> list[str]:
    wanted = set(roles)
    return [p.handle for p in policy.people if wanted & set(p.roles)]


def resolve_refs(policy: Policy, refs: list[str]) -> list[str]:
    """Handles for escalation targets (`alice`, `role:manager`), in order, without repeats."""
    out: list[str] = []
    for ref in refs:
        handles = _people(policy, [ref[5:]]) if ref.startswith("role:") else [ref]
        out.extend(h for h in handles if h not in out)
    return out


def deadline_rules(policy: Policy, severity: str) -> list[DeadlineRule]:
    """The deadlines that apply at `severity`, durations and escalation resolved."""
    compiled = _compiled(policy)
    cached = compiled.deadlines.get(severity)
    if cached is not None:
        return cached
    chain = policy.escalation.chain
    default_reminders = policy.deadline_options.reminders
    workday = workday_length(compiled.calendar)
    rules: list[DeadlineRule] = []
    for name, deadline in policy.deadlines.items():
        if not deadline.enabled or (deadline.applies_to and severity not in deadline.applies_to):
            continue
        span = parse_duration(deadline.by_severity.get(severity, deadline.within))
        reminders = deadline.reminders if deadline.reminders is not None else default_reminders
        rules.append(DeadlineRule(
            name=name,
            after=deadline.after,
            until=deadline.until,
            duration=span.working_time(workday) if span.business else span.wall,
            calendar=compiled.calendar if span.business else None,
            reminders=[parse_duration(r).wall for r in reminders],
            escalate_to=resolve_refs(
                policy, deadline.escalate_to if deadline.escalate_to is not None else chain),
        ))
    compiled.deadlines[severity] = rules
    return rules


def due_at(rule: DeadlineRule, anchor: datetime) -> datetime:
    """When a deadline falls due, given the moment its `after` milestone happened."""
    if rule.calendar is not None:
        return add_business_time(anchor, rule.duration, rule.calendar)
    return anchor + rule.duration


def due_times(policy: Policy, incident: Incident, severity: str | None = None) -> dict[str, datetime | None]:
    """Each deadline's due time as far as the incident tells (trigger and resolution times); None for
    deadlines that start at a milestone that has not happened yet."""
    policy = effective(policy, incident.team)
    severity = severity or incident_severity(policy, incident)
    anchors = {Milestone.TRIGGERED: incident.started_at, Milestone.RESOLVED: incident.resolved_at}
    due: dict[str, datetime | None] = {}
    for rule in deadline_rules(policy, severity):
        anchor = anchors.get(rule.after)
        due[rule.name] = due_at(rule, anchor) if anchor is not None else None
    return due


def rules_for(policy: Policy, incident: Incident) -> PostmortemRules:
    """The resolved rules for one incident: what the postmortem workflow records and enforces."""
    policy = effective(policy, incident.team)
    compiled = _compiled(policy)
    decision = decide(policy, incident)
    severity = decision.severity
    review = policy.review
    per_severity = review.by_severity.get(severity)
    quorum = per_severity.quorum if per_severity and per_severity.quorum is not None else review.quorum
    required_roles = list(review.required_roles)
    if per_severity and per_severity.required_roles is not None:
        required_roles += [r for r in per_severity.required_roles if r not in required_roles]
    if decision.signoff_required:
        required_roles += [r for r in review.security_required_roles if r not in required_roles]
    document = policy.document.by_severity.get(severity)
    sections = document.required_sections if document and document.required_sections is not None else \
        policy.document.required_sections
    template = document.template if document and document.template else policy.document.template
    deadlines = deadline_rules(policy, severity)
    actions = policy.action_items
    chain = resolve_refs(policy, policy.escalation.chain)
    waivers = _people(policy, policy.waivers.roles)
    waivers += [h for h in policy.waivers.people if h not in waivers]
    return PostmortemRules(
        org=policy.org,
        policy_name=policy.name,
        policy_hash=compiled.policy_hash,
        severity=severity,
        requirement=decision.requirement,
        requirement_reasons=list(decision.reasons),
        timezone=policy.timezone,
        # the caller's own copies, so the cache stays untouched (a dump and validation costs a fifth of a deepcopy)
        deadlines=[DeadlineRule.model_validate(rule.model_dump()) for rule in deadlines],
        review=ReviewRules(
            reviewers=_people(policy, review.reviewer_roles),
            quorum=quorum,
            allow_self_approval=review.allow_self_approval,
            required_roles=required_roles,
            signoff_people=_people(policy, review.signoff_roles),
            signoff_required=decision.signoff_required,
        ),
        waivers=WaiverRules(allowed=waivers, min_reason_length=policy.waivers.min_reason_length),
        required_sections=list(sections),
        template=template,
        external_summary=any(r.until == Milestone.EXTERNAL_PUBLISHED for r in deadlines),
        action_items=ActionItemRules(
            types=list(actions.types),
            reminders=[parse_duration(r).wall for r in actions.reminders],
            review_every=parse_duration(actions.review_every).wall,
            validation_window=parse_duration(actions.validation_window).wall,
            escalate_to=chain if actions.escalate_to is None else resolve_refs(policy, actions.escalate_to),
            min_items=actions.min_items,
        ),
        roles={handle: list(roles) for handle, roles in compiled.roles.items()},
        escalation=chain,
        policy=from_json(compiled.policy_json),  # the caller's own copy (pydantic's parser: json.loads's 2/3)
    )
