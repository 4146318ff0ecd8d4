"""Log files (paths or globs, plain or .gz) filtered to the capture window.

Every line whose timestamp falls in the window is kept byte for byte, with the continuation lines
that follow it (stack traces); one item per file. On the timeline, lines matching the source's
`timeline_pattern` become rows, repeats of one message collapsed into a single row with a count.
"""

from __future__ import annotations

import asyncio
import glob
import gzip
import json
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import BinaryIO, cast

from afterword.activities.adapters.base import Collected, Event, SourceRejected, Window, parse_time, utc
from afterword.policies.evidence_schema import DEFAULT_PATTERN
from afterword.workflows.models import Incident

KIND = "log-lines"
MAX_ROWS_PER_ITEM = 100

_ISO = re.compile(r"(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2}(?:[.,]\d{1,9})?)\s?(Z|[+-]\d{2}:?\d{2}|UTC)?(?![\d:])")
_SYSLOG = re.compile(r"^([A-Z][a-z]{2})\s+(\d{1,2}) (\d{2}:\d{2}:\d{2})\b")
_CLF = re.compile(r"\[(\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4})\]")
_TIME_KEYS = ("time", "timestamp", "@timestamp", "ts", "t", "date", "datetime")
_MESSAGE_KEYS = ("message", "msg", "text", "log", "event")
_DIGITS = re.compile(r"\d+")
_SEPARATORS = " \t-|:,]"


def epoch_to_datetime(value: float) -> datetime:
    """Seconds, milliseconds, microseconds or nanoseconds since the epoch, judged by magnitude."""
    while abs(value) > 1e11:
        value /= 1000.0
    return datetime.fromtimestamp(value, tz=UTC)


def field_time(value: object) -> datetime | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return epoch_to_datetime(float(value))
    if isinstance(value, str):
        stripped = value.strip()
        try:
            return epoch_to_datetime(float(stripped))
        except ValueError:
            return parse_time(stripped)
    return None


def _iso_match_time(match: re.Match[str]) -> datetime | None:
    clock = match.group(2).replace(",", ".")
    if "." in clock:  # fromisoformat wants 3 or 6 fraction digits
        whole, frac = clock.split(".")
        clock = f"{whole}.{(frac + '000000')[:6]}"
    zone = match.group(3) or ""
    zone = "+00:00" if zone in ("Z", "UTC") else zone
    if zone and ":" not in zone:
        zone = f"{zone[:3]}:{zone[3:]}"
    try:
        return utc(datetime.fromisoformat(f"{match.group(1)}T{clock}{zone}"))
    except ValueError:
        return None


def line_time(line: str, year: int) -> tuple[datetime | None, str]:
    """(timestamp, message without the timestamp) for one log line; (None, line) if it has none."""
    stripped = line.strip()
    if stripped[:1].isdigit():
        # fast path for the commonest shape: an ISO 8601 timestamp as the first token
        token, _, rest = stripped.partition(" ")
        if len(token) >= 19 and token[10:11] in ("T", " "):
            try:
                return utc(datetime.fromisoformat(token)), rest.strip(_SEPARATORS)
            except ValueError:
                pass
    if stripped.startswith("{"):
        try:
            record = json.loads(stripped)
        except ValueError:
            record = None
        if isinstance(record, dict):
            at = next((t for k in _TIME_KEYS if (t := field_time(record.get(k))) is not None), None)
            message = next((str(record[k]) for k in _MESSAGE_KEYS if k in record), stripped)
            return at, message
    head = stripped[:80]
    match = _ISO.search(head)
    if match:
        at = _iso_match_time(match)
        if at is not None:
            rest = (stripped[: match.start()] + stripped[match.end() :]).strip(_SEPARATORS)
            return at, rest
    match_clf = _CLF.search(head)
    if match_clf:
        try:
            at = utc(datetime.strptime(match_clf.group(1), "%d/%b/%Y:%H:%M:%S %z"))
        except ValueError:
            at = None
        if at is not None:
            return at, (stripped[: match_clf.start()] + stripped[match_clf.end() :]).strip(_SEPARATORS)
    match_sys = _SYSLOG.match(stripped)
    if match_sys:
        try:
            at = datetime.strptime(
                f"{year} {match_sys.group(1)} {match_sys.group(2)} {match_sys.group(3)}", "%Y %b %d %H:%M:%S"
            ).replace(tzinfo=UTC)
        except ValueError:
            at = None
        if at is not None:
            return at, stripped[match_sys.end() :].strip(_SEPARATORS)
    return None, stripped


BLOCK_LINES = 512
# Lines written out of order by less than this (several processes sharing one file) are never lost.
DISORDER = timedelta(minutes=1)


def _stamp(raw: bytes, year: int) -> datetime | None:
    return line_time(raw.decode("utf-8", errors="replace"), year)[0]


def filter_lines(lines: Iterable[bytes], window: Window) -> tuple[bytes, int, int]:
    """(kept bytes, kept lines, total lines): lines in the window plus their continuation lines.

    Logs are written in time order, so a block of lines whose first and last timestamps both fall in
    the window is kept whole, and one that ends over a minute before the window opens (or starts over
    a minute after it closes) is skipped, without parsing every line. Blocks that straddle an edge
    of the window, or whose timestamps run backwards, are read line by line.
    """
    kept: list[bytes] = []
    kept_count = 0
    total = 0
    keep_continuation = False
    year = window.start.year
    iterator = iter(lines)
    while block := list(islice(iterator, BLOCK_LINES)):
        total += len(block)
        first = next(((i, t) for i, raw in enumerate(block) if (t := _stamp(raw, year)) is not None), None)
        last = next((t for raw in reversed(block) if (t := _stamp(raw, year)) is not None), None)
        if first is not None and last is not None and window.contains(first[1]) and window.contains(last):
            start = 0 if keep_continuation else first[0]
            kept.extend(block[start:])
            kept_count += len(block) - start
            keep_continuation = True
            continue
        if (
            first is not None
            and last is not None
            and first[1] <= last
            and (last < window.start - DISORDER or first[1] > window.end + DISORDER)
        ):
            keep_continuation = False  # the whole block is before or after the window
            continue
        for raw in block:
            at = _stamp(raw, year)
            if at is None:
                if keep_continuation:
                    kept.append(raw)
                    kept_count += 1
                continue
            keep_continuation = window.contains(at)
            if keep_continuation:
                kept.append(raw)
                kept_count += 1
    return b"".join(kept), kept_count, total


def _open(path: Path) -> BinaryIO:
    if path.suffix == ".gz":
        return cast(BinaryIO, gzip.open(path, "rb"))
    return open(path, "rb")


def _slug(path: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", path).strip("_")[-120:] or "log"


class LogFileSource:
    """Files and globs on the worker's machine (or a mounted share)."""

    kind = KIND

    def __init__(self, name: str, paths: list[str], timeline_pattern: str = DEFAULT_PATTERN) -> None:
        self._name = f"logs:{name}"
        self.paths = paths
        self.timeline_pattern = timeline_pattern

    @property
    def name(self) -> str:
        return self._name

    @property
    def target(self) -> str:
        return ", ".join(self.paths)

    @property
    def instrument_hint(self) -> str:
        return f"instrument this: make the logs at {self.target} readable by the worker and keep them past the window"

    def _files(self, window: Window) -> list[Path]:
        found: set[str] = set()
        for pattern in self.paths:
            found.update(glob.glob(pattern, recursive=True) if glob.has_magic(pattern) else [pattern])
        files = [Path(p) for p in sorted(found) if Path(p).is_file()]
        if not files:
            raise SourceRejected(f"no log file matches {self.target}")
        # a file last written before the window opened cannot hold lines from it (append-only logs)
        return [f for f in files if f.stat().st_mtime >= window.start.timestamp() - 1]

    def _collect(self, window: Window) -> list[Collected]:
        collected: list[Collected] = []
        for path in self._files(window):
            try:
                with _open(path) as fh:
                    data, kept, total = filter_lines(fh, window)
            except OSError as exc:
                raise SourceRejected(f"{path}: {exc.strerror or exc}") from None
            collected.append(
                Collected(
                    name=_slug(str(path)),
                    target=str(path),
                    media_type="text/plain",
                    data=data,
                    window=window,
                    note=f"{kept} of {total} lines fall in the window",
                    meta={"timeline_pattern": self.timeline_pattern, "year": str(window.start.year)},
                )
            )
        return collected

    async def collect(self, incident: Incident, window: Window) -> list[Collected]:
        return await asyncio.to_thread(self._collect, window)


_LEADING_FLAGS = re.compile(r"^\(\?([aiLmsux]+)\)")


class Matcher:
    """`timeline_pattern`, searched fast.

    Python's case-insensitive search is several times slower than a case-sensitive one: a pattern
    that starts with `(?i)` and has no upper-case literals matches the same text case-sensitively
    once the text is lower-cased. A pattern without anchors or look-behinds can also be tried on the
    whole line before the line's timestamp is parsed (most lines of a log are not timeline material).
    """

    def __init__(self, pattern: str) -> None:
        self.regex = re.compile(pattern)
        self.lower = False
        lead = _LEADING_FLAGS.match(pattern)
        if lead and lead.group(1) == "i":
            body = pattern[lead.end() :]
            if not any(c.isupper() for c in re.sub(r"\\.", "", body)):  # escapes like \W are not literals
                self.regex = re.compile(body)
                self.lower = True
        self.prefilter = not re.search(r"\^|\$|\\A|\\Z|\(\?<", pattern)

    def search(self, text: str) -> bool:
        return self.regex.search(text.lower() if self.lower else text) is not None


def collapse(entries: Iterable[tuple[datetime, str]], pattern: str | Matcher, source_key: str) -> list[Event]:
    """Matching messages as events; one per distinct message (digits ignored), with count and last time."""
    matcher = pattern if isinstance(pattern, Matcher) else Matcher(pattern)
    groups: dict[str, list[tuple[datetime, str]]] = {}
    for at, message in sorted(entries):
        if not message or not matcher.search(message):
            continue
        groups.setdefault(_DIGITS.sub("#", message), []).append((at, message))
    firsts = sorted((sightings[0][0], norm) for norm, sightings in groups.items())[:MAX_ROWS_PER_ITEM]
    events: list[Event] = []
    for _, norm in firsts:
        sightings = groups[norm]
        first_at, first_message = sightings[0]
        events.append(
            Event(
                at=first_at,
                text=first_message[:300],
                key=f"{source_key}:{norm[:300]}",
                count=len(sightings),
                until=sightings[-1][0] if len(sightings) > 1 else None,
            )
        )
    return events


def _entries(lines: Iterator[str], year: int, matcher: Matcher) -> Iterator[tuple[datetime, str]]:
    for line in lines:
        if matcher.prefilter and not matcher.search(line):
            continue
        at, message = line_time(line, year)
        if at is not None:
            yield at, message


def log_events(data: bytes, meta: dict[str, str]) -> list[Event]:
    year = int(meta.get("year", datetime.now(UTC).year))
    lines = iter(data.decode("utf-8", errors="replace").splitlines())
    matcher = Matcher(meta.get("timeline_pattern", DEFAULT_PATTERN))
    return collapse(_entries(lines, year, matcher), matcher, "log")
