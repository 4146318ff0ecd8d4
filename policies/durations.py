"""Durations as people write them in a policy: "90s", "15m", "72h", "5d", "2w", "1h 30m",
"5 business days", "4 business hours".

A policy keeps the text (so a policy written back out reads as it was written); the parsed value is
cached, because the intake resolves deadlines on every request.

Business time is *working time*: "8 business hours" is eight hours inside the calendar's working hours,
and "N business days" is N working days' worth of working time (with 09:00-17:00, one business day is
8 working hours). The conversion from days to working time needs the calendar, so it happens when a
policy is resolved for an incident, never here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache

_UNITS: dict[str, float] = {
    "s": 1,
    "sec": 1,
    "secs": 1,
    "second": 1,
    "seconds": 1,
    "m": 60,
    "min": 60,
    "mins": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hr": 3600,
    "hrs": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
    "w": 604800,
    "week": 604800,
    "weeks": 604800,
}
_BUSINESS_DAY_UNITS = frozenset({"d", "day", "days"})
_BUSINESS_TIME_UNITS = frozenset({"s", "sec", "secs", "second", "seconds", "m", "min", "mins", "minute",
                                  "minutes", "h", "hr", "hrs", "hour", "hours"})
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(business\s+)?([a-z]+)")

DURATION_HELP = (
    'a duration such as "90s", "15m", "72h", "5d", "2w", "1h 30m", "5 business days" or "4 business hours"'
)


@dataclass(frozen=True, slots=True)
class Span:
    """A parsed duration. Wall-clock spans use `wall`; business spans use `business_days` working days
    plus `business_time` of working time."""

    wall: timedelta = timedelta(0)
    business_days: float = 0.0
    business_time: timedelta = timedelta(0)

    @property
    def business(self) -> bool:
        return self.business_days > 0 or self.business_time > timedelta(0)

    def working_time(self, workday: timedelta) -> timedelta:
        """The amount of working time a business span stands for, given one working day's length."""
        return workday * self.business_days + self.business_time


@lru_cache(maxsize=4096)
def parse_duration(text: str) -> Span:
    """Parse a policy duration; raise ValueError with what is allowed."""
    if not isinstance(text, str):
        raise ValueError(f"expected {DURATION_HELP}, got {text!r}")
    source = text.strip().lower()
    if not source:
        raise ValueError(f"empty duration: expected {DURATION_HELP}")
    pos = 0
    wall = 0.0
    days = 0.0
    work = 0.0
    kinds: set[bool] = set()
    while pos < len(source):
        match = _PART.match(source, pos)
        if match is None:
            raise ValueError(f"cannot read {text!r} as a duration: expected {DURATION_HELP}")
        amount, business, unit = float(match.group(1)), bool(match.group(2)), match.group(3)
        if unit not in _UNITS:
            raise ValueError(
                f"unknown unit {unit!r} in {text!r}: use s, m, h, d, w (or seconds, minutes, hours, days, "
                "weeks; 'business days' / 'business hours' for working time)"
            )
        if business:
            if unit in _BUSINESS_DAY_UNITS:
                days += amount
            elif unit in _BUSINESS_TIME_UNITS:
                work += amount * _UNITS[unit]
            else:
                raise ValueError(f"{text!r}: business time is counted in days, hours, minutes or seconds")
        else:
            wall += amount * _UNITS[unit]
        kinds.add(business)
        pos = match.end()
        while pos < len(source) and source[pos] in " ,":
            pos += 1
        if source.startswith("and ", pos):
            pos += 4
    if len(kinds) > 1:
        raise ValueError(f"{text!r} mixes business time and wall-clock time; use one or the other")
    span = Span(wall=timedelta(seconds=wall), business_days=days, business_time=timedelta(seconds=work))
    if span.wall <= timedelta(0) and not span.business:
        raise ValueError(f"{text!r} is not a positive duration")
    return span


def format_timedelta(value: timedelta) -> str:
    """The shortest policy text for a wall-clock timedelta ("72h", "5d", "90s")."""
    seconds = int(value.total_seconds())
    # people say "72h" and "48h" but "5d" and "2w": days only from four days up
    units = (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)) if seconds >= 4 * 86400 else (
        ("h", 3600), ("m", 60))
    for unit, size in units:
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def parse_wall_duration(text: str | int | float | timedelta) -> timedelta:
    """A wall-clock duration for settings that are not deadlines (delivery timeouts, flap windows):
    the same grammar, plus a plain number of seconds; business time means nothing there and is refused."""
    if isinstance(text, timedelta):
        return text
    if isinstance(text, bool):
        raise ValueError(f"not a duration: {text!r}")
    if isinstance(text, int | float):
        return timedelta(seconds=float(text))
    span = parse_duration(text)
    if span.business:
        raise ValueError(f"{text!r} counts business time; use wall-clock time here, e.g. '30m' or '45s'")
    return span.wall
