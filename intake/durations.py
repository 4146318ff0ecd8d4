"""Wall-clock durations in the intake's settings ("30m", "1h30m", "45s", or a number of seconds).

The policy's own parser reads them (one grammar for every duration afterword accepts); the intake only
adds plain numbers and refuses business time, which means nothing for delivery timeouts or flaps.
"""

from __future__ import annotations

from datetime import timedelta

from afterword.policies.durations import parse_duration as parse_policy_duration


def parse_duration(text: str | int | float | timedelta) -> timedelta:
    """Parse "30m" / "1h30m" / 90 (seconds); raise ValueError naming the accepted forms."""
    if isinstance(text, timedelta):
        return text
    if isinstance(text, bool):
        raise ValueError(f"not a duration: {text!r}")
    if isinstance(text, int | float):
        return timedelta(seconds=float(text))
    span = parse_policy_duration(text)
    if span.business:
        raise ValueError(f"{text!r} counts business time; intake durations are wall-clock, e.g. '30m' or '45s'")
    return span.wall
