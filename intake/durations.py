"""Short human durations as written in TOML ("30m", "1h30m", "45s", "2d")."""

from __future__ import annotations

import re
from datetime import timedelta

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str | int | float | timedelta) -> timedelta:
    """Parse "30m" / "1h30m" / 90 (seconds); raise ValueError naming the accepted forms."""
    if isinstance(text, timedelta):
        return text
    if isinstance(text, bool):
        raise ValueError(f"not a duration: {text!r}")
    if isinstance(text, int | float):
        return timedelta(seconds=float(text))
    cleaned = text.strip().replace(" ", "")
    if not cleaned:
        raise ValueError("empty duration; write e.g. '30m', '1h30m' or '45s'")
    position = 0
    seconds = 0.0
    for match in _PART.finditer(cleaned):
        if match.start() != position:
            break
        seconds += float(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    if position != len(cleaned):
        raise ValueError(f"not a duration: {text!r}; write e.g. '30m', '1h30m' or '45s'")
    return timedelta(seconds=seconds)
