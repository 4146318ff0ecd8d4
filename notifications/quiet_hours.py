"""When a message may go out: outside the recipient's quiet hours and, where a route asks, inside the
business calendar's working hours. Escalations of the most severe incidents go out at any hour."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from afterword.policies.calendar import add_business_time, is_working_time
from afterword.workflows.models import BusinessCalendar
from afterword.workflows.notices import ESCALATIONS, NoticeKind, QuietHours

_SATURDAY = 5


@lru_cache(maxsize=128)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def exempt(kind: NoticeKind, severity: str, urgent: list[str]) -> bool:
    """Whether this notice ignores quiet hours and business hours (an escalation of an urgent severity)."""
    return kind in ESCALATIONS and severity in urgent


def _in_quiet(local: datetime, quiet: QuietHours) -> bool:
    now = local.time()
    if quiet.weekends and local.weekday() >= _SATURDAY:
        return True
    if quiet.start == quiet.end:
        return False
    if quiet.start < quiet.end:
        return quiet.start <= now < quiet.end
    return now >= quiet.start or now < quiet.end  # spans midnight, e.g. 20:00-08:00


def end_of_quiet(moment: datetime, zone: str, quiet: QuietHours) -> datetime | None:
    """The first instant at or after `moment` outside quiet hours; None when `moment` is not quiet."""
    tz = _zone(zone)
    local = moment.astimezone(tz)
    if not _in_quiet(local, quiet):
        return None
    # step to each candidate end (the quiet period's end today or a later day) until one is not quiet
    day = local.date()
    for _ in range(9):
        candidate = datetime.combine(day, quiet.end, tzinfo=tz)
        if candidate > local and not _in_quiet(candidate, quiet):
            return candidate.astimezone(moment.tzinfo)
        midnight = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
        if midnight > local and not _in_quiet(midnight, quiet):
            return midnight.astimezone(moment.tzinfo)
        day += timedelta(days=1)
    return None  # every hour is quiet: do not hold the message for ever


def release_time(moment: datetime, *, zone: str, quiet: QuietHours | None, calendar: BusinessCalendar | None,
                 business_hours: bool) -> datetime | None:
    """None: send now. Otherwise the instant the message may go out."""
    later = moment
    for _ in range(4):  # the two rules can push each other; a few rounds settle any sane policy
        moved = False
        if quiet is not None:
            end = end_of_quiet(later, zone, quiet)
            if end is not None:
                later, moved = end, True
        if business_hours and calendar is not None and not is_working_time(later, calendar):
            later, moved = add_business_time(later, timedelta(0), calendar), True
        if not moved:
            break
    return None if later == moment else later
