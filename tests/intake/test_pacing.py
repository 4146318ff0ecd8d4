"""Storm pacing: a burst of new postmortems starts at once, the rest have their first steps spread."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from afterword.evidence.blobs import ContentStore
from afterword.intake.dispatch import Dispatcher, Outcome
from afterword.intake.pacing import StepPacer
from afterword.intake.sources import alertmanager

from .fakes import FakePolicies, FakeStarter, example_json


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_goes_at_once_then_starts_are_spaced_at_the_rate() -> None:
    clock = Clock()
    pacer = StepPacer(per_second=10, burst=3, max_delay=timedelta(seconds=30), clock=clock)
    delays = [pacer.reserve().total_seconds() for _ in range(6)]
    assert delays[:3] == [0, 0, 0]
    assert [round(d, 3) for d in delays[3:]] == [0.1, 0.2, 0.3]
    clock.now += 60  # the storm is over: the bucket has refilled
    assert [pacer.reserve() for _ in range(3)] == [timedelta(0)] * 3


def test_the_delay_never_exceeds_the_maximum() -> None:
    pacer = StepPacer(per_second=1, burst=1, max_delay=timedelta(seconds=5), clock=Clock())
    delays = [pacer.reserve() for _ in range(50)]
    assert max(delays) == timedelta(seconds=5)
    assert delays[:6] == [timedelta(seconds=s) for s in range(6)]


def test_zero_rate_turns_pacing_off() -> None:
    pacer = StepPacer(per_second=0, burst=1, max_delay=timedelta(seconds=30), clock=Clock())
    assert {pacer.reserve() for _ in range(100)} == {timedelta(0)}


@given(
    rate=st.floats(min_value=0.5, max_value=200),
    burst=st.integers(min_value=1, max_value=20),
    gaps=st.lists(st.floats(min_value=0, max_value=2), min_size=1, max_size=200),
)
def test_first_steps_never_run_faster_than_the_rate_allows(rate: float, burst: int, gaps: list[float]) -> None:
    """Whatever the arrivals, the paced first steps within any window of length w number at most
    burst + rate * w (up to the cap, which only ever delays less than the backlog would)."""
    clock = Clock()
    pacer = StepPacer(per_second=rate, burst=burst, max_delay=timedelta(hours=1), clock=clock)
    runs: list[float] = []
    for gap in gaps:
        clock.now += gap
        delay = pacer.reserve().total_seconds()
        assert delay >= 0
        runs.append(clock.now + delay)
    runs.sort()
    for i, start in enumerate(runs):
        within = [r for r in runs[i:] if r <= start + 1.0]
        assert len(within) <= burst + rate * 1.0 + 1e-6


T0 = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)


def storm_body(i: int, status: str = "firing", **extra: Any) -> bytes:
    """Alertmanager's notification for incident `i` of a storm whose alerts all started at T0."""
    data = example_json("alertmanager-firing.json")
    data["groupKey"] = f'{{}}:{{alertname="Storm{i}"}}'
    data["status"] = data["alerts"][0]["status"] = status
    data["alerts"][0]["startsAt"] = T0.isoformat()
    if status == "resolved":
        data["alerts"][0]["endsAt"] = (T0 + timedelta(minutes=20)).isoformat()
    data.update(extra)
    return json.dumps(data).encode()


def paced_intake(tmp_path: Path) -> tuple[FakeStarter, Clock, StepPacer, Dispatcher]:
    """A dispatcher whose pacer lets 2 through at once, then one every 0.1 s."""
    starter, clock = FakeStarter(), Clock()
    pacer = StepPacer(per_second=10, burst=2, max_delay=timedelta(seconds=30), clock=clock)
    d = Dispatcher(starter, FakePolicies(timedelta(minutes=30)), ContentStore(tmp_path / "store"), pacer=pacer)
    return starter, clock, pacer, d


async def send(d: Dispatcher, body: bytes) -> Outcome:
    return await d.accept("acme", alertmanager.parse(body), body)


async def test_a_storm_of_new_incidents_is_paced_but_repeats_are_not(tmp_path: Path) -> None:
    starter, _, pacer, d = paced_intake(tmp_path)
    outcomes = [await send(d, storm_body(i)) for i in range(5)]
    assert [o.action for o in outcomes] == ["started"] * 5
    delays = [wf["start_delay"] for wf in starter.workflows.values()]
    assert delays[:2] == [None, None]
    assert [round(d.total_seconds(), 3) for d in delays[2:]] == [0.1, 0.2, 0.3]
    assert outcomes[4].note == "storm pacing: first steps in 0.3 s"  # the sender is told
    # the same incidents again: matched, and no slot is taken from the pacer
    for i in range(5):
        assert (await send(d, storm_body(i, commonAnnotations={"again": "yes"}))).action == "matched"
    assert round(pacer.reserve().total_seconds(), 3) == 0.4


async def test_resolves_in_a_storm_have_their_steps_paced_by_the_same_pacer(tmp_path: Path) -> None:
    starter, clock, _, d = paced_intake(tmp_path)
    for i in range(2):  # the storm's burst: two new postmortems take their first steps at once
        assert (await send(d, storm_body(i))).action == "started"
    answers = [await send(d, storm_body(i, "resolved")) for i in range(2)]
    assert [a.action for a in answers] == ["resolved", "resolved"]
    delays = [wf["resolve_request"].steps_delay for wf in starter.workflows.values()]
    assert [round(delay.total_seconds(), 3) for delay in delays] == [0.1, 0.2]  # behind the starts' slots
    assert answers[1].note == "storm pacing: evidence capture and draft in 0.2 s"  # the sender is told
    clock.now += 60  # calm again: a resolve's steps run at once
    await send(d, storm_body(7))
    answer = await send(d, storm_body(7, "resolved"))
    assert answer.action == "resolved" and answer.note == ""
    assert starter.workflows[answer.workflow_id or ""]["resolve_request"].steps_delay is None
