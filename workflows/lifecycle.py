"""The postmortem lifecycle as one `transitions` state machine: the single source of truth for which
moves are legal. The workflow fires events on it; update validators ask it first (`check`), so a
person gets the machine's reason before anything reaches history.

The machine only reads facts (`PostmortemFacts`) that the workflow keeps up to date; it does no I/O,
reads no clock and uses no threads, so it is safe inside the workflow sandbox and on replay.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from transitions import Machine

# transitions logs every transition at INFO, on every replay too; the workflow logs what matters.
logging.getLogger("transitions").setLevel(logging.WARNING)


class State(StrEnum):
    TRIGGERED = "triggered"
    PRESERVING = "preserving"
    AWAITING_RESOLUTION = "awaiting_resolution"
    DRAFTING = "drafting"
    IN_REVIEW = "in_review"
    REDACTING = "redacting"
    PUBLISHED = "published"
    TRACKING = "tracking"
    VALIDATING = "validating"
    CLOSED = "closed"
    WAIVED = "waived"


TERMINAL = frozenset({State.CLOSED, State.WAIVED})
# A postmortem may be waived until it is published; after that the record exists and must be finished.
WAIVABLE = [State.TRIGGERED, State.PRESERVING, State.AWAITING_RESOLUTION, State.DRAFTING, State.IN_REVIEW]
# Action items may be added from the first draft on, and while they are being tracked.
ACTIONABLE = [State.DRAFTING, State.IN_REVIEW, State.REDACTING, State.PUBLISHED, State.TRACKING, State.VALIDATING]


@dataclass
class PostmortemFacts:
    """What the guards read. The workflow owns these values; the machine never changes them."""

    incident_resolved: bool = False
    owner: str | None = None
    draft_author: str | None = None
    draft_ok: bool = False
    reviewers: frozenset[str] = frozenset()
    quorum: int = 1
    allow_self_approval: bool = False
    approvals: set[str] = field(default_factory=set)
    required_roles: frozenset[str] = frozenset()
    roles: dict[str, frozenset[str]] = field(default_factory=dict)
    redaction_done: bool = False
    redaction_accepted: bool = False
    needs_signoff: bool = False
    signoff_people: frozenset[str] = frozenset()
    signed_off_by: str | None = None
    waiver_allowed: frozenset[str] = frozenset()
    waiver_min_reason: int = 10
    min_items: int = 0
    # item id -> status value ("open", "completed", "validated", "dropped")
    items: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Guard:
    """A named condition and the sentence a person reads when it does not hold."""

    name: str
    test: Callable[[PostmortemFacts, dict[str, Any]], bool]
    reason: Callable[[PostmortemFacts, dict[str, Any]], str]


def _authors(f: PostmortemFacts) -> set[str]:
    return {p for p in (f.owner, f.draft_author) if p}


def missing_roles(f: PostmortemFacts, by: str | None) -> set[str]:
    approvers = f.approvals | ({by} if by else set())
    covered = {role for person in approvers for role in f.roles.get(person, frozenset())}
    return set(f.required_roles) - covered


def _approval_counts(f: PostmortemFacts, by: str | None) -> int:
    return len(f.approvals | ({by} if by else set()))


GUARDS: dict[str, Guard] = {
    g.name: g
    for g in [
        Guard(
            "has_owner",
            lambda f, kw: f.owner is not None,
            lambda f, kw: "no owner is assigned: run `afterword assign ID OWNER` first",
        ),
        Guard(
            "draft_ok",
            lambda f, kw: f.draft_ok,
            lambda f, kw: "the draft does not pass its checks yet: fix the findings in the status and submit again",
        ),
        Guard(
            "is_reviewer",
            lambda f, kw: kw.get("by") in f.reviewers,
            lambda f, kw: f"{kw.get('by')!r} is not a reviewer under this policy; reviewers: "
            + ", ".join(sorted(f.reviewers)),
        ),
        Guard(
            "not_self_approval",
            lambda f, kw: f.allow_self_approval or kw.get("by") not in _authors(f),
            lambda f, kw: f"{kw.get('by')!r} owns or wrote this draft and cannot approve it; "
            "ask another reviewer",
        ),
        Guard(
            "not_already_approved",
            lambda f, kw: kw.get("by") not in f.approvals,
            lambda f, kw: f"{kw.get('by')!r} has already approved this draft",
        ),
        Guard(
            "quorum_reached",
            lambda f, kw: _approval_counts(f, kw.get("by")) >= f.quorum,
            lambda f, kw: f"{_approval_counts(f, kw.get('by'))} of {f.quorum} approvals",
        ),
        Guard(
            "required_roles_approved",
            lambda f, kw: not missing_roles(f, kw.get("by")),
            lambda f, kw: "the approvals still need a reviewer with the role(s): "
            + ", ".join(sorted(missing_roles(f, kw.get("by")))),
        ),
        Guard(
            "redaction_accepted",
            lambda f, kw: f.redaction_accepted,
            lambda f, kw: "the redaction report has not been accepted: `afterword accept-redaction ID`",
        ),
        Guard(
            "redaction_done",
            lambda f, kw: f.redaction_done,
            lambda f, kw: "redaction is still running; try again in a moment",
        ),
        Guard(
            "signed_off",
            lambda f, kw: not f.needs_signoff or f.signed_off_by is not None,
            lambda f, kw: "this is a security/legal incident: it needs a CIRT/legal sign-off "
            f"(`afterword signoff ID`) from one of: {', '.join(sorted(f.signoff_people)) or 'nobody (fix the policy)'}",
        ),
        Guard(
            "may_sign_off",
            lambda f, kw: f.needs_signoff and kw.get("by") in f.signoff_people,
            lambda f, kw: "no sign-off is needed for this incident"
            if not f.needs_signoff
            else f"{kw.get('by')!r} may not sign off; allowed: {', '.join(sorted(f.signoff_people))}",
        ),
        Guard(
            "has_items",
            lambda f, kw: len(f.items) > 0,
            lambda f, kw: "there are no action items yet",
        ),
        Guard(
            "enough_items",
            lambda f, kw: len(f.items) >= f.min_items,
            lambda f, kw: f"the policy asks for at least {f.min_items} action item(s) before closing",
        ),
        Guard(
            "items_done",
            lambda f, kw: all(s in ("completed", "validated", "dropped") for s in f.items.values()),
            lambda f, kw: "open action items: "
            + ", ".join(sorted(i for i, s in f.items.items() if s == "open")),
        ),
        Guard(
            "items_finished",
            lambda f, kw: all(s in ("validated", "dropped") for s in f.items.values()),
            lambda f, kw: "action items not yet validated or dropped: "
            + ", ".join(sorted(i for i, s in f.items.items() if s not in ("validated", "dropped"))),
        ),
        Guard(
            "resolved",
            lambda f, kw: f.incident_resolved,
            lambda f, kw: "the incident is not resolved yet",
        ),
        Guard(
            "waiver_permitted",
            lambda f, kw: kw.get("by") in f.waiver_allowed,
            lambda f, kw: f"{kw.get('by')!r} may not waive postmortems; allowed: "
            + (", ".join(sorted(f.waiver_allowed)) or "nobody"),
        ),
        Guard(
            "waiver_reason",
            lambda f, kw: len((kw.get("reason") or "").strip()) >= f.waiver_min_reason,
            lambda f, kw: f"a waiver needs a reason of at least {f.waiver_min_reason} characters",
        ),
    ]
}


def _t(trigger: str, source: State | list[State], dest: State | None, *conditions: str) -> dict[str, Any]:
    sources = [s.value for s in source] if isinstance(source, list) else source.value
    return {
        "trigger": trigger,
        "source": sources,
        "dest": dest.value if dest else None,
        "conditions": list(conditions),
    }


S = State
# The lifecycle as data. Order matters where one trigger has several rows: the first whose guards hold wins.
TRANSITIONS: list[dict[str, Any]] = [
    _t("preserve", S.TRIGGERED, S.PRESERVING),
    _t("seal", S.PRESERVING, S.DRAFTING, "resolved"),
    _t("seal", S.PRESERVING, S.AWAITING_RESOLUTION),
    _t("resolve", S.AWAITING_RESOLUTION, S.DRAFTING),
    # the alert fired again (a flap) before the draft went to review: the same postmortem waits again
    _t("reopen", S.DRAFTING, S.AWAITING_RESOLUTION),
    _t("submit_draft", S.DRAFTING, S.IN_REVIEW, "has_owner", "draft_ok"),
    _t("request_changes", S.IN_REVIEW, S.DRAFTING, "is_reviewer"),
    _t("approve", S.IN_REVIEW, S.REDACTING, "is_reviewer", "not_self_approval", "not_already_approved",
       "quorum_reached", "required_roles_approved"),
    # an approval short of quorum is recorded without leaving review (an internal transition)
    _t("approve", S.IN_REVIEW, None, "is_reviewer", "not_self_approval", "not_already_approved"),
    _t("accept_redaction", S.REDACTING, None, "redaction_done", "is_reviewer"),
    _t("sign_off", S.REDACTING, None, "may_sign_off"),
    _t("publish", S.REDACTING, S.PUBLISHED, "redaction_accepted", "signed_off"),
    _t("track", S.PUBLISHED, S.TRACKING, "has_items"),
    _t("close", S.PUBLISHED, S.CLOSED, "enough_items", "items_finished"),
    _t("items_done", S.TRACKING, S.VALIDATING, "items_done"),
    _t("reopen_item", S.VALIDATING, S.TRACKING),
    _t("close", S.VALIDATING, S.CLOSED, "enough_items", "items_finished"),
    _t("waive", WAIVABLE, S.WAIVED, "waiver_permitted", "waiver_reason"),
]

EVENTS: frozenset[str] = frozenset(t["trigger"] for t in TRANSITIONS)


class LifecycleError(Exception):
    """An event the lifecycle does not allow now; the message says why and what to do."""


class Lifecycle:
    """One postmortem's position in the lifecycle, with the facts its guards read."""

    _machine_state: str  # set by transitions.Machine (model_attribute)

    def __init__(self, facts: PostmortemFacts | None = None, state: State = State.TRIGGERED) -> None:
        self.facts = facts or PostmortemFacts()
        self._kwargs: dict[str, Any] = {}
        self.machine = Machine(
            model=self,
            states=[s.value for s in State],
            transitions=[self._bind(t) for t in TRANSITIONS],
            initial=state.value,
            auto_transitions=False,
            send_event=False,
            model_attribute="_machine_state",
        )

    def _bind(self, spec: dict[str, Any]) -> dict[str, Any]:
        bound = dict(spec)
        bound["conditions"] = [self._guard(name) for name in spec["conditions"]]
        return bound

    def _guard(self, name: str) -> Callable[[], bool]:
        guard = GUARDS[name]
        return lambda: guard.test(self.facts, self._kwargs)

    @property
    def state(self) -> State:
        return State(self._machine_state)

    def _rows(self, event: str) -> list[dict[str, Any]]:
        here = self.state.value
        return [
            t for t in TRANSITIONS
            if t["trigger"] == event and (t["source"] == here or here in t["source"])
        ]

    def check(self, event: str, ignore: tuple[str, ...] = (), **kwargs: Any) -> str | None:
        """None when `event` may fire now; otherwise the reason a person can act on.

        `ignore` names guards not to evaluate yet: a validator checks what it can before the
        handler produces the remaining fact (e.g. the draft check result).
        """
        if event not in EVENTS:
            return f"unknown lifecycle event {event!r}"
        rows = self._rows(event)
        if not rows:
            allowed = sorted({s for t in TRANSITIONS if t["trigger"] == event for s in _sources(t)})
            return (
                f"cannot {event.replace('_', ' ')} while the postmortem is {self.state.value}; "
                f"allowed in: {', '.join(allowed)}"
            )
        first_failure: str | None = None
        for row in rows:
            failing = [
                GUARDS[c] for c in row["conditions"]
                if c not in ignore and not GUARDS[c].test(self.facts, kwargs)
            ]
            if not failing:
                return None
            # report the failing guard of the row that got furthest (a blocked internal row is the
            # more specific one when both the quorum and an eligibility guard fail)
            if first_failure is None or len(failing) == 1:
                first_failure = failing[0].reason(self.facts, kwargs)
        return first_failure

    def fire(self, event: str, **kwargs: Any) -> State:
        """Fire `event`; raises LifecycleError with the reason when it is not allowed."""
        reason = self.check(event, **kwargs)
        if reason is not None:
            raise LifecycleError(reason)
        self._kwargs = kwargs
        try:
            getattr(self, event)()
        finally:
            self._kwargs = {}
        return self.state

    def allowed_events(self) -> list[str]:
        return sorted(e for e in EVENTS if self.check(e) is None)


def _sources(t: dict[str, Any]) -> list[str]:
    return [t["source"]] if isinstance(t["source"], str) else list(t["source"])


def mermaid() -> str:
    """The lifecycle as a Mermaid state diagram, for the docs."""
    lines = ["stateDiagram-v2", f"    [*] --> {State.TRIGGERED.value}"]
    for t in TRANSITIONS:
        if t["dest"] is None:
            continue
        guards = f" [{', '.join(t['conditions'])}]" if t["conditions"] else ""
        for src in _sources(t):
            lines.append(f"    {src} --> {t['dest']}: {t['trigger']}{guards}")
    lines += [f"    {s.value} --> [*]" for s in sorted(TERMINAL)]
    return "\n".join(lines)
