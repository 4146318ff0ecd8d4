"""Business time: adding working time to an instant, in the organisation's timezone.

A deadline counted in business time never lands outside working hours: the clock only runs on working
days (not holidays) between `start` and `end`, local time. A duration that ends exactly at the end of a
working day is due then, not at the next morning.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from afterword.workflows.models import BusinessCalendar

# A calendar with no working time at all would loop for ever; ten years without a working day is broken.
_MAX_IDLE_DAYS = 3660


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@dataclass(frozen=True, slots=True)
class _Prepared:
    zone: ZoneInfo
    workdays: frozenset[int]
    holidays: frozenset[date]
    start: time
    end: time


def _prepare(calendar: BusinessCalendar) -> _Prepared:
    # keyed by content: the same policy's calendar arrives as a fresh object on every activity call, and
    # a calendar edited in place must not keep its old form
    return _prepared(calendar.timezone, tuple(calendar.workdays), tuple(calendar.holidays), calendar.start,
                     calendar.end)


@lru_cache(maxsize=256)
def _prepared(zone: str, workdays: tuple[int, ...], holidays: tuple[date, ...], start: time, end: time) -> _Prepared:
    return _Prepared(_zone(zone), frozenset(workdays), frozenset(holidays), start, end)


def workday_length(calendar: BusinessCalendar) -> timedelta:
    """Working time in one working day."""
    day = date(2000, 1, 3)
    return datetime.combine(day, calendar.end) - datetime.combine(day, calendar.start)


def is_working_time(moment: datetime, calendar: BusinessCalendar) -> bool:
    """Whether `moment` lies inside working hours (both ends included)."""
    cal = _prepare(calendar)
    local = _aware(moment).astimezone(cal.zone)
    day = local.date()
    if day.weekday() not in cal.workdays or day in cal.holidays:
        return False
    return cal.start <= local.time() <= cal.end


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


_MIDNIGHT = time(0, 0)
_DAY = timedelta(days=1)
_ZERO = timedelta(0)


def add_business_time(anchor: datetime, duration: timedelta, calendar: BusinessCalendar) -> datetime:
    """The instant `duration` of working time after `anchor` (a naive anchor is taken as UTC).

    The result is in the anchor's timezone (UTC for a naive anchor) and always inside working hours.
    """
    if duration < _ZERO:
        raise ValueError("business time cannot be negative")
    cal = _prepare(calendar)
    if not cal.workdays or cal.start >= cal.end:
        raise ValueError("the calendar has no working time")
    anchor = _aware(anchor)
    # walk in naive local wall time (working hours are wall-clock times), attach the zone at the end
    cursor = anchor.astimezone(cal.zone).replace(tzinfo=None)
    remaining = duration
    idle = 0
    combine = datetime.combine
    while idle < _MAX_IDLE_DAYS:
        day = cursor.date()
        idle += 1
        if day.weekday() in cal.workdays and day not in cal.holidays:
            idle = 0
            day_start = combine(day, cal.start)
            day_end = combine(day, cal.end)
            if cursor < day_start:
                cursor = day_start
            if cursor <= day_end:
                available = day_end - cursor
                if remaining <= available:
                    return (cursor + remaining).replace(tzinfo=cal.zone).astimezone(anchor.tzinfo)
                remaining -= available
        cursor = combine(day + _DAY, _MIDNIGHT)
    raise ValueError(
        f"no working day within {_MAX_IDLE_DAYS} days: check the calendar's workdays and holidays"
    )
