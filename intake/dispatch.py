"""From a verified, parsed notification to exactly one postmortem per incident.

The decisions, in order:
1. a delivery already answered (PagerDuty's signed `event.id`, otherwise the body's sha256) is answered
   again from memory, and concurrent copies of one delivery share one piece of work; a signed delivery's
   answer is also kept in the delivery log (`replay_guard`), so it is found again after a restart;
2. the policy decides required / optional / none and why; `none` starts nothing;
3. firing: start the postmortem or match the running one (an idempotent start, no status query); the
   raw payload, the postmortem's first evidence, travels with the start when it is small (Temporal keeps
   it, the trigger-time capture stores it) and goes into the content store before the start otherwise;
   a storm of new incidents has its first steps paced (`StepPacer`);
   resolved: resolve it (idempotent), which starts the draft clock; in a storm its resolution steps
   (evidence capture, draft) are paced by the same pacer;
4. a new firing after resolution (its alerts started after the postmortem's resolution) within the
   policy's flap window reopens the postmortem; later than that it is a recurrence and gets a
   postmortem of its own ("<key>#2", "#3", ...), found again after a restart by probing in order.

Per incident, decisions run one at a time (a lock per key), so a firing and a resolve racing in
from an alert storm are applied in arrival order. What the intake learned about each incident is
kept in a bounded cache; it is only a shortcut — Temporal remains the truth, and every answer that
changes something is given only after Temporal acknowledged the start or update. A repeat that
carries nothing new (a firing none of whose alerts started later than those already acknowledged)
is answered from the cache: whatever happened to the postmortem since, its answer would be the same.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import sqlite3
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

from pydantic import BaseModel

from afterword.evidence.blobs import ContentStore
from afterword.intake.pacing import StepPacer
from afterword.intake.refusals import Malformed, TemporalUnavailable
from afterword.intake.replay_guard import DeliveryLog, Signed
from afterword.intake.sources.common import Notification, Status
from afterword.workflows.identity import postmortem_id
from afterword.workflows.models import (
    Actor,
    Incident,
    PostmortemRules,
    PostmortemStatus,
    Requirement,
    ResolveRequest,
)

log = logging.getLogger("afterword.intake")

Action = Literal["started", "matched", "resolved", "reopened", "ignored"]
TERMINAL = {"closed", "waived"}
MAX_EPISODES = 100


class Outcome(BaseModel):
    """The intake's answer to one delivery (the 202 body)."""

    action: Action
    workflow_id: str | None = None
    requirement: str | None = None
    severity: str | None = None
    reasons: list[str] = []
    payload_ref: str | None = None
    duplicate: bool = False
    note: str = ""


class OpenedLike(Protocol):
    @property
    def workflow_id(self) -> str: ...
    @property
    def created(self) -> bool: ...


class Starter(Protocol):
    """What the intake needs of the client facade (`afterword.client.Postmortems`)."""

    async def open(
        self,
        incident: Incident,
        rules: PostmortemRules,
        opened_by: str = ...,
        start_delay: timedelta | None = ...,
        alert_payload: bytes | None = ...,
    ) -> OpenedLike: ...
    async def record_resolution(self, workflow_id: str, req: ResolveRequest) -> Any: ...
    async def reopen(self, workflow_id: str, req: Actor) -> Any: ...
    async def status(self, workflow_id: str) -> PostmortemStatus: ...


@dataclass(frozen=True)
class Assessment:
    """The policy's view of one notification."""

    incident: Incident
    requirement: Requirement
    reasons: list[str]
    flap_window: timedelta
    rules: Callable[[Incident], PostmortemRules]


class PolicySource(Protocol):
    def check_org(self, org: str) -> None:
        """Raise UnknownTarget (404) for an org the intake does not serve."""

    def assess(self, org: str, notification: Notification, payload_ref: str | None) -> Assessment: ...


@dataclass
class Episode:
    """What the intake knows about the current postmortem of one incident key."""

    number: int
    workflow_id: str
    resolved_at: datetime | None
    terminal: bool = False
    confirmed: float = field(default_factory=time.monotonic)  # when Temporal last acknowledged it
    resolving_at: datetime | None = None  # a resolve with this time is on its way to Temporal
    newest_start: datetime | None = None  # the latest alert start of any firing already answered

    def saw(self, n: Notification) -> None:
        if self.newest_start is None or n.latest_start > self.newest_start:
            self.newest_start = n.latest_start

    def is_news(self, n: Notification) -> bool:
        """Whether this firing could change the answer: a reopen, or an alert newer than any seen."""
        return n.status is Status.REOPENED or self.newest_start is None or n.latest_start > self.newest_start


class Payload:
    """The delivery's raw bytes, kept only once they become a postmortem's evidence: repeats answered
    from the cache leave nothing behind. A small payload travels with the start, so Temporal's
    acknowledgment covers it and the intake writes no file; a larger one is stored before the start."""

    def __init__(self, body: bytes, store: ContentStore, with_start_max: int) -> None:
        self.body = body
        self.store = store
        self.ref = hashlib.sha256(body).hexdigest()
        self.with_start = len(body) <= with_start_max
        self.kept = False  # the store holds it, or a start that created a postmortem carried it

    async def for_start(self) -> bytes | None:
        """What the start carries: the bytes themselves, or None once they are safely in the store."""
        if self.with_start:
            return self.body
        if not self.kept:
            await asyncio.to_thread(self.store.put_bytes, self.body)
            self.kept = True
        return None


class Errors:
    """The facade's exception types, looked up once (tests may run without the facade)."""

    def __init__(self) -> None:
        from afterword.client import NotFound, NotReady, Rejected, Unavailable

        self.rejected: type[Exception] = Rejected
        self.not_found: type[Exception] = NotFound
        self.unavailable: type[Exception] = Unavailable
        self.not_ready: type[Exception] = NotReady


def episode_key(key: str, number: int) -> str:
    return key if number == 1 else f"{key}#{number}"


def delivery_key(org: str, notification: Notification, body: bytes) -> str:
    own = notification.delivery_id or hashlib.sha256(body).hexdigest()
    return f"{org}\x00{notification.source}\x00{own}"


@dataclass
class _Recent:
    """Answers already given, by delivery key, for `ttl` seconds (bounded)."""

    ttl: float
    limit: int = 50_000
    items: OrderedDict[str, tuple[float, Outcome]] = field(default_factory=OrderedDict)

    def get(self, key: str) -> Outcome | None:
        hit = self.items.get(key)
        if hit is None:
            return None
        if hit[0] < time.monotonic():
            del self.items[key]
            return None
        return hit[1]

    def put(self, key: str, outcome: Outcome) -> None:
        self.items[key] = (time.monotonic() + self.ttl, outcome)
        self.items.move_to_end(key)
        while len(self.items) > self.limit:
            self.items.popitem(last=False)


class Dispatcher:
    def __init__(
        self,
        starter: Starter,
        policies: PolicySource,
        store: ContentStore,
        *,
        timeout: timedelta = timedelta(seconds=4),
        dedupe_ttl: timedelta = timedelta(minutes=15),
        trust_for: timedelta = timedelta(seconds=10),
        errors: Errors | None = None,
        cache_limit: int = 20_000,
        pacer: StepPacer | None = None,
        payload_with_start_max_bytes: int = 64 * 1024,
        delivery_log: DeliveryLog | None = None,
    ) -> None:
        self.starter = starter
        self.policies = policies
        self.store = store
        self.timeout = timeout.total_seconds()
        self.trust_for = trust_for.total_seconds()
        self.errors = errors or Errors()
        self._recent = _Recent(ttl=dedupe_ttl.total_seconds())
        self._inflight: dict[str, asyncio.Future[Outcome]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._episodes: OrderedDict[str, Episode] = OrderedDict()
        self._cache_limit = cache_limit
        self.pacer = pacer or StepPacer(0, 1, timedelta(0))
        self.payload_with_start_max = payload_with_start_max_bytes
        self.delivery_log = delivery_log  # signed deliveries' answers, across restarts

    # ------------------------------------------------------------------ entry point

    async def accept(
        self, org: str, notification: Notification, body: bytes, signed: Signed | None = None
    ) -> Outcome:
        """Apply one delivery; returns once Temporal acknowledged (raises TemporalUnavailable if not).
        A `signed` delivery's answer is also kept in the delivery log, and found there after a restart."""
        key = delivery_key(org, notification, body)
        done = self._recent.get(key)
        if done is None and signed is not None:
            done = await self._logged(key)
        if done is not None:
            return done.model_copy(update={"duplicate": True})
        running = self._inflight.get(key)
        if running is not None:
            outcome = await asyncio.shield(running)
            return outcome.model_copy(update={"duplicate": True})
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            outcome = await self._accept_once(org, notification, body)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: nobody else may be waiting
            raise
        finally:
            self._inflight.pop(key, None)
        future.set_result(outcome)
        self._recent.put(key, outcome)
        if signed is not None:
            await self._log(key, signed, outcome)
        return outcome

    async def _logged(self, key: str) -> Outcome | None:
        if self.delivery_log is None:
            return None
        answer = await asyncio.to_thread(self.delivery_log.get, key)
        if answer is None:
            return None
        outcome = Outcome.model_validate(answer)
        self._recent.put(key, outcome)
        return outcome

    async def _log(self, key: str, signed: Signed, outcome: Outcome) -> None:
        if self.delivery_log is None:
            return
        try:
            await asyncio.to_thread(self.delivery_log.put, key, signed.remember_until, outcome.model_dump(mode="json"))
        except sqlite3.Error as exc:  # applied and answered all the same; only a replay after a restart would pass
            log.error("could not record signed delivery %s in %s: %s", signed.delivery_id, self.delivery_log.path, exc)

    async def _accept_once(self, org: str, notification: Notification, body: bytes) -> Outcome:
        if notification.status is Status.IGNORED:
            log.info("%s delivery ignored: %s", notification.source, notification.note)
            return Outcome(action="ignored", note=notification.note)
        payload = Payload(body, self.store, self.payload_with_start_max)
        assessment = self.policies.assess(org, notification, payload.ref)
        early = self._repeat_during_resolve(org, notification, assessment)
        if early is not None:
            return self._finish(notification, assessment, early, payload)
        lock = self._lock_for(self._cache_key(org, notification.key))
        try:
            async with asyncio.timeout(self.timeout), lock:
                outcome = await self._apply(org, notification, assessment, payload)
        except TimeoutError:
            # our deadline cut the wait short: unknown whether it applied, so the sender retries, and the
            # retry is idempotent (resolve twice is a no-op)
            raise TemporalUnavailable(f"Temporal did not acknowledge within {self.timeout:g} s") from None
        except self.errors.unavailable as exc:  # the facade's word for anything a retry may cure
            raise TemporalUnavailable(str(exc)) from exc
        except self.errors.rejected as exc:
            # Temporal refused to start this incident's postmortem (e.g. a field it cannot index):
            # retrying the same delivery cannot help, so the sender is told why
            raise Malformed(f"Temporal refused this incident: {exc}") from exc
        return self._finish(notification, assessment, outcome, payload)

    def _repeat_during_resolve(self, org: str, n: Notification, a: Assessment) -> Outcome | None:
        """A re-sent firing that started before the resolve now in flight for its incident: whether
        that resolve lands or not, the answer is `matched`, so it need not queue behind it."""
        episode = self._episodes.get(self._cache_key(org, n.key))
        if (
            episode is None
            or n.status is not Status.FIRING
            or a.requirement is Requirement.NONE
            or episode.resolving_at is None
            or episode.resolved_at is not None
            or not self._trusted(episode)
            or n.latest_start > episode.resolving_at
        ):
            return None
        return Outcome(action="matched", workflow_id=episode.workflow_id)

    def _finish(
        self, notification: Notification, assessment: Assessment, outcome: Outcome, payload: Payload
    ) -> Outcome:
        outcome = outcome.model_copy(
            update={
                "payload_ref": payload.ref if payload.kept else None,
                "requirement": assessment.requirement.value,
                "severity": assessment.incident.severity,
                "reasons": assessment.reasons,
            }
        )
        # what changed something (or was deliberately left alone) at INFO; storms of repeats at DEBUG
        level = logging.DEBUG if outcome.action == "matched" and not outcome.note else logging.INFO
        if not log.isEnabledFor(level):
            return outcome
        log.log(
            level,
            "%s %s %s -> %s %s (%s: %s)%s",
            notification.source,
            notification.status.value,
            notification.key[:80],
            outcome.action,
            outcome.workflow_id or "-",
            assessment.requirement.value,
            "; ".join(assessment.reasons) or "no reason given",
            f" [{outcome.note}]" if outcome.note else "",
        )
        return outcome

    # ------------------------------------------------------------------ decisions

    async def _apply(self, org: str, n: Notification, a: Assessment, payload: Payload) -> Outcome:
        if n.status is Status.RESOLVED:
            return await self._resolve(org, n, a, payload)
        if a.requirement is Requirement.NONE:
            known = self._episodes.get(self._cache_key(org, n.key))
            if known is not None:  # an incident followed before the policy changed its mind
                return Outcome(action="matched", workflow_id=known.workflow_id, note="policy now says none")
            return Outcome(action="ignored", note="the policy requires no postmortem for this incident")
        outcome = await self._fire(org, n, a, payload)
        episode = self._episodes.get(self._cache_key(org, n.key))
        if episode is not None and outcome.workflow_id == episode.workflow_id:
            episode.saw(n)
        return outcome

    async def _fire(self, org: str, n: Notification, a: Assessment, payload: Payload) -> Outcome:
        cache_key = self._cache_key(org, n.key)
        known = self._episodes.get(cache_key)
        by = f"intake:{n.source}"
        number = known.number if known else 1
        if known is not None and (self._trusted(known) or not known.is_news(n)):
            # Temporal acknowledged this postmortem moments ago, or this repeat carries nothing that could
            # change the answer: there is nothing new to record there, so it is answered without a call
            decided = await self._after(known, n, a, by)
            if decided is not None:
                return decided
            number, known = known.number + 1, None
        while number <= MAX_EPISODES:
            incident = a.incident.model_copy(update={"key": episode_key(n.key, number), "resolved_at": None})
            opened, delay = await self._open(incident, a, by, payload, new=known is None)
            if opened.created:
                self._remember(cache_key, Episode(number, opened.workflow_id, None))
                note = f"storm pacing: first steps in {delay.total_seconds():.1f} s" if delay else ""
                return Outcome(action="started", workflow_id=opened.workflow_id, note=note)
            episode = known if known and known.workflow_id == opened.workflow_id else None
            if episode is None:
                episode = await self._episode_from_status(number, opened.workflow_id)
            episode.confirmed = time.monotonic()
            self._remember(cache_key, episode)
            decided = await self._after(episode, n, a, by)
            if decided is not None:
                return decided
            number, known = number + 1, None  # a recurrence after the flap window: its own postmortem
        raise RuntimeError(f"more than {MAX_EPISODES} recurrences of {n.key!r}")

    async def _open(
        self, incident: Incident, a: Assessment, by: str, payload: Payload, *, new: bool
    ) -> tuple[OpenedLike, timedelta]:
        """An idempotent start, and the delay its first steps were given. The payload (the new postmortem's
        evidence) goes with it or into the store first; a postmortem the intake has not seen before takes
        a slot from the pacer, one it knows is only confirmed."""
        carried = await payload.for_start()
        delay = self.pacer.reserve() if new else timedelta(0)
        opened = await self.starter.open(
            incident, a.rules(incident), by, start_delay=delay or None, alert_payload=carried
        )
        if carried is not None and opened.created:  # an existing postmortem keeps its own first payload
            payload.kept = True
        return opened, delay

    async def _after(self, episode: Episode, n: Notification, a: Assessment, by: str) -> Outcome | None:
        """A firing for an incident whose postmortem exists: match, reopen, or None (a recurrence)."""
        if episode.resolved_at is None and not episode.terminal:
            return Outcome(action="matched", workflow_id=episode.workflow_id)
        fresh = n.status is Status.REOPENED or (
            episode.resolved_at is not None and n.latest_start > episode.resolved_at
        )
        if not fresh:  # a late copy of a firing that this postmortem already covers
            return Outcome(action="matched", workflow_id=episode.workflow_id, note="firing predates resolution")
        within = (
            episode.resolved_at is not None
            and not episode.terminal
            and (n.status is Status.REOPENED or n.latest_start - episode.resolved_at <= a.flap_window)
        )
        return await self._reopen(episode, by) if within else None

    def _trusted(self, episode: Episode) -> bool:
        return time.monotonic() - episode.confirmed < self.trust_for

    async def _reopen(self, episode: Episode, by: str) -> Outcome:
        try:
            await self.starter.reopen(episode.workflow_id, Actor(by=by))
        except self.errors.rejected as exc:
            episode.confirmed = time.monotonic()
            # e.g. the draft was already submitted: the flap is logged, the postmortem goes on
            return Outcome(action="matched", workflow_id=episode.workflow_id, note=f"not reopened: {exc}")
        episode.resolved_at = None
        episode.confirmed = time.monotonic()
        return Outcome(action="reopened", workflow_id=episode.workflow_id)

    async def _resolve(self, org: str, n: Notification, a: Assessment, payload: Payload) -> Outcome:
        cache_key = self._cache_key(org, n.key)
        episode = self._episodes.get(cache_key) or await self._latest_episode(org, n.key)
        if episode is None:
            if a.requirement is Requirement.NONE:
                return Outcome(action="ignored", note="the policy requires no postmortem for this incident")
            # resolved before we ever saw it fire (intake down, or a resolve-only sender): open it first
            incident = a.incident.model_copy(update={"resolved_at": None})
            opened, _ = await self._open(incident, a, f"intake:{n.source}", payload, new=True)
            episode = Episode(1, opened.workflow_id, None)
        self._remember(cache_key, episode)
        if episode.resolved_at is not None or episode.terminal:
            return Outcome(action="matched", workflow_id=episode.workflow_id, note="already resolved")
        at = n.resolved_at or datetime.now(UTC)
        episode.resolving_at = at
        delay = self.pacer.reserve()
        try:
            await self.starter.record_resolution(
                episode.workflow_id,
                ResolveRequest(by=f"intake:{n.source}", resolved_at=at, steps_delay=delay or None),
            )
        except self.errors.rejected as exc:
            return Outcome(action="matched", workflow_id=episode.workflow_id, note=f"not resolved: {exc}")
        finally:
            episode.resolving_at = None
        episode.resolved_at = at
        episode.confirmed = time.monotonic()
        note = f"storm pacing: evidence capture and draft in {delay.total_seconds():.1f} s" if delay else ""
        return Outcome(action="resolved", workflow_id=episode.workflow_id, note=note)

    # ------------------------------------------------------------------ what Temporal knows

    async def _episode_from_status(self, number: int, workflow_id: str) -> Episode:
        try:
            status = await self.starter.status(workflow_id)
        except self.errors.not_ready:
            # paced, its first steps still ahead (e.g. this intake restarted mid-storm): it cannot have been
            # resolved or closed yet, as anything sent to it waits for those steps
            return Episode(number, workflow_id, None)
        return self._episode(number, workflow_id, status)

    @staticmethod
    def _episode(number: int, workflow_id: str, status: PostmortemStatus) -> Episode:
        # the workflow sets incident.resolved_at on resolve and clears it on reopen
        return Episode(number, workflow_id, status.incident.resolved_at, terminal=status.state in TERMINAL)

    async def _latest_episode(self, org: str, key: str) -> Episode | None:
        """After a restart: walk `key`, `key#2`, ... while they exist; the last one is current."""
        latest: Episode | None = None
        for number in range(1, MAX_EPISODES + 1):
            workflow_id = postmortem_id(org, episode_key(key, number))
            try:
                latest = await self._episode_from_status(number, workflow_id)
            except self.errors.not_found:
                return latest
        return latest

    # ------------------------------------------------------------------ cache

    @staticmethod
    def _cache_key(org: str, key: str) -> str:
        return f"{org}\x00{key}"

    def _lock_for(self, cache_key: str) -> asyncio.Lock:
        lock = self._locks.get(cache_key)
        if lock is None:
            if len(self._locks) > 2 * self._cache_limit:  # e.g. a flood of incidents the policy ignores
                self._locks = {k: v for k, v in self._locks.items() if v.locked()}
            lock = self._locks[cache_key] = asyncio.Lock()
        return lock

    def _remember(self, cache_key: str, episode: Episode) -> None:
        self._episodes[cache_key] = episode
        self._episodes.move_to_end(cache_key)
        while len(self._episodes) > self._cache_limit:
            evicted, _ = self._episodes.popitem(last=False)
            lock = self._locks.get(evicted)
            if lock is not None and not lock.locked():
                del self._locks[evicted]


Handler = Callable[[str, Notification, bytes], Awaitable[Outcome]]
HeadersLike = Mapping[str, str]
