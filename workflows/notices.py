"""What crosses the Temporal boundary for notifications: the event a workflow reports, the routing rules
resolved from the policy, and what became of each delivery.

A workflow says *what happened* (a `Notice`: kind, facts, the people it concerns, an idempotency key it
derived deterministically); the notify activity decides *who hears of it where* from the rules, renders
the message from the organisation's templates and delivers it once. Pure pydantic models, light enough to
be imported into the workflow sandbox.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from afterword.workflows.models import BusinessCalendar


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NoticeKind(StrEnum):
    """Every event that needs a person. The value names the template file (`<kind>.md.j2`)."""

    OWNER_ASSIGNED = "owner_assigned"
    DEADLINE_DUE_SOON = "deadline_due_soon"
    DEADLINE_OVERDUE = "deadline_overdue"
    DRAFT_DUE_SOON = "draft_due_soon"
    DRAFT_OVERDUE = "draft_overdue"
    REVIEW_REQUESTED = "review_requested"
    CHANGES_REQUESTED = "changes_requested"
    APPROVED = "approved"
    REDACTION_READY = "redaction_ready"
    SIGNOFF_NEEDED = "signoff_needed"
    PUBLISHED = "published"
    ACTION_ASSIGNED = "action_assigned"
    ACTION_DUE_SOON = "action_due_soon"
    ACTION_OVERDUE = "action_overdue"
    ESCALATED = "escalated"
    VALIDATION_NEEDED = "validation_needed"
    VALIDATION_FAILED = "validation_failed"
    WAIVED = "waived"
    DIGEST = "digest"
    TEST = "test"


# Kinds that report a missed deadline: for the most severe incidents these go out at any hour.
ESCALATIONS = frozenset({NoticeKind.DRAFT_OVERDUE, NoticeKind.DEADLINE_OVERDUE, NoticeKind.ACTION_OVERDUE,
                         NoticeKind.ESCALATED})
# Kinds a team may gather into its digest instead of one message per item.
DIGESTIBLE = frozenset({NoticeKind.ACTION_DUE_SOON, NoticeKind.ACTION_OVERDUE, NoticeKind.DEADLINE_OVERDUE,
                        NoticeKind.DRAFT_OVERDUE, NoticeKind.ESCALATED})


# ---------------------------------------------------------------------------------------------------
# The rules: resolved from the policy's [notifications] section and roster
# ---------------------------------------------------------------------------------------------------


ChannelAdapter = Literal["slack", "teams", "smtp", "webhook", "outbox"]
AddressKind = Literal["email", "slack", "teams", "handle", "none"]


class ChannelInfo(_Model):
    """What routing needs to know of a configured channel (its settings stay with the worker)."""

    name: str
    adapter: ChannelAdapter
    address: AddressKind = Field(
        description="what a person needs in the roster for this channel: email, slack (user id), teams (user id), "
        "handle (any person can be reached), none (a destination of its own: a team channel, a bridge)"
    )


class PersonAddresses(_Model):
    handle: str
    name: str = ""
    email: str | None = None
    slack: str | None = Field(default=None, description="Slack member id, e.g. U024BE7LH")
    teams: str | None = Field(default=None, description="Microsoft Teams user id or UPN")
    timezone: str | None = Field(default=None, description="IANA zone; unset: the organisation's")
    team: str | None = None
    roles: list[str] = Field(default_factory=list)


class QuietHours(_Model):
    """Local wall-clock hours in which reminders wait (the recipient's zone, else the organisation's)."""

    start: time = time(20, 0)
    end: time = time(8, 0)
    weekends: bool = Field(default=False, description="also quiet all Saturday and Sunday")


class Route(_Model):
    """Who hears of which events, where. Routes are read in order; every matching route adds its `to`; the
    first matching route that names channels decides each person's channels (in fallback order)."""

    name: str
    events: list[NoticeKind | Literal["*"]] = Field(default_factory=lambda: ["*"])  # type: ignore[arg-type]
    severities: list[str] = Field(default_factory=list, description="empty: every severity")
    teams: list[str] = Field(default_factory=list, description="empty: every team")
    to: list[str] = Field(
        default_factory=list, description="extra recipients: handles, role:<role>, team:<team>, channel:<name>"
    )
    channels: list[str] = Field(default_factory=list, description="each person's channels, in fallback order")
    digest: Literal["daily", "weekly"] | None = None
    business_hours: bool = Field(default=False, description="reminders wait for the business calendar's hours")


class DigestRules(_Model):
    at: time = time(9, 0)
    weekday: int = Field(default=0, ge=0, le=6, description="weekly digests: 0 = Monday")


class NotificationRules(_Model):
    """The notification part of a postmortem's rules: recorded in history with the rest of its policy."""

    timezone: str = "UTC"
    channels: dict[str, ChannelInfo] = Field(default_factory=dict)
    routes: list[Route] = Field(default_factory=list)
    people: dict[str, PersonAddresses] = Field(default_factory=dict)
    quiet_hours: QuietHours | None = None
    calendar: BusinessCalendar | None = None
    urgent_severities: list[str] = Field(
        default_factory=lambda: ["SEV1"], description="escalations of these severities ignore quiet hours"
    )
    escalation_chain: list[str] = Field(default_factory=list, description="handles or role:<role>, in order")
    repeat_escalation: timedelta | None = Field(
        default=None, description="while overdue, escalate again this often, one step further up the chain"
    )
    digest: DigestRules = Field(default_factory=DigestRules)
    web_url: str | None = Field(default=None, description="base of links to the Web UI; unset: the worker's own")
    templates_dir: str | None = Field(default=None, description="the organisation's own message templates")


# ---------------------------------------------------------------------------------------------------
# The event, and what became of it
# ---------------------------------------------------------------------------------------------------


class ItemFacts(_Model):
    item_id: str
    title: str
    owner: str
    due: datetime
    success_criterion: str = ""
    ticket: str | None = None
    workflow_id: str | None = None


class DigestLine(_Model):
    postmortem_id: str
    title: str
    what: str = Field(description="the overdue thing, e.g. 'action item ai-2: Add a pool-size bound'")
    due: datetime | None = None
    owner: str | None = None


class NoticeFacts(_Model):
    """What the templates can say: the postmortem, the deadline, the item, who acted and why."""

    postmortem_id: str
    org: str
    title: str
    severity: str
    service: str = "unknown"
    team: str | None = None
    state: str = ""
    owner: str | None = None
    deadline: str | None = None
    due_at: datetime | None = None
    actor: str | None = Field(default=None, description="who took the step the notice reports")
    detail: str = Field(default="", description="the reason, comment or finding that goes with it")
    item: ItemFacts | None = None
    links: dict[str, str] = Field(default_factory=dict, description="label -> URL or archive path")
    escalation_level: int = Field(default=0, description="0: the owner; n: n steps up the chain")
    digest: list[DigestLine] = Field(default_factory=list)


class Notice(_Model):
    """One event that needs people. `key` is unique per event and stable across activity retries and
    replays (derived from the workflow id and a sequence number): every delivery's idempotency key, the
    e-mail Message-ID and the webhook delivery id derive from it."""

    key: str
    kind: NoticeKind
    to: list[str] = Field(description="who the event concerns: handles, role:<role>, team:<team>, channel:<name>")
    facts: NoticeFacts
    at: datetime = Field(description="workflow time of the event: quiet hours are judged at this instant")
    rules: NotificationRules
    thread: str = Field(description="conversation the message belongs to (the postmortem id): e-mails thread")


DeliveryState = Literal["sent", "failed", "deferred", "digest", "outbox", "skipped"]


class Delivery(_Model):
    recipient: str = Field(description="a handle, or channel:<name>")
    channel: str
    state: DeliveryState
    attempts: int = 0
    detail: str = ""
    at: datetime | None = None
    until: datetime | None = Field(default=None, description="deferred: when it may go out")


class NoticeOutcome(_Model):
    key: str
    kind: NoticeKind
    deliveries: list[Delivery] = Field(default_factory=list)
    deferred_until: datetime | None = Field(
        default=None, description="some deliveries wait for the end of quiet hours: run the notice again then"
    )

    @property
    def failed(self) -> list[Delivery]:
        return [d for d in self.deliveries if d.state == "failed"]


class NoticeRecord(_Model):
    """A notice as the postmortem's status shows it."""

    key: str
    kind: NoticeKind
    subject: str
    at: datetime
    deliveries: list[Delivery] = Field(default_factory=list)
