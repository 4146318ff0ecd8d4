"""The policy schema: what an organisation may write in its TOML, strictly (unknown keys are errors).

Every field carries a description: `afterword policy schema` and docs/policy-reference.md are generated
from them. Checks that need more than one field (a severity named in a table exists, deadlines come in a
sensible order, a quorum can be met) live in `checks.py`, so this module stays a plain description of
the shape.
"""

from __future__ import annotations

import re
from datetime import date, time
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    WithJsonSchema,
    model_validator,
)

from afterword.policies.durations import DURATION_HELP, format_timedelta, parse_duration
from afterword.policies.evidence_schema import EvidencePolicy
from afterword.policies.gates_schema import LanguagePolicy, RedactionPolicy
from afterword.workflows.models import Milestone, Requirement


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_duration(text: str) -> str:
    parse_duration(text)
    return text.strip()


Duration = Annotated[
    str,
    AfterValidator(_check_duration),
    Field(description=DURATION_HELP, json_schema_extra={"examples": ["72h", "5 business days"]}),
]

# The anchors people name in a policy, and the milestone each one stands for.
ANCHOR_ALIASES: dict[str, str] = {
    "trigger": Milestone.TRIGGERED.value,
    "start": Milestone.TRIGGERED.value,
    "resolution": Milestone.RESOLVED.value,
    "end": Milestone.RESOLVED.value,
    "owner": Milestone.OWNER_ASSIGNED.value,
    "draft": Milestone.DRAFT_SUBMITTED.value,
    "approval": Milestone.APPROVED.value,
    "publication": Milestone.PUBLISHED.value,
    "external": Milestone.EXTERNAL_PUBLISHED.value,
    "close": Milestone.CLOSED.value,
}


def _anchor(value: Any) -> Any:
    if isinstance(value, str):
        return ANCHOR_ALIASES.get(value.strip().lower(), value.strip().lower())
    return value


Anchor = Annotated[
    Milestone,
    BeforeValidator(_anchor),
    WithJsonSchema({"enum": sorted({m.value for m in Milestone} | set(ANCHOR_ALIASES))}),
]

_WEEKDAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}


def _weekday(value: Any) -> Any:
    if isinstance(value, str):
        key = value.strip().lower()[:3]
        if key in _WEEKDAYS:
            return _WEEKDAYS[key]
        raise ValueError(
            f"unknown weekday {value!r}: use mon, tue, wed, thu, fri, sat, sun (or 0-6, 0 = Monday)"
        )
    return value


Weekday = Annotated[
    int,
    BeforeValidator(_weekday),
    Field(ge=0, le=6),
    WithJsonSchema({"anyOf": [{"type": "integer", "minimum": 0, "maximum": 6},
                              {"enum": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]}]}),
]


def _check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise ValueError(
            f"unknown timezone {name!r}: use an IANA name such as 'Europe/Berlin' or 'UTC'"
        ) from err
    return name


TimeZoneName = Annotated[str, AfterValidator(_check_timezone)]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def _check_name(value: str) -> str:
    if not _NAME.match(value):
        raise ValueError(f"{value!r} is not a valid name: use letters, digits, '-', '_' or '.'")
    return value


Name = Annotated[str, AfterValidator(_check_name)]


# ---------------------------------------------------------------------------------------------------
# Sections
# ---------------------------------------------------------------------------------------------------


STANDARD_ROLES = {
    "sre": "site reliability engineer",
    "engineer": "engineer",
    "reviewer": "may approve postmortems",
    "security": "security engineer; approves security incidents",
    "legal": "legal counsel; CIRT/legal sign-off",
    "cirt": "computer incident response team; CIRT/legal sign-off",
    "incident-commander": "runs incidents; may waive postmortems; first escalation contact",
    "manager": "engineering manager; may waive postmortems; escalation contact",
}


def _local_time(value: Any) -> Any:
    # a working day starts at a wall-clock time in the policy's timezone: no numbers, no UTC offsets
    if isinstance(value, str):
        try:
            value = time.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"{value!r} is not a time of day: write 09:00:00 or \"09:00\"") from None
    if not isinstance(value, time):
        raise ValueError(f"{value!r} is not a time of day: write 09:00:00 or \"09:00\"")
    if value.tzinfo is not None:
        raise ValueError("write a local time without an offset: the policy's timezone applies")
    return value


LocalTime = Annotated[time, BeforeValidator(_local_time)]


class CalendarPolicy(Section):
    """Working time, in the policy's `timezone`: business-time deadlines only count inside it."""

    workdays: list[Weekday] = Field(
        default_factory=lambda: [0, 1, 2, 3, 4],
        description='working days: names ("mon".."sun") or numbers (0 = Monday)',
    )
    start: LocalTime = Field(default=time(9, 0), description='start of the working day, e.g. "09:00" or 09:00:00')
    end: LocalTime = Field(default=time(17, 0), description="end of the working day")
    holidays: list[date] = Field(default_factory=list, description="days without working time (YYYY-MM-DD)")


class SeverityPolicy(Section):
    """Severity names, their order (most severe first), what maps into each, and the postmortem rule."""

    order: list[Name] = Field(
        default_factory=lambda: ["SEV1", "SEV2", "SEV3", "SEV4", "SEV5"],
        description="severity names, most severe first",
        min_length=1,
    )
    default: str = Field(default="SEV3", description="severity used when nothing in the alert maps to one")
    requirement: dict[str, Requirement] = Field(
        default_factory=dict,
        description="postmortem requirement per severity: required, optional or none "
        "(a severity not listed: optional)",
    )
    map: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="label name -> label value -> severity, e.g. map.priority.P1 = \"SEV1\"; values match "
        "case-insensitively; when several labels map, the most severe wins",
    )


class TriggerPolicy(Section):
    """Facts that make a postmortem required whatever the severity. Each is read from the incident's labels
    or annotations under the name given in `labels` (see docs/policy.md)."""

    slo_breached: bool = Field(default=True, description="a customer-facing SLO was breached")
    error_budget_burn: float = Field(
        default=2.0, ge=0,
        description="error-budget burn rate multiple at or above which it is required (0: off)"
    )
    downtime: Duration | Literal["off"] = Field(
        default="30m",
        description='user-facing downtime above this ("off": no downtime trigger)',
    )
    revenue_impact: float = Field(
        default=10000, ge=0,
        description="revenue impact above this amount (0: off)",
    )
    security: bool = Field(
        default=True,
        description="security incidents: required, plus the CIRT/legal sign-off",
    )
    legal: bool = Field(default=True, description="legal involvement: required, plus the CIRT/legal sign-off")
    near_miss: Requirement = Field(
        default=Requirement.OPTIONAL,
        description="the least a flagged near miss gets: required, optional or none"
    )
    customer_impact: bool = Field(
        default=False, description="any customer impact (label customer_impact=\"true\") makes it required"
    )
    labels: dict[
        Literal[
            "slo_breached", "error_budget_burn", "downtime_minutes", "revenue_impact", "security", "legal",
            "near_miss", "customer_impact",
        ],
        str,
    ] = Field(
        default_factory=dict,
        description="rename the label/annotation a fact is read from, "
        'e.g. labels.downtime_minutes = "outage_min"',
    )


class DeadlinePolicy(Section):
    """A clock that starts at one milestone (`after`) and is met by another (`until`)."""

    after: Anchor = Field(
        description="the anchor that starts the clock: triggered (trigger), owner_assigned, resolved "
        "(resolution), draft_submitted, approved (approval), published"
    )
    until: Anchor = Field(description="the milestone that meets the deadline")
    within: Duration = Field(description="the time allowed (wall clock, or business time)")
    by_severity: dict[str, Duration] = Field(
        default_factory=dict, description="a different `within` per severity, e.g. by_severity.SEV1 = \"24h\""
    )
    applies_to: list[str] = Field(
        default_factory=list, description="only these severities get this deadline (empty: all)"
    )
    reminders: list[Duration] | None = Field(
        default=None, description="reminder offsets before the due time (unset: deadline_options.reminders)"
    )
    escalate_to: list[str] | None = Field(
        default=None,
        description="who hears of a breach: handles or role:<role> (unset: escalation.chain)",
    )
    enabled: bool = Field(default=True, description="false switches this deadline off")


class DeadlineOptions(Section):
    reminders: list[Duration] = Field(
        default_factory=lambda: ["24h", "2h"], description="default reminder offsets before each due time"
    )
    check_order: bool = Field(
        default=True,
        description="refuse a policy whose owner <= draft <= publish <= finalise deadlines are out of order",
    )


class SeverityReview(Section):
    quorum: int | None = Field(default=None, ge=1, description="approvals needed for this severity")
    required_roles: list[str] | None = Field(
        default=None, description="roles among the approvers for this severity"
    )


class ReviewPolicy(Section):
    reviewer_roles: list[str] = Field(
        default_factory=lambda: ["reviewer"], description="people holding any of these roles may approve"
    )
    quorum: int = Field(default=1, ge=1, description="approvals needed (see by_severity)")
    required_roles: list[str] = Field(
        default_factory=list, description="roles that must be among the approvers, always"
    )
    security_required_roles: list[str] = Field(
        default_factory=lambda: ["security"],
        description="roles that must be among the approvers of a security incident",
    )
    signoff_roles: list[str] = Field(
        default_factory=lambda: ["cirt", "legal"],
        description="roles that may give the CIRT/legal sign-off security and legal incidents need",
    )
    allow_self_approval: bool = Field(default=False, description="may the owner or author approve?")
    by_severity: dict[str, SeverityReview] = Field(
        default_factory=dict,
        description="per-severity review rules",
    )


class WaiverPolicy(Section):
    roles: list[str] = Field(
        default_factory=lambda: ["manager", "incident-commander"],
        description="roles that may waive a postmortem"
    )
    people: list[str] = Field(default_factory=list, description="handles that may waive, besides the roles")
    min_reason_length: int = Field(
        default=20, ge=0,
        description="a waiver's reason needs this many characters",
    )


class Person(Section):
    name: str = Field(min_length=1, description='full name, e.g. "Alice Example"')
    handle: Name = Field(description="the handle used in commands and approvals")
    aliases: list[str] = Field(default_factory=list, description="other names and handles (chat, e-mail)")
    team: str | None = Field(default=None, description="the person's team (declared under [teams])")
    roles: list[str] = Field(default_factory=list, description="roles, each declared under [roles]")
    email: str | None = Field(default=None, description="address for notifications")


class DocumentSeverity(Section):
    required_sections: list[str] | None = Field(
        default=None,
        description="sections required for this severity",
    )
    template: str | None = Field(default=None, description="template for this severity")


DEFAULT_SECTIONS = [
    "Summary", "Impact", "Timeline", "Root cause analysis", "Detection", "Resolution", "What went well",
    "What went poorly", "Where we got lucky", "Action items", "Lessons learned",
]


# the document and action-item defaults the completeness gate also falls back to
DEFAULT_PLACEHOLDERS: tuple[str, ...] = ("TBD", "TODO", "<fill in>", "N/A", "...")
ActionField = Literal["owner", "due", "success_criterion", "ticket", "type"]
DEFAULT_ACTION_FIELDS: tuple[ActionField, ...] = ("owner", "due", "success_criterion")

class DocumentPolicy(Section):
    template: str = Field(
        default="default.md",
        description="Markdown template: a shipped name (policies/templates, .j2 optional) or one in templates_dir",
    )
    templates_dir: str | None = Field(
        default=None,
        description="a folder of your own templates; a relative path is taken from the policy file's folder",
    )
    required_sections: list[str] = Field(
        default_factory=lambda: list(DEFAULT_SECTIONS), description="sections a draft must fill"
    )
    placeholders: list[str] = Field(
        default_factory=lambda: list(DEFAULT_PLACEHOLDERS),
        description="texts that count as an empty section",
    )
    by_severity: dict[str, DocumentSeverity] = Field(default_factory=dict, description="per-severity changes")


class ActionItemPolicy(Section):
    types: list[str] = Field(
        default_factory=lambda: ["mitigate", "prevent", "process"], description="allowed action item types"
    )
    required_fields: list[ActionField] = Field(
        default_factory=lambda: list(DEFAULT_ACTION_FIELDS),
        description="fields every action item must have",
    )
    default_due: dict[str, Duration] = Field(
        default_factory=lambda: {"mitigate": "2w", "prevent": "8w", "process": "4w"},
        description="default due date per type (or per priority name)",
    )
    reminders: list[Duration] = Field(
        default_factory=lambda: ["2d"],
        description="reminder offsets before due",
    )
    review_every: Duration = Field(default="1w", description="how often open items are reviewed")
    validation_window: Duration = Field(default="7d", description="time to validate a completed fix")
    escalate_to: list[str] | None = Field(
        default=None, description="handles or role:<role> for overdue items (unset: escalation.chain)"
    )
    min_items: int = Field(default=0, ge=0, description="action items a postmortem needs before closing")


class EscalationPolicy(Section):
    chain: list[str] = Field(
        default_factory=lambda: ["role:incident-commander", "role:manager"],
        description="who hears of breaches, in order: handles or role:<role>",
    )


def _wall_clock(text: str) -> str:
    span = parse_duration(text)
    if span.business:
        raise ValueError("write this in wall-clock time, e.g. \"30m\"")
    return format_timedelta(span.wall)  # the short form every reader of the policy understands


WallDuration = Annotated[str, AfterValidator(_check_duration), AfterValidator(_wall_clock)]


class IntakePolicy(Section):
    flap_window: WallDuration = Field(
        default="30m",
        description="an alert firing again within this time after resolving reopens the same postmortem",
    )


class Integration(Section):
    adapter: str = Field(description="the adapter serving this concern")
    settings: dict[str, Any] = Field(
        default_factory=dict,
        description='adapter settings; secrets only as "env:NAME" or "file:/path" references',
    )


class Team(BaseModel):
    """A team's overrides: any policy section (not org, extends, people or teams), merged over the org's."""

    model_config = ConfigDict(extra="allow", frozen=True)

    description: str = ""

    @model_validator(mode="before")
    @classmethod
    def _plain(cls, data: Any) -> Any:
        # overrides are validated merged into the org policy (loader); here they are kept as plain data, with
        # TOML dates and times as ISO text so that a policy written out and read back is the same policy
        return _iso(data)


def _iso(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _iso(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_iso(v) for v in value]
    if isinstance(value, date | time):
        return value.isoformat()
    return value


class Policy(BaseModel):
    """One organisation's postmortem policy."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="afterword policy")

    org: Name = Field(default="default", description="organisation name (the policy file is <org>.toml)")
    name: str = Field(default="default", description="the policy's own name, recorded with each postmortem")
    description: str = Field(default="", description="what this policy is for (not inherited)")
    extends: str | None = Field(
        default=None,
        description='inherit from "default" (the shipped policy) or a file path relative to this one',
    )
    timezone: TimeZoneName = Field(default="UTC", description="IANA timezone of the organisation")
    calendar: CalendarPolicy = Field(
        default_factory=CalendarPolicy, description="working days, hours and holidays for business-time deadlines"
    )
    severities: SeverityPolicy = Field(
        default_factory=SeverityPolicy, description="severity names, order, label mapping and which need a postmortem"
    )
    triggers: TriggerPolicy = Field(
        default_factory=TriggerPolicy, description="facts that make a postmortem required whatever the severity"
    )
    deadlines: dict[Name, DeadlinePolicy] = Field(default_factory=dict, description="deadlines by name")
    deadline_options: DeadlineOptions = Field(
        default_factory=DeadlineOptions, description="defaults and checks for all deadlines"
    )
    review: ReviewPolicy = Field(
        default_factory=ReviewPolicy, description="who approves, how many, and the CIRT/legal sign-off"
    )
    waivers: WaiverPolicy = Field(
        default_factory=WaiverPolicy, description="who may waive a postmortem and what the reason must say"
    )
    roles: dict[Name, str] = Field(
        default_factory=lambda: dict(STANDARD_ROLES), description="declared roles and what each means"
    )
    people: list[Person] = Field(default_factory=list, description="the roster")
    teams: dict[Name, Team] = Field(default_factory=dict, description="teams and their overrides")
    document: DocumentPolicy = Field(
        default_factory=DocumentPolicy, description="the template, required sections and what counts as empty"
    )
    action_items: ActionItemPolicy = Field(
        default_factory=ActionItemPolicy, description="rules for action items: types, due dates, reminders, validation"
    )
    escalation: EscalationPolicy = Field(
        default_factory=EscalationPolicy, description="who hears of breaches"
    )
    language: LanguagePolicy = Field(default_factory=LanguagePolicy, description="blameless-language gate")
    redaction: RedactionPolicy = Field(default_factory=RedactionPolicy, description="redaction gate")
    intake: IntakePolicy = Field(default_factory=IntakePolicy, description="alert intake")
    evidence: EvidencePolicy = Field(
        default_factory=EvidencePolicy, description="evidence capture (see docs/evidence.md)"
    )
    integrations: dict[Name, Integration] = Field(
        default_factory=dict, description="concern -> adapter (evidence, metrics, archive, tickets, ...)"
    )

    # Derived data for the hot path (decide/rules_for), built once per policy object.
    _compiled: Any = PrivateAttr(default=None)

    def __eq__(self, other: object) -> bool:
        # equal content is an equal policy, whether or not either has been compiled yet
        if not isinstance(other, Policy):
            return NotImplemented
        return self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment]
