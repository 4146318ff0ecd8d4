"""Times that senders write: the RFC 3339 grammar their formats promise, and the window of times an
incident can have.

Python's and pydantic's own readers are lenient where a webhook format is not: pydantic takes a number,
or a string of digits, as epoch seconds, and a time without a zone as local; Python raises OverflowError
converting an offset time at the calendar's edge (`0001-01-01T00:00:00+01:00`) to UTC. And a time that
parses may still be no time an incident has: year 1 (a sender's zero value) or a typo'd year 2207 would
be accepted, and every evidence query built from it would then fail. So a sender's time is an RFC 3339
string with a zone, and between `EARLIEST_INCIDENT` and `MAX_AHEAD` past this host's clock.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Annotated

from pydantic import BeforeValidator

from afterword.workflows.models import EARLIEST_INCIDENT

# a sender's clock may run ahead of ours, but not by more than this
MAX_AHEAD = timedelta(days=1)
_RFC3339 = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})[Tt](?P<time>\d{2}:\d{2}:\d{2})"
    r"(?:\.(?P<fraction>\d{1,32}))?(?P<zone>[Zz]|[+-]\d{2}:\d{2})"
)
# Go's zero time: Alertmanager's (and Grafana's) `endsAt` of an alert that has not ended
_GO_ZERO = datetime(1, 1, 1, tzinfo=UTC)
GO_ZERO_TEXT = "0001-01-01T00:00:00Z"  # as Go writes it
EXAMPLE = "2026-11-20T14:02:11Z"


def parse_rfc3339(value: object) -> datetime:
    """An RFC 3339 date-time (`2026-11-20T14:02:11.482Z`, `...+01:00`), in UTC; ValueError with the reason."""
    if not isinstance(value, str):
        kind = "a number (epoch seconds are not this format's times)" if isinstance(value, int | float) else (
            type(value).__name__
        )
        raise ValueError(f"a time is an RFC 3339 string such as {EXAMPLE}, not {kind}")
    found = _RFC3339.fullmatch(value)
    if found is None:
        raise ValueError(f"{value[:40]!r} is not an RFC 3339 time with a zone, such as {EXAMPLE} or ...+01:00")
    fraction = f".{found['fraction'][:6]}" if found["fraction"] else ""  # Python keeps microseconds
    zone = "+00:00" if found["zone"] in ("Z", "z") else found["zone"]
    try:
        parsed = datetime.fromisoformat(f"{found['date']}T{found['time']}{fraction}{zone}")
    except ValueError as exc:  # 2026-02-30, hour 24, offset +25:00 ...
        raise ValueError(f"{value!r} is not a valid time: {exc}") from None
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is in year 0 in UTC
        raise ValueError(f"{value!r} is outside the calendar once converted to UTC") from None


def check_window(moment: datetime, now: datetime | None = None) -> datetime:
    """`moment` itself, if an incident can have it: not before EARLIEST_INCIDENT, not past now + MAX_AHEAD."""
    if moment < EARLIEST_INCIDENT:
        raise ValueError(f"{moment.isoformat()} is before {EARLIEST_INCIDENT.year}: no incident has such a time")
    now = now or datetime.now(UTC)
    if moment > now + MAX_AHEAD:
        raise ValueError(
            f"{moment.isoformat()} is more than {MAX_AHEAD.days} day ahead of this host's clock "
            f"({now.isoformat(timespec='seconds')})"
        )
    return moment


def incident_time(value: object) -> datetime:
    """A sender's RFC 3339 time within the window, in UTC."""
    return check_window(parse_rfc3339(value))


def end_time(value: object) -> datetime | None:
    """Like `incident_time`, but Go's zero time (`0001-01-01T00:00:00Z`) is "not ended": None."""
    if value is None or value == GO_ZERO_TEXT:  # every firing alert's: no need to parse it
        return None
    moment = parse_rfc3339(value)
    return None if moment == _GO_ZERO else check_window(moment)


# field types for the sources' payload models (the JSON Schema still says date-time)
IncidentTime = Annotated[datetime, BeforeValidator(incident_time)]
EndTime = Annotated[datetime | None, BeforeValidator(end_time)]


def check_times(moments: Mapping[str, datetime | None], now: datetime | None = None) -> None:
    """ValueError naming the field when one of `moments` (field name -> time) is outside the window: for
    the entry points of people and programs (`afterword start`, `afterword.intake.api`)."""
    for field, moment in moments.items():
        if moment is not None:
            try:
                check_window(moment.astimezone(UTC), now)
            except (ValueError, OverflowError) as exc:
                raise ValueError(f"{field}: {exc}") from None
