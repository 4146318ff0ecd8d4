"""Business time: adding working time to an instant, in the organisation's timezone.

A deadline counted in business time never lands outside working hours: the clock only runs on working
days (not holidays) between `start` and `end`, local time. A duration that ends exactly at the end of a
working day is due then, not at the next morning.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from afterword.workflows.models import BusinessCalendar

# A calendar with no working time at all would loop for ever; ten years without a working day is broken.
_MAX_IDLE_DAYS = 3660


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def workday_length(calendar: BusinessCalendar) -> timedelta:
    """Working time in one working day."""
    day = date(2000, 1, 3)
    return datetime.combine(day, calendar.end) - datetime.combine(day, calendar.start)


def is_working_time(moment: datetime, calendar: BusinessCalendar) -> bool:
    """Whether `moment` lies inside working hours (both ends included)."""
    local = _local(moment, calendar)
    if not _is_workday(local.date(), calendar):
        return False
    return calendar.start <= local.time().replace(tzinfo=None) <= calendar.end


def _is_workday(day: date, calendar: BusinessCalendar) -> bool:
    return day.weekday() in calendar.workdays and day not in calendar.holidays


def _local(moment: datetime, calendar: BusinessCalendar) -> datetime:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(_zone(calendar.timezone))


def add_business_time(anchor: datetime, duration: timedelta, calendar: BusinessCalendar) -> datetime:
    """The instant `duration` of working time after `anchor` (a naive anchor is taken as UTC).

    The result is in the anchor's timezone (UTC for a naive anchor) and always inside working hours.
    """
    if duration < timedelta(0):
        raise ValueError("business time cannot be negative")
    if not calendar.workdays or calendar.start >= calendar.end:
        raise ValueError("the calendar has no working time")
    zone = _zone(calendar.timezone)
    local = _local(anchor, calendar)
    # walk in naive local wall time (working hours are wall-clock times), attach the zone at the end
    cursor = local.replace(tzinfo=None)
    remaining = duration
    idle = 0
    while idle < _MAX_IDLE_DAYS:
        day = cursor.date()
        idle += 1
        if _is_workday(day, calendar):
            idle = 0
            day_start = datetime.combine(day, calendar.start)
            day_end = datetime.combine(day, calendar.end)
            cursor = max(cursor, day_start)
            if cursor <= day_end:
                available = day_end - cursor
                if remaining <= available:
                    due = (cursor + remaining).replace(tzinfo=zone)
                    target = anchor.tzinfo if anchor.tzinfo is not None else UTC
                    return due.astimezone(target)
                remaining -= available
        cursor = datetime.combine(day + timedelta(days=1), datetime.min.time())
    raise ValueError(
        f"no working day within {_MAX_IDLE_DAYS} days: check the calendar's workdays and holidays"
    )
