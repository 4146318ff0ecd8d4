"""Patterns compiled for RE2 when it is installed, Python's `re` otherwise; offsets always in characters.

The lint's triggers are large alternations ("failed to", "forgot", "did not check", ... and a hundred
more). Python's backtracking engine tries every alternative at every word: 2-15 MB/s per pattern here.
RE2 (google-re2, a DFA) reads each byte once whatever the number of alternatives: 50-130 MB/s per
pattern on the same text. RE2 has no look-behind or look-ahead, so these patterns use `\\b` and the
caller checks the character before a match itself (`starts_word`).

RE2 works on UTF-8 bytes. The wrapper converts every match's byte offsets back to characters by
rescanning the text, which cost more than the matching here, so a document is encoded once
(`Encoded`) and byte offsets are mapped to characters through the positions of its non-ASCII
characters (few, in postmortems): a bisect per match.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from typing import Any

try:
    import re2 as _re2  # type: ignore[import-untyped, import-not-found, unused-ignore]
except ImportError:  # a platform without a google-re2 wheel: the same results, slower
    _re2 = None

_NON_ASCII = re.compile(rb"[\x80-\xff]+")


def _non_ascii_runs(data: bytes) -> list[tuple[int, int]]:
    """Byte spans of the runs of non-ASCII bytes (RE2 in Latin-1 mode scans for them at memory speed)."""
    if _NON_ASCII_RE2 is not None:
        return [m.span() for m in _NON_ASCII_RE2.finditer(data)]
    return [m.span() for m in _NON_ASCII.finditer(data)]


def _latin1_finder(pattern: bytes) -> Any:
    if _re2 is None:
        return None
    options: Any = _re2.Options()
    options.encoding = _re2.Options.Encoding.LATIN1
    options.never_capture = True
    return _re2.compile(pattern, options=options)


_NON_ASCII_RE2 = _latin1_finder(rb"[\x80-\xff]+")


class Encoded:
    """A text, its UTF-8 bytes, and the map from byte offsets to character offsets."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.data = text.encode("utf-8", "surrogatepass")
        # runs of non-ASCII characters: their byte starts and ends, and the extra bytes up to each run's end
        self._starts: list[int] = []
        self._ends: list[int] = []
        self._extra: list[int] = []
        if len(self.data) != len(text):
            extra = 0
            for start, end in _non_ascii_runs(self.data):
                extra += end - start - len(self.data[start:end].decode("utf-8", "surrogatepass"))
                self._starts.append(start)
                self._ends.append(end)
                self._extra.append(extra)

    def char(self, byte_offset: int) -> int:
        if not self._starts:
            return byte_offset
        i = bisect.bisect_right(self._starts, byte_offset) - 1
        if i < 0:
            return byte_offset
        before = self._extra[i - 1] if i else 0
        if byte_offset >= self._ends[i]:
            return byte_offset - self._extra[i]
        # inside a run (a match that starts or ends in a non-ASCII word): count its characters
        run_start = self._starts[i]
        return run_start - before + len(self.data[run_start:byte_offset].decode("utf-8", "surrogatepass"))


def _for_re2(pattern: str) -> str:
    """Python's syntax in RE2's: `\\uXXXX` is `\\x{XXXX}`; a word boundary that ends an alternative becomes
    "a non-word character or the end", by Unicode (RE2's `\\b` is ASCII-only, so "v\u00e9rifi\u00e9\\b" would never
    match). That consumes the character after a match: callers trim it (`Finder.spans` callers do)."""
    pattern = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: "\\x{" + m.group(1) + "}", pattern)
    return re.sub(r"\\b(?=\||\)|$)", r"(?:[^\\pL\\pN_]|\\z)", pattern)


def _for_re(pattern: str) -> str:
    """RE2's syntax in Python's: the Unicode classes used here, and `\\z`."""
    return pattern.replace(r"[\pL\pN_-]", r"[\w-]").replace(r"\z", r"\Z")


class Finder:
    """A compiled pattern that yields character spans (and group 1, when asked) over an `Encoded`."""

    def __init__(self, pattern: str, ignore_case: bool = True, capture: bool = False) -> None:
        self.pattern = pattern
        self._re2: Any = None
        self._re: re.Pattern[str] | None = None
        if _re2 is not None:
            options: Any = _re2.Options()
            options.case_sensitive = not ignore_case
            options.max_mem = 64 << 20
            options.never_capture = not capture
            options.log_errors = False
            self._re2 = _re2.compile(_for_re2(pattern).encode("utf-8"), options=options)
        else:
            self._re = re.compile(_for_re(pattern), re.IGNORECASE if ignore_case else 0)

    def spans(self, doc: Encoded) -> Iterator[tuple[int, int]]:
        if self._re is not None:
            for m in self._re.finditer(doc.text):
                yield m.start(), m.end()
            return
        for m in self._re2.finditer(doc.data):
            yield doc.char(m.start()), doc.char(m.end())

    def alternatives(self, doc: Encoded) -> Iterator[tuple[int, int, int]]:
        """Each match's span and which top-level group matched (1, 2, ...): several patterns in one pass."""
        if self._re is not None:
            for m in self._re.finditer(doc.text):
                yield m.start(), m.end(), m.lastindex or 0
            return
        for m in self._re2.finditer(doc.data):
            yield doc.char(m.start()), doc.char(m.end()), m.lastindex or 0

    def groups(self, doc: Encoded) -> Iterator[tuple[int, int, str]]:
        """Each match's group 1: its character span and its text."""
        if self._re is not None:
            for m in self._re.finditer(doc.text):
                if m.group(1) is not None:
                    yield m.start(1), m.end(1), m.group(1)
            return
        for m in self._re2.finditer(doc.data):
            s, e = m.span(1)
            if s >= 0:
                cs, ce = doc.char(s), doc.char(e)
                yield cs, ce, doc.text[cs:ce]


def engine() -> str:
    return "re2" if _re2 is not None else "re"


def starts_word(text: str, position: int) -> bool:
    """Whether a match at `position` begins a word (`\\b` in RE2 is ASCII-only, and "'" and "-" join words)."""
    if position == 0:
        return True
    before = text[position - 1]
    return not (before.isalnum() or before in "_'\u2019-")
