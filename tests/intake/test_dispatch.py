"""The dispatcher's decisions: one postmortem per incident through duplicates, storms, resolution,
flaps (reopen within the policy window) and recurrences (a postmortem of their own after it)."""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from afterword.evidence.blobs import ContentStore
from afterword.intake.dispatch import Dispatcher
from afterword.intake.refusals import TemporalUnavailable
from afterword.intake.sources import alertmanager, pagerduty

from .fakes import FakePolicies, FakeStarter, example_json

T0 = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)


def am(status: str, starts: datetime, ends: datetime | None = None, extra: str = "") -> bytes:
    data = example_json("alertmanager-firing.json")
    data["status"] = status
    alert = data["alerts"][0]
    alert["status"] = status
    alert["startsAt"] = starts.isoformat()
    alert["endsAt"] = (ends or datetime(1, 1, 1, tzinfo=UTC)).isoformat()
    alert["annotations"]["extra"] = extra  # makes otherwise equal re-sends distinct deliveries
    return json.dumps(data).encode()


@pytest.fixture
def starter() -> FakeStarter:
    return FakeStarter()


def dispatcher(
    starter: FakeStarter, tmp_path: Path, window: timedelta = timedelta(minutes=30), trust: float = 10
) -> Dispatcher:
    return Dispatcher(
        starter, FakePolicies(window), ContentStore(tmp_path / "store"), trust_for=timedelta(seconds=trust)
    )


async def send(d: Dispatcher, body: bytes) -> str:
    outcome = await d.accept("acme", alertmanager.parse(body), body)
    return outcome.action


async def test_repeats_of_a_firing_group_match_without_status_queries(starter: FakeStarter, tmp_path: Path) -> None:
    d = dispatcher(starter, tmp_path)
    assert await send(d, am("firing", T0)) == "started"
    for i in range(5):  # group_interval re-sends: same group, new content
        assert await send(d, am("firing", T0, extra=str(i))) == "matched"
    assert len(starter.workflows) == 1
    assert starter.count("status") == 0  # the idempotent start answers; no query per notification


async def test_only_firings_with_news_go_back_to_temporal_once_the_acknowledgment_is_old(
    starter: FakeStarter, tmp_path: Path
) -> None:
    d = dispatcher(starter, tmp_path, trust=0)
    await send(d, am("firing", T0))
    for i in range(3):  # re-sends of the same alerts: nothing Temporal could answer differently
        assert await send(d, am("firing", T0, extra=str(i))) == "matched"
    assert starter.count("open") == 1
    # an alert that started later is news: the intake confirms with Temporal (an idempotent start)
    assert await send(d, am("firing", T0 + timedelta(minutes=1))) == "matched"
    assert starter.count("open") == 2
    assert await send(d, am("firing", T0 + timedelta(minutes=1), extra="again")) == "matched"
    assert starter.count("open") == 2
    starter.workflows.clear()  # e.g. an operator terminated and deleted it meanwhile
    assert await send(d, am("firing", T0, extra="old")) == "matched"  # an old alert does not bring it back
    assert await send(d, am("firing", T0 + timedelta(minutes=2))) == "started"  # a new one does


async def test_only_the_payload_of_a_start_is_kept_and_a_small_one_travels_with_it(
    starter: FakeStarter, tmp_path: Path
) -> None:
    d = dispatcher(starter, tmp_path)
    store = ContentStore(tmp_path / "store")
    first = am("firing", T0)
    started = await d.accept("acme", alertmanager.parse(first), first)
    assert started.payload_ref == hashlib.sha256(first).hexdigest()
    (wf,) = starter.workflows.values()
    assert wf["incident"].payload_ref == started.payload_ref  # the postmortem's first evidence ...
    assert wf["alert_payload"] == first  # ... carried by the start, which Temporal keeps durably
    assert not store.exists(started.payload_ref)  # no file written on the intake's side
    repeat = am("firing", T0, extra="1")
    matched = await d.accept("acme", alertmanager.parse(repeat), repeat)
    assert matched.action == "matched" and matched.payload_ref is None
    # a repeat answered from the cache is evidence of nothing new: it leaves nothing behind
    assert not store.exists(hashlib.sha256(repeat).hexdigest())


async def test_a_start_that_finds_the_postmortem_existing_claims_no_payload(
    starter: FakeStarter, tmp_path: Path
) -> None:
    first = am("firing", T0)
    await dispatcher(starter, tmp_path).accept("acme", alertmanager.parse(first), first)
    later = am("firing", T0 + timedelta(minutes=1))  # news, to an intake that restarted since
    matched = await dispatcher(starter, tmp_path).accept("acme", alertmanager.parse(later), later)
    assert matched.action == "matched" and starter.count("open") == 2
    # Temporal kept the existing postmortem's input: this payload is nowhere, and the answer says so
    assert matched.payload_ref is None
    (wf,) = starter.workflows.values()
    assert wf["alert_payload"] == first


async def test_a_payload_too_large_to_travel_with_the_start_is_stored_before_it(
    starter: FakeStarter, tmp_path: Path
) -> None:
    store = ContentStore(tmp_path / "store")
    d = Dispatcher(starter, FakePolicies(timedelta(minutes=30)), store, payload_with_start_max_bytes=100)
    body = am("firing", T0)
    assert len(body) > 100
    started = await d.accept("acme", alertmanager.parse(body), body)
    (wf,) = starter.workflows.values()
    assert wf["alert_payload"] is None and started.payload_ref == wf["incident"].payload_ref
    assert store.get(started.payload_ref) == body  # stored before the start was asked for


@pytest.mark.parametrize("trust", [0, 10])
async def test_flap_within_the_window_reopens(starter: FakeStarter, tmp_path: Path, trust: float) -> None:
    d = dispatcher(starter, tmp_path, trust=trust)
    await send(d, am("firing", T0))
    assert await send(d, am("resolved", T0, T0 + timedelta(minutes=20))) == "resolved"
    assert await send(d, am("firing", T0 + timedelta(minutes=35))) == "reopened"  # 15 min after resolution
    (wf,) = starter.workflows.values()
    assert wf["state"] == "awaiting_resolution"
    assert await send(d, am("resolved", T0 + timedelta(minutes=35), T0 + timedelta(minutes=50))) == "resolved"
    assert len(starter.workflows) == 1


@pytest.mark.parametrize("trust", [0, 10])
async def test_recurrence_after_the_window_gets_its_own_postmortem(
    starter: FakeStarter, tmp_path: Path, trust: float
) -> None:
    d = dispatcher(starter, tmp_path, trust=trust)
    await send(d, am("firing", T0))
    await send(d, am("resolved", T0, T0 + timedelta(minutes=20)))
    assert await send(d, am("firing", T0 + timedelta(hours=5))) == "started"
    assert len(starter.workflows) == 2
    second = next(w for w in starter.workflows.values() if w["incident"].key.endswith("#2"))
    assert await send(d, am("resolved", T0 + timedelta(hours=5), T0 + timedelta(hours=6))) == "resolved"
    assert second["state"] == "drafting"


@pytest.mark.parametrize("trust", [0, 10])
async def test_late_copy_of_an_old_firing_does_not_reopen(starter: FakeStarter, tmp_path: Path, trust: float) -> None:
    d = dispatcher(starter, tmp_path, trust=trust)
    await send(d, am("firing", T0))
    await send(d, am("resolved", T0, T0 + timedelta(minutes=20)))
    assert await send(d, am("firing", T0, extra="retried late")) == "matched"
    assert starter.count("reopen") == 0


async def test_a_flap_after_the_draft_was_submitted_is_recorded_not_forced(
    starter: FakeStarter, tmp_path: Path
) -> None:
    d = dispatcher(starter, tmp_path)
    await send(d, am("firing", T0))
    await send(d, am("resolved", T0, T0 + timedelta(minutes=20)))
    (wf,) = starter.workflows.values()
    wf["state"] = "in_review"
    outcome = await d.accept("acme", alertmanager.parse(b := am("firing", T0 + timedelta(minutes=25))), b)
    assert outcome.action == "matched" and "not reopened" in outcome.note


async def test_after_a_restart_the_state_comes_from_temporal(starter: FakeStarter, tmp_path: Path) -> None:
    await send(dispatcher(starter, tmp_path), am("firing", T0))
    await send(dispatcher(starter, tmp_path), am("resolved", T0, T0 + timedelta(minutes=20)))
    fresh = dispatcher(starter, tmp_path)
    assert await send(fresh, am("firing", T0 + timedelta(minutes=30))) == "reopened"
    restarted = dispatcher(starter, tmp_path)
    await send(restarted, am("resolved", T0 + timedelta(minutes=30), T0 + timedelta(minutes=40)))
    later = dispatcher(starter, tmp_path)
    assert await send(later, am("firing", T0 + timedelta(days=2))) == "started"
    after_that = dispatcher(starter, tmp_path)  # finds "#2" by probing, resolves it, not the first one
    assert await send(after_that, am("resolved", T0 + timedelta(days=2), T0 + timedelta(days=2, hours=1))) == "resolved"
    states = sorted((w["incident"].key[-2:], w["state"]) for w in starter.workflows.values())
    assert [s for _, s in states] == ["drafting", "drafting"]


async def test_resolved_before_any_firing_opens_and_resolves(starter: FakeStarter, tmp_path: Path) -> None:
    d = dispatcher(starter, tmp_path)
    assert await send(d, am("resolved", T0, T0 + timedelta(minutes=5))) == "resolved"
    (wf,) = starter.workflows.values()
    assert wf["state"] == "drafting"


async def test_pagerduty_reopened_reopens(starter: FakeStarter, tmp_path: Path) -> None:
    d = dispatcher(starter, tmp_path)
    for name in ("triggered", "resolved", "reopened"):
        body = json.dumps(example_json(f"pagerduty-{name}.json")).encode()
        outcome = await d.accept("acme", pagerduty.parse(body, {"X-Webhook-Id": name}), body)
    assert outcome.action == "reopened"
    assert len(starter.workflows) == 1


async def test_storm_of_concurrent_copies_reaches_one_workflow(starter: FakeStarter, tmp_path: Path) -> None:
    d = dispatcher(starter, tmp_path)
    same = am("firing", T0)
    bodies = [same] * 50 + [am("firing", T0, extra=str(i)) for i in range(50)]
    outcomes = await asyncio.gather(*(d.accept("acme", alertmanager.parse(b), b) for b in bodies))
    assert sum(1 for o in outcomes if o.action == "started" and not o.duplicate) == 1
    assert sum(1 for o in outcomes if o.duplicate) == 49
    assert len(starter.workflows) == 1
    # identical copies shared one piece of work; distinct re-sends were answered from the fresh acknowledgment
    assert starter.count("open") == 1


async def test_unavailable_temporal_is_not_remembered(starter: FakeStarter, tmp_path: Path) -> None:
    d = dispatcher(starter, tmp_path)
    starter.down = True
    with pytest.raises(TemporalUnavailable):
        await send(d, am("firing", T0))
    starter.down = False
    assert await send(d, am("firing", T0)) == "started"


async def test_slow_temporal_is_unavailable_in_time(starter: FakeStarter, tmp_path: Path) -> None:
    class Slow(FakeStarter):
        async def open(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            await asyncio.sleep(5)
            return await super().open(*args, **kwargs)

    d = Dispatcher(Slow(), FakePolicies(), ContentStore(tmp_path), timeout=timedelta(milliseconds=100))
    with pytest.raises(TemporalUnavailable, match="did not acknowledge"):
        await send(d, am("firing", T0))


async def test_repeats_do_not_queue_behind_a_resolve_but_a_new_firing_does(
    starter: FakeStarter, tmp_path: Path
) -> None:
    release = asyncio.Event()

    class SlowResolve(FakeStarter):
        async def record_resolution(self, workflow_id, req):  # type: ignore[no-untyped-def]
            await release.wait()
            await super().record_resolution(workflow_id, req)

    slow = SlowResolve()
    d = dispatcher(slow, tmp_path)
    await send(d, am("firing", T0))
    resolving = asyncio.create_task(send(d, am("resolved", T0, T0 + timedelta(minutes=20))))
    await asyncio.sleep(0.05)
    # an Alertmanager re-send of the old firing is answered while the resolve is still on its way
    assert await asyncio.wait_for(send(d, am("firing", T0, extra="re-send")), timeout=1) == "matched"
    # a firing that began after the resolution time waits for the resolve, then reopens
    flapping = asyncio.create_task(send(d, am("firing", T0 + timedelta(minutes=25))))
    await asyncio.sleep(0.05)
    assert not flapping.done()
    release.set()
    assert await resolving == "resolved"
    assert await flapping == "reopened"
