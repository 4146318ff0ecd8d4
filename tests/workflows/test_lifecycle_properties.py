"""Properties of the lifecycle machine over random event sequences (hypothesis stateful testing)."""

from __future__ import annotations

from collections import deque

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from afterword.workflows.lifecycle import (
    EVENTS,
    TERMINAL,
    TRANSITIONS,
    Lifecycle,
    LifecycleError,
    PostmortemFacts,
    State,
)

PEOPLE = ["olivia", "rita", "ravi", "sam", "mia", "mallory"]
REVIEWERS = frozenset({"rita", "ravi", "olivia"})
people = st.sampled_from(PEOPLE)


class LifecycleMachine(RuleBasedStateMachine):
    """Random people fire random events with random facts; the guards must hold the line."""

    def __init__(self) -> None:
        super().__init__()
        self.lc = Lifecycle(
            PostmortemFacts(
                reviewers=REVIEWERS, quorum=2, signoff_people=frozenset({"sam"}),
                waiver_allowed=frozenset({"mia"}), waiver_min_reason=10,
            )
        )
        self.approvals_at_publish: set[str] | None = None
        self.approvals_when_review_left: set[str] = set()
        self.visited: set[State] = {self.lc.state}

    def _fire(self, event: str, **kwargs: object) -> bool:
        before = self.lc.state
        allowed = self.lc.check(event, **kwargs) is None
        try:
            self.lc.fire(event, **kwargs)
        except LifecycleError:
            assert not allowed
            assert self.lc.state == before  # a refused event changes nothing
            return False
        assert allowed
        if event == "approve":  # nobody approves a draft they own or wrote
            assert kwargs["by"] not in {self.lc.facts.owner, self.lc.facts.draft_author}
        self.visited.add(self.lc.state)
        if before is State.IN_REVIEW and self.lc.state is State.REDACTING:
            self.approvals_when_review_left = self.lc.facts.approvals | {str(kwargs["by"])}
        if self.lc.state is State.PUBLISHED and before is State.REDACTING:
            self.approvals_at_publish = set(self.approvals_when_review_left)
        return True

    # ------------------------------------------------------------------ facts change as in the workflow

    @rule(owner=people)
    def assign(self, owner: str) -> None:
        if self.lc.state not in TERMINAL:
            self.lc.facts.owner = owner

    @rule()
    def resolve(self) -> None:
        self.lc.facts.incident_resolved = True
        if self.lc.state is State.AWAITING_RESOLUTION:
            self._fire("resolve")

    @rule(ok=st.booleans(), by=people)
    def submit(self, ok: bool, by: str) -> None:
        if self.lc.state is State.DRAFTING:
            self.lc.facts.draft_ok = ok
            self.lc.facts.draft_author = by
        self._fire("submit_draft", by=by)

    @rule(by=people)
    def approve(self, by: str) -> None:
        if self._fire("approve", by=by):
            self.lc.facts.approvals.add(by)

    @rule(by=people)
    def request_changes(self, by: str) -> None:
        if self._fire("request_changes", by=by):
            self.lc.facts.approvals.clear()
            self.lc.facts.draft_ok = False

    @rule()
    def redaction_runs(self) -> None:
        if self.lc.state is State.REDACTING:
            self.lc.facts.redaction_done = True

    @rule(by=people)
    def accept_redaction(self, by: str) -> None:
        if self._fire("accept_redaction", by=by):
            self.lc.facts.redaction_accepted = True

    @rule(security=st.booleans())
    def security_flag(self, security: bool) -> None:
        if self.lc.state in (State.TRIGGERED, State.PRESERVING):
            self.lc.facts.needs_signoff = security

    @rule(by=people)
    def sign_off(self, by: str) -> None:
        if self._fire("sign_off", by=by):
            self.lc.facts.signed_off_by = by

    @rule(by=people, reason=st.text(max_size=30))
    def waive(self, by: str, reason: str) -> None:
        self._fire("waive", by=by, reason=reason)

    @rule(
        event=st.sampled_from(sorted(EVENTS - {"approve", "waive", "sign_off", "accept_redaction", "request_changes"}))
    )
    def other_event(self, event: str) -> None:
        self._fire(event)

    @rule(item=st.sampled_from(["ai-1", "ai-2", "ai-3"]), status=st.sampled_from(["open", "completed", "validated",
                                                                                     "dropped"]))
    def item_changes(self, item: str, status: str) -> None:
        if self.lc.state not in TERMINAL:
            self.lc.facts.items[item] = status

    @precondition(lambda self: self.lc.state is State.TRIGGERED)
    @rule()
    def preserve(self) -> None:
        assert self._fire("preserve")

    @rule(data=st.data(), steps=st.integers(min_value=1, max_value=8))
    def advance(self, data: st.DataObject, steps: int) -> None:
        """Well-behaved steps forward, so random runs also reach the late states often."""
        for _ in range(steps):
            self._step_forward(data)

    def _step_forward(self, data: st.DataObject) -> None:
        f, state = self.lc.facts, self.lc.state
        if state is State.PRESERVING:
            self._fire("seal")
        elif state is State.AWAITING_RESOLUTION:
            self.resolve()
        elif state is State.DRAFTING:
            f.owner = f.owner or "olivia"
            self.submit(True, f.owner)
        elif state is State.IN_REVIEW:
            self.approve(data.draw(st.sampled_from(sorted(REVIEWERS - {f.owner, f.draft_author}))))
        elif state is State.REDACTING:
            f.redaction_done = True
            self.accept_redaction("ravi")
            self.sign_off("sam")
            self._fire("publish")
        elif state is State.PUBLISHED:
            f.items.setdefault("ai-1", "open")
            self._fire("track")
        elif state in (State.TRACKING, State.VALIDATING):
            for item in sorted(f.items):  # owners finish their items; reviewers validate the fixes
                f.items[item] = {"open": "completed", "completed": "validated"}.get(f.items[item], f.items[item])
            self._fire("items_done")
            self._fire("close")

    # ------------------------------------------------------------------ what must always hold

    @invariant()
    def nothing_published_without_quorum_and_redaction(self) -> None:
        if self.lc.state in (State.PUBLISHED, State.TRACKING, State.VALIDATING) or (
            self.lc.state is State.CLOSED and self.approvals_at_publish is not None
        ):
            assert self.approvals_at_publish is not None
            assert len(self.approvals_at_publish & REVIEWERS) >= 2
            assert self.lc.facts.redaction_accepted
            if self.lc.facts.needs_signoff:
                assert self.lc.facts.signed_off_by == "sam"

    @invariant()
    def nothing_closes_with_unfinished_items(self) -> None:
        if self.lc.state is State.CLOSED:
            assert all(s in ("validated", "dropped") for s in self.lc.facts.items.values())

    @invariant()
    def waived_only_by_a_permitted_person_with_a_reason(self) -> None:
        if self.lc.state is State.WAIVED:
            assert State.PUBLISHED not in self.visited


TestLifecycle = LifecycleMachine.TestCase
TestLifecycle.settings = settings(max_examples=200, stateful_step_count=50, deadline=None)


def test_random_runs_reach_every_state() -> None:
    """Guards the stateful test itself: its runs must get to the late states where the invariants bite."""
    reached: set[State] = set()

    class Probe(LifecycleMachine):
        def teardown(self) -> None:
            reached.update(self.visited)

    run = Probe.TestCase
    run.settings = settings(max_examples=200, stateful_step_count=50, deadline=None, database=None)
    run().runTest()
    assert reached == set(State)


def test_waiver_requires_reason_and_permission() -> None:
    lc = Lifecycle(PostmortemFacts(waiver_allowed=frozenset({"mia"}), waiver_min_reason=10))
    assert lc.check("waive", by="mia", reason="short") == "a waiver needs a reason of at least 10 characters"
    assert "may not waive" in (lc.check("waive", by="rita", reason="a perfectly good reason") or "")
    assert lc.fire("waive", by="mia", reason="a perfectly good reason") is State.WAIVED


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {s.value: set() for s in State}
    for t in TRANSITIONS:
        if t["dest"] is None:
            continue
        sources = [t["source"]] if isinstance(t["source"], str) else t["source"]
        for src in sources:
            graph[src].add(t["dest"])
    return graph


def test_every_state_is_reachable_and_none_is_a_dead_end() -> None:
    graph = _graph()
    seen, queue = {State.TRIGGERED.value}, deque([State.TRIGGERED.value])
    while queue:
        for nxt in graph[queue.popleft()] - seen:
            seen.add(nxt)
            queue.append(nxt)
    assert seen == {s.value for s in State}
    terminal = {s.value for s in TERMINAL}
    for state in graph:  # from every state some terminal state can still be reached
        reach, queue = {state}, deque([state])
        while queue:
            for nxt in graph[queue.popleft()] - reach:
                reach.add(nxt)
                queue.append(nxt)
        assert reach & terminal, f"{state} is a dead end"
        if state not in terminal:
            assert graph[state], f"{state} has no way out"


def test_the_happy_path_is_a_real_sequence_of_legal_events() -> None:
    lc = Lifecycle(PostmortemFacts(reviewers=REVIEWERS, quorum=2))
    lc.fire("preserve")
    lc.facts.incident_resolved = True
    lc.fire("seal")
    assert lc.state is State.DRAFTING
    lc.facts.owner, lc.facts.draft_ok = "olivia", True
    lc.fire("submit_draft", by="olivia")
    lc.fire("approve", by="rita")
    lc.facts.approvals.add("rita")
    assert lc.state is State.IN_REVIEW
    lc.fire("approve", by="ravi")
    assert lc.state is State.REDACTING
    assert lc.check("publish") is not None
    lc.facts.redaction_accepted = True
    lc.fire("publish")
    lc.facts.items = {"ai-1": "open"}
    lc.fire("track")
    assert lc.check("items_done") == "open action items: ai-1"
    lc.facts.items = {"ai-1": "completed"}
    lc.fire("items_done")
    assert "not yet validated" in (lc.check("close") or "")
    lc.facts.items = {"ai-1": "validated"}
    assert lc.fire("close") is State.CLOSED
