"""Durable clocks for workflows: wait until a due time, remind at offsets before it, report a breach.

Everything waits on `workflow.wait_condition` with a timeout, so a clock is a Temporal timer that
survives worker and server restarts, and stops as soon as the thing it guards is done.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from pydantic import TypeAdapter
from temporalio import workflow

_TIMEDELTA = TypeAdapter(timedelta)


def as_timedelta(value: object) -> timedelta:
    """A duration as the policy snapshot carries it (ISO 8601 such as "PT15M", or seconds)."""
    return _TIMEDELTA.validate_python(value)


async def wait_until(deadline: datetime, done: Callable[[], bool]) -> bool:
    """True as soon as `done()` holds; False when `deadline` passes first."""
    if done():
        return True
    remaining = deadline - workflow.now()
    if remaining <= timedelta(0):
        return False
    try:
        await workflow.wait_condition(done, timeout=remaining)
    except TimeoutError:
        return done()
    return True


def reminder_times(due: datetime, offsets: list[timedelta], now: datetime) -> list[datetime]:
    """The future reminder instants for `due`, earliest first; offsets already past are skipped."""
    times = {due - offset for offset in offsets if offset > timedelta(0)}
    return sorted(t for t in times if t > now)


async def run_clock(
    due: datetime,
    reminders: list[timedelta],
    done: Callable[[], bool],
    on_reminder: Callable[[datetime], Awaitable[None]],
    on_breach: Callable[[], Awaitable[None]],
) -> bool:
    """Remind before `due`, report a breach once at `due`; True when done in time."""
    for at in reminder_times(due, reminders, workflow.now()):
        if await wait_until(at, done):
            return True
        await on_reminder(due)
    if await wait_until(due, done):
        return True
    await on_breach()
    return False
