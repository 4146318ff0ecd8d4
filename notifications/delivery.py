"""Delivering one notice: route it, hold what quiet hours hold, and send the rest once each.

For every person (or destination channel) of the plan, its channels are tried in the route's order. Each
channel gets bounded tries with exponential backoff; a 429's Retry-After is honoured up to the channel's
`max_wait` (beyond it the channel counts as failed at once, rather than holding the notice for an hour).
A channel that fails is recorded as failed and the next one is tried; when none is left the notice goes to
the outbox with the reasons, so it is never lost. Every try is recorded in the ledger first, so a retried
activity never sends what already went out. Nothing here raises for a failed delivery: the outcome says
what happened, and the workflow records it.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from afterword.notifications.channel_base import (
    Channel,
    ChannelError,
    Envelope,
    Permanent,
    Rendered,
    Retryable,
)
from afterword.notifications.ledger import Ledger, delivery_id, delivery_key, thread_id
from afterword.notifications.message_render import Templates
from afterword.notifications.outbox_channel import OutboxChannel
from afterword.notifications.quiet_hours import exempt, release_time
from afterword.notifications.routing import Hop, Target, plan
from afterword.workflows.notices import Delivery, Notice, NoticeOutcome

log = logging.getLogger("afterword.notify")

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class Tried:
    ok: bool
    attempts: int
    detail: str
    already: bool = False


class Deliverer:
    def __init__(self, channels: Mapping[str, Channel], ledger: Ledger, outbox: OutboxChannel, *,
                 sleep: Sleep = asyncio.sleep, beat: Callable[[str], None] = lambda _: None) -> None:
        self.channels = channels
        self.ledger = ledger
        self.outbox = outbox
        self.sleep = sleep
        self.beat = beat  # the activity's heartbeat while it waits between tries

    async def deliver(self, notice: Notice, templates: Templates, web_link: str | None) -> NoticeOutcome:
        facts = notice.facts
        routed = plan(notice.kind, facts.severity, facts.team, notice.to, notice.rules)
        outcome = NoticeOutcome(key=notice.key, kind=notice.kind)
        if routed.digest is not None:
            outcome.deliveries.append(Delivery(recipient=f"team:{facts.team or facts.org}", channel="digest",
                                               state="digest", detail=f"{routed.digest} digest ({routed.digest_route})",
                                               at=notice.at))
            return outcome
        for problem in routed.problems:
            log.warning("notice %s: %s", notice.key, problem)
        results = await asyncio.gather(*(self._target(notice, target, templates, web_link)
                                          for target in routed.targets))
        for deliveries in results:
            outcome.deliveries += deliveries
        held = [d.until for d in outcome.deliveries if d.state == "deferred" and d.until is not None]
        outcome.deferred_until = min(held) if held else None
        return outcome

    def held_until(self, notice: Notice, target: Target) -> datetime | None:
        rules = notice.rules
        if exempt(notice.kind, notice.facts.severity, rules.urgent_severities):
            return None
        return release_time(notice.at, zone=target.zone, quiet=rules.quiet_hours, calendar=rules.calendar,
                            business_hours=target.business_hours)

    async def _target(self, notice: Notice, target: Target, templates: Templates, web_link: str | None
                      ) -> list[Delivery]:
        until = self.held_until(notice, target)
        first = target.hops[0].channel
        if until is not None:
            return [Delivery(recipient=target.recipient, channel=first, state="deferred", until=until,
                             detail=f"quiet hours in {target.zone}", at=notice.at)]
        done: list[Delivery] = []
        reasons: list[str] = []
        message: Rendered | None = None
        for hop in target.hops:
            channel = self.channels.get(hop.channel)
            if channel is None and hop.channel == self.outbox.name:
                channel = self.outbox
            if channel is None:
                reason = f"channel {hop.channel} is not configured on this worker"
                done.append(Delivery(recipient=target.recipient, channel=hop.channel, state="failed", detail=reason,
                                     at=_now()))
                reasons.append(reason)
                continue
            message = templates.render(notice.kind, notice.facts, now=notice.at, recipient_name=target.name,
                                       recipient_handle=target.recipient, zone=target.zone, web_link=web_link,
                                       channel=hop.channel)
            tried = await self._send(notice, target, hop, channel, message)
            state = "sent" if tried.ok else "failed"
            done.append(Delivery(recipient=target.recipient, channel=hop.channel, state=state,
                                 attempts=tried.attempts, detail=tried.detail, at=_now()))
            if tried.ok:
                return done
            reasons.append(tried.detail)
        if message is None:
            message = templates.render(notice.kind, notice.facts, now=notice.at, recipient_name=target.name,
                                       recipient_handle=target.recipient, zone=target.zone, web_link=web_link,
                                       channel=self.outbox.name)
        if target.hops == (Hop(self.outbox.name, target.recipient),) and not reasons:
            return done  # the outbox was the channel itself and took it
        await self.outbox.append(self.outbox.line(message, self._envelope(notice, target, Hop(self.outbox.name, None)),
                                                  reason="; ".join(reasons)))
        done.append(Delivery(recipient=target.recipient, channel=self.outbox.name, state="outbox",
                             detail="every channel failed: written to the outbox", at=_now()))
        return done

    def _envelope(self, notice: Notice, target: Target, hop: Hop) -> Envelope:
        key = delivery_key(notice.key, target.recipient, hop.channel)
        return Envelope(recipient=target.recipient, address=hop.address, display_name=target.name,
                        delivery_id=delivery_id(key), thread_id=thread_id(notice.thread), at=_now(),
                        contacts=target.contacts)

    async def _send(self, notice: Notice, target: Target, hop: Hop, channel: Channel, message: Rendered) -> Tried:
        key = delivery_key(notice.key, target.recipient, hop.channel)
        envelope = self._envelope(notice, target, hop)
        limits = channel.limits
        detail = ""
        for attempt in range(1, limits.attempts + 1):
            entry = self.ledger.begin(key)
            if entry.state == "sent":
                return Tried(True, entry.attempts, "already delivered (a retried activity sent nothing)",
                             already=True)
            try:
                async with asyncio.timeout(limits.timeout.total_seconds() * 2 + 1):
                    receipt = await channel.send(message, envelope)
            except TimeoutError:
                error: ChannelError = Retryable(f"{hop.channel}: no answer within {limits.timeout.total_seconds():g} s")
            except ChannelError as exc:
                error = exc
            else:
                self.ledger.settle(key, "sent", provider_id=receipt.provider_id)
                return Tried(True, attempt, receipt.provider_id)
            detail = str(error)
            if isinstance(error, Permanent) or attempt == limits.attempts:
                break
            wait = self._wait(limits.backoff, limits.max_wait, attempt, error)
            if wait is None:
                detail += f" (Retry-After exceeds max_wait {limits.max_wait.total_seconds():g} s)"
                break
            log.info("notice %s to %s via %s: try %d failed (%s); next in %.1f s", notice.key, target.recipient,
                     hop.channel, attempt, detail, wait)
            self.beat(f"{key}: waiting {wait:.1f} s after try {attempt}")
            await self.sleep(wait)
        self.ledger.settle(key, "failed", detail=detail)
        log.warning("notice %s to %s via %s failed: %s", notice.key, target.recipient, hop.channel, detail)
        return Tried(False, attempt, detail)

    @staticmethod
    def _wait(backoff: timedelta, max_wait: timedelta, attempt: int, error: ChannelError) -> float | None:
        ceiling = max_wait.total_seconds()
        retry_after = error.retry_after if isinstance(error, Retryable) else None
        if retry_after is not None:
            return None if retry_after > ceiling else retry_after
        base = backoff.total_seconds() * 2.0 ** (attempt - 1)
        return min(ceiling, base * random.uniform(0.8, 1.2))  # jitter: retries of many notices spread out


def _now() -> datetime:
    return datetime.now(UTC)
