"""The data that crosses the Temporal boundary: workflow inputs, update/query payloads, activity I/O.

Everything here is a pydantic model (the pydantic data converter carries them). Each workflow run,
update, signal, query and activity takes exactly one model, because the converter only uses type
hints when the argument count matches (see the project's Temporal notes).

Bodies (evidence, documents) live in the worker's content store and travel here as sha256 references,
except where a person hands one in from a machine that cannot reach that store (a draft, an attachment):
those travel once, capped to what one Temporal payload may carry, and an activity stores them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from afterword.workflows.fix_checks import CheckProgress, FixCheck


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------------------------------------------
# Incidents and the rules resolved for them
# ---------------------------------------------------------------------------------------------------


# What an incident carries goes into workflow history (its start, every capture's input, the status
# query), whoever describes it: an alert source, `afterword start` or a program through
# `afterword.intake.api`. So the incident bounds its own text. Identity is refused when too long (a cut key
# would merge incidents); everything else is cut, the cut marked with an ellipsis.
MAX_ORG = 64
MAX_KEY = 512
MAX_KEY_SUFFIX = 8  # the room a recurrence's "#2", "#3", ... takes beyond a sender's key
MAX_TITLE = 300
MAX_NAME = 200  # service, team, and the names of labels and annotations
MAX_WORD = 64  # source, severity
MAX_DESCRIPTION = 8_000
MAX_LABELS = 64  # and as many annotations
MAX_LABEL_VALUE = 1_000  # a label's or an annotation's value
MAX_LINKS = 20
MAX_LINK = 2_000
# an incident before this never happened: a time this early is a sender's zero value or a typo, and every
# evidence query built from it would fail
EARLIEST_INCIDENT = datetime(2000, 1, 1, tzinfo=UTC)


def clip(text: str, limit: int) -> str:
    """`text`, cut to at most `limit` characters; a cut ends with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _clipped(limit: int) -> BeforeValidator:
    return BeforeValidator(lambda value: clip(value, limit) if isinstance(value, str) else value)


def _bounded_map(value: Any) -> Any:
    """At most MAX_LABELS entries, names and values cut; anything not str -> str is left to the type check."""
    if not isinstance(value, dict):
        return value
    bounded: dict[Any, Any] = {}
    for name, text in value.items():
        if len(bounded) >= MAX_LABELS:
            break
        if isinstance(name, str) and isinstance(text, str):
            name, text = clip(name, MAX_NAME), clip(text, MAX_LABEL_VALUE)
        bounded[name] = text
    return bounded


def _bounded_links(value: Any) -> Any:
    if not isinstance(value, list):
        return value
    return [clip(link, MAX_LINK) if isinstance(link, str) else link for link in value[:MAX_LINKS]]


TextMap = Annotated[dict[str, str], BeforeValidator(_bounded_map)]


class Incident(Model):
    """One incident, as an alert source or a person describes it (text bounded: see MAX_*)."""

    org: str = Field(min_length=1, max_length=MAX_ORG)
    key: str = Field(
        min_length=1,
        max_length=MAX_KEY + MAX_KEY_SUFFIX,
        description="the source's own stable incident key (groupKey, PagerDuty id, ...)",
    )
    source: Annotated[str, _clipped(MAX_WORD)] = "manual"
    title: Annotated[str, _clipped(MAX_TITLE)]
    severity: Annotated[str, _clipped(MAX_WORD)]
    service: Annotated[str, _clipped(MAX_NAME)] = "unknown"
    team: Annotated[str | None, _clipped(MAX_NAME)] = None
    labels: TextMap = Field(default_factory=dict)
    annotations: TextMap = Field(default_factory=dict)
    links: Annotated[list[str], BeforeValidator(_bounded_links)] = Field(default_factory=list)
    started_at: datetime
    resolved_at: datetime | None = None
    security: bool = False
    legal: bool = False
    description: Annotated[str, _clipped(MAX_DESCRIPTION)] = ""
    payload_ref: str | None = Field(default=None, description="sha256 of the raw alert payload in the store")

    @field_validator("started_at", "resolved_at")
    @classmethod
    def _plausible(cls, moment: datetime | None) -> datetime | None:
        if moment is None:
            return None
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError("a time without a UTC offset is ambiguous: give one (e.g. 2026-11-20T14:02:11Z)")
        try:
            moment.astimezone(UTC)
        except OverflowError:  # 9999-12-31T23:59:59-01:00: every comparison with it would fail later
            raise ValueError(f"{moment.isoformat()} is past the end of the calendar in UTC") from None
        if moment < EARLIEST_INCIDENT:
            raise ValueError(f"{moment.isoformat()} is before {EARLIEST_INCIDENT.year}: not a time an incident has")
        return moment


class Requirement(StrEnum):
    REQUIRED = "required"
    OPTIONAL = "optional"
    NONE = "none"


class Milestone(StrEnum):
    """Moments of a postmortem that start or stop a deadline clock."""

    TRIGGERED = "triggered"
    OWNER_ASSIGNED = "owner_assigned"
    RESOLVED = "resolved"
    DRAFT_SUBMITTED = "draft_submitted"
    APPROVED = "approved"
    PUBLISHED = "published"
    EXTERNAL_PUBLISHED = "external_published"
    CLOSED = "closed"


class BusinessCalendar(Model):
    """Working time in the organisation's timezone; business-time deadlines only count inside it."""

    timezone: str = "UTC"
    workdays: list[int] = Field(default_factory=lambda: [0, 1, 2, 3, 4], description="0 = Monday")
    start: time = time(9, 0)
    end: time = time(17, 0)
    holidays: list[date] = Field(default_factory=list)


class DeadlineRule(Model):
    """A clock that starts at one milestone and is met by another."""

    name: str
    after: Milestone
    until: Milestone
    duration: timedelta
    calendar: BusinessCalendar | None = Field(default=None, description="set: count business time only")
    reminders: list[timedelta] = Field(default_factory=list, description="offsets before the due time")
    escalate_to: list[str] = Field(default_factory=list)


class ReviewRules(Model):
    reviewers: list[str]
    quorum: int = 1
    allow_self_approval: bool = False
    required_roles: list[str] = Field(default_factory=list)
    signoff_people: list[str] = Field(
        default_factory=list, description="who may give the CIRT/legal sign-off on security incidents"
    )
    signoff_required: bool = Field(
        default=False, description="the policy's triggers (security, legal) ask for the CIRT/legal sign-off"
    )


class WaiverRules(Model):
    allowed: list[str] = Field(default_factory=list, description="people who may waive a postmortem")
    min_reason_length: int = 10


class ActionItemRules(Model):
    types: list[str] = Field(default_factory=lambda: ["mitigate", "prevent", "process"])
    reminders: list[timedelta] = Field(default_factory=lambda: [timedelta(days=2)])
    review_every: timedelta = timedelta(days=7)
    validation_window: timedelta = timedelta(days=7)
    escalate_to: list[str] = Field(default_factory=list)
    min_items: int = 0


class PostmortemRules(Model):
    """The policy resolved for one incident: recorded once in the workflow's history (its input)."""

    org: str
    policy_name: str
    policy_hash: str
    severity: str
    requirement: Requirement
    requirement_reasons: list[str] = Field(default_factory=list)
    timezone: str = "UTC"
    deadlines: list[DeadlineRule]
    review: ReviewRules
    waivers: WaiverRules = Field(default_factory=WaiverRules)
    required_sections: list[str]
    template: str = "default.md"
    external_summary: bool = False
    action_items: ActionItemRules = Field(default_factory=ActionItemRules)
    roles: dict[str, list[str]] = Field(default_factory=dict, description="person -> roles")
    escalation: list[str] = Field(default_factory=list)
    policy: dict[str, Any] = Field(default_factory=dict, description="the whole effective policy, for activities")


# ---------------------------------------------------------------------------------------------------
# Workflow inputs and messages
# ---------------------------------------------------------------------------------------------------


# raw payload bytes cross Temporal as base64 in JSON; in Python they are the bytes themselves
BYTES_AS_BASE64 = ConfigDict(extra="forbid", ser_json_bytes="base64", val_json_bytes="base64")


class PostmortemInput(Model):
    model_config = BYTES_AS_BASE64

    incident: Incident
    rules: PostmortemRules
    opened_by: str = "afterword"
    alert_payload: bytes | None = Field(
        default=None,
        description="the raw alert payload (sha256 = incident.payload_ref) when it is small enough to travel "
        "with the start: Temporal keeps it durably, and the trigger-time capture puts it in the content store",
    )


class Actor(Model):
    """Who does a human step; every update names one."""

    by: str = Field(min_length=1)


class ResolveRequest(Actor):
    resolved_at: datetime | None = None
    steps_delay: timedelta | None = Field(
        default=None,
        ge=timedelta(0),
        description="storm pacing (the intake): how long after the resolution is recorded its steps (the "
        "resolution-time evidence capture, then the draft) wait; the draft clock runs from the resolution",
    )


class AssignRequest(Actor):
    owner: str = Field(min_length=1)


# What a person's file may weigh when it travels in an update: Temporal refuses a payload over 2 MB unless the
# cluster raises its limit, and bytes cross as base64 (a third more); the history keeps each one twice (the
# update and the activity that stores it), so a draft's cap stays well below an attachment's.
MAX_DOCUMENT_BYTES = 512 * 1024
MAX_ATTACHMENT_BYTES = 1024 * 1024


def size_text(n: int) -> str:
    """A byte count as people read it (the caps' messages)."""
    return f"{n} bytes" if n < 1024 else f"{n / 1024:.0f} KiB" if n < 1024 * 1024 else f"{n / (1024 * 1024):.1f} MiB"


class DraftSubmission(Actor):
    """The draft as Markdown `text` (from anywhere: the worker stores it), or the `document_ref` of one the
    worker's document store already holds."""

    document_ref: str | None = Field(default=None, description="sha256 of the draft in the document store")
    text: str | None = Field(default=None, description="the draft itself, at most MAX_DOCUMENT_BYTES as UTF-8")

    @model_validator(mode="after")
    def _one_document(self) -> DraftSubmission:
        if (self.text is None) == (self.document_ref is None):
            raise ValueError("give the draft's text or its document_ref, not both and not neither")
        if self.text is not None and (size := len(self.text.encode("utf-8"))) > MAX_DOCUMENT_BYTES:
            raise ValueError(
                f"the draft is {size_text(size)}; a draft may be at most {size_text(MAX_DOCUMENT_BYTES)}. "
                "Move long material (logs, dumps) into evidence and link it"
            )
        return self


class EvidenceAttachment(Actor):
    """A person adds a file to the postmortem's evidence: a new manifest version supersedes the current one."""

    model_config = BYTES_AS_BASE64

    name: str = Field(min_length=1, max_length=200, description="the file's name (no directories)")
    data: bytes = Field(max_length=MAX_ATTACHMENT_BYTES)
    note: str = Field(description="what the file shows and where it came from")
    at: datetime | None = Field(default=None, description="the moment it documents, if it documents one")

    @model_validator(mode="after")
    def _named_and_described(self) -> EvidenceAttachment:
        if "/" in self.name or "\\" in self.name or self.name in (".", ".."):
            raise ValueError(f"{self.name!r}: give the file's name without directories")
        if not self.note.strip():
            raise ValueError("say what the attachment shows (--note)")
        return self


class ApproveRequest(Actor):
    comment: str = ""


class ChangesRequest(Actor):
    reason: str = Field(min_length=1)


class WaiveRequest(Actor):
    reason: str


class SignoffRequest(Actor):
    note: str = ""


class ReapplyRequest(Actor):
    rules: PostmortemRules


class ActionType(StrEnum):
    MITIGATE = "mitigate"
    PREVENT = "prevent"
    PROCESS = "process"


class ActionItemSpec(Model):
    title: str = Field(min_length=3)
    owner: str = Field(min_length=1)
    due: datetime
    type: ActionType
    success_criterion: str = Field(min_length=3)
    ticket: str | None = None
    check: FixCheck | None = Field(
        default=None, description="how the workflow itself checks the criterion (unset or manual: a person signs off)"
    )


class AddActionRequest(Actor):
    item: ActionItemSpec


class ActionItemStatus(StrEnum):
    OPEN = "open"
    COMPLETED = "completed"
    VALIDATED = "validated"
    DROPPED = "dropped"


class ActionItemInput(Model):
    postmortem_id: str
    item_id: str
    spec: ActionItemSpec
    rules: ActionItemRules
    escalation: list[str] = Field(default_factory=list)
    org: str = Field(default="", description="whose policy names the servers an automatic check asks")
    # carried across continue-as-new so a long-lived item keeps its history short
    state: ActionItemState | None = None


class CompleteRequest(Actor):
    note: str = ""


class ValidateRequest(Actor):
    passed: bool = True
    evidence: str = Field(min_length=1, description="what shows the success criterion is met")


class DropRequest(Actor):
    reason: str


class ActionItemState(Model):
    item_id: str
    workflow_id: str
    spec: ActionItemSpec
    status: ActionItemStatus = ActionItemStatus.OPEN
    completed_at: datetime | None = None
    completed_by: str | None = None
    validation_due: datetime | None = None
    validated_at: datetime | None = None
    validated_by: str | None = None
    validation_evidence: str | None = None
    dropped_reason: str | None = None
    reminders_sent: int = 0
    escalations: int = 0
    overdue: bool = False
    history: list[str] = Field(default_factory=list)
    revision: int = Field(default=0, description="increases with every change the item reports")
    check: CheckProgress | None = Field(default=None, description="where the automatic check of the fix stands")

    @property
    def finished(self) -> bool:
        return self.status in (ActionItemStatus.VALIDATED, ActionItemStatus.DROPPED)


class UpdateResult(Model):
    """What a human step returns: the state it led to and anything the person should read."""

    state: str
    message: str
    findings: list[Finding] = Field(default_factory=list)


# ---------------------------------------------------------------------------------------------------
# Activity inputs and outputs
# ---------------------------------------------------------------------------------------------------


class TimelineRow(Model):
    """One event of the reconstructed timeline, linked to the evidence item it came from."""

    at: datetime
    event: str
    source: str
    evidence_ref: str | None = Field(default=None, description="sha256 of the evidence item")
    skew_flag: str | None = None
    edited_by: str | None = None


class TimelineEdit(Actor):
    """A person adds a row, or corrects/removes the row at `at` with text `replaces`."""

    action: Literal["add", "correct", "remove"]
    at: datetime
    event: str = ""
    replaces: str | None = None
    reason: str = ""


class EvidenceRequest(Model):
    model_config = BYTES_AS_BASE64

    postmortem_id: str
    incident: Incident
    phase: Literal["trigger", "resolution"] = "trigger"
    policy: dict[str, Any] = Field(default_factory=dict)
    alert_payload: bytes | None = Field(
        default=None, description="the raw alert payload that travelled with the start (until a capture stored it)"
    )


class EvidenceSummary(Model):
    manifest_ref: str
    items: int
    gaps: list[str] = Field(default_factory=list)
    sealed: bool = True
    version: int = Field(default=0, description="the manifest's version; 0 where it was not recorded")


class RenderRequest(Model):
    postmortem_id: str
    incident: Incident
    rules: PostmortemRules
    owner: str | None
    evidence: EvidenceSummary | None
    action_items: list[ActionItemState] = Field(default_factory=list)
    timeline_edits: list[TimelineEdit] = Field(default_factory=list)


class DocumentRef(Model):
    ref: str
    path: str


class Finding(Model):
    gate: str = Field(description="sections | language | actions | redaction")
    rule: str
    severity: Literal["error", "warning"] = "error"
    message: str
    line: int | None = None
    column: int | None = None
    end_column: int | None = Field(
        default=None, description="the column just after the finding's words (same line); unset in older histories"
    )
    suggestion: str | None = None


class CheckRequest(Model):
    postmortem_id: str
    document_ref: str
    rules: PostmortemRules


class CheckResult(Model):
    ok: bool
    findings: list[Finding] = Field(default_factory=list)
    completeness: float = 1.0


class RedactRequest(Model):
    postmortem_id: str
    document_ref: str
    audience: Literal["internal", "external"]
    rules: PostmortemRules


class RedactionReport(Model):
    audience: Literal["internal", "external"]
    redacted_ref: str
    counts: dict[str, int] = Field(default_factory=dict)
    findings: list[Finding] = Field(default_factory=list)


class PublishRequest(Model):
    postmortem_id: str
    incident: Incident
    rules: PostmortemRules
    internal_ref: str
    external_ref: str | None = None
    approvers: list[str] = Field(default_factory=list)


class Publication(Model):
    archive_path: str
    commit: str
    external_path: str | None = None


class Notification(Model):
    postmortem_id: str
    kind: Literal["reminder", "escalation", "info"]
    to: list[str]
    subject: str
    body: str = ""
    at: datetime | None = Field(default=None, description="workflow time the notification was due to go out")
    deadline: str | None = Field(default=None, description="the deadline a reminder or escalation is about")


class DueRequest(Model):
    anchor: datetime
    rule: DeadlineRule


# ---------------------------------------------------------------------------------------------------
# Status (the `status` query)
# ---------------------------------------------------------------------------------------------------


class DeadlineStatus(Model):
    name: str
    due_at: datetime | None = None
    met_at: datetime | None = None
    breached: bool = False
    breached_at: datetime | None = None
    reminders_sent: int = 0
    escalations: int = 0


class AuditEntry(Model):
    at: datetime
    by: str
    event: str
    detail: str = ""


class Progress(Model):
    """The small answer for pollers (scripts, the intake, dashboards): where the postmortem is now."""

    state: str
    owner: str | None
    overdue: bool
    draft_ref: str | None
    redaction_ready: bool
    open_gates: list[str]


class PostmortemStatus(Model):
    postmortem_id: str
    state: str
    incident: Incident
    severity: str
    owner: str | None
    policy_name: str
    policy_hash: str
    overdue: bool
    open_gates: list[str]
    deadlines: list[DeadlineStatus]
    approvals: list[str]
    draft_ref: str | None
    findings: list[Finding]
    completeness: float | None
    evidence: EvidenceSummary | None
    redaction: list[RedactionReport]
    publication: Publication | None
    action_items: list[ActionItemState]
    waiver_reason: str | None
    audit: list[AuditEntry]
    timeline_edits: list[TimelineEdit] = Field(default_factory=list)
    resolution_steps_at: datetime | None = Field(
        default=None, description="storm pacing: when the resolution-time evidence capture and the draft run"
    )


ActionItemInput.model_rebuild()
UpdateResult.model_rebuild()
