"""Where each key of a TOML document is written, so an error can name its line.

tomllib reports no positions, so this is a small line scanner: it follows table headers (`[a.b]`,
`[[people]]`, counting array-of-table entries), `key = value` lines (dotted and quoted keys too) and
skips multi-line strings. Inline tables and multi-line arrays map to the line of their key; a key path the
scanner has not seen falls back to its nearest written parent.
"""

from __future__ import annotations

import re

KeyPath = tuple[str | int, ...]

_BARE = r"[A-Za-z0-9_-]+"
_QUOTED = r'"(?:[^"\\]|\\.)*"|\'[^\']*\''
_KEY = rf"(?:{_BARE}|{_QUOTED})"
_DOTTED = rf"{_KEY}(?:\s*\.\s*{_KEY})*"
_TABLE = re.compile(rf"^\s*\[\s*({_DOTTED})\s*\]\s*(?:#.*)?$")
_ARRAY_TABLE = re.compile(rf"^\s*\[\[\s*({_DOTTED})\s*\]\]\s*(?:#.*)?$")
_ASSIGN = re.compile(rf"^\s*({_DOTTED})\s*=")
_PART = re.compile(rf"\s*({_KEY})\s*\.?")


def _split(dotted: str) -> list[str]:
    parts: list[str] = []
    for match in _PART.finditer(dotted):
        token = match.group(1)
        if token[0] in "\"'":
            token = token[1:-1]
        parts.append(token)
    return parts


def key_lines(text: str) -> dict[KeyPath, int]:
    """Map each key path written in `text` to its 1-based line number."""
    lines: dict[KeyPath, int] = {}
    table: KeyPath = ()
    array_counts: dict[KeyPath, int] = {}
    in_string: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if in_string is not None:
            if line.count(in_string) % 2 == 1:
                in_string = None
            continue
        if match := _ARRAY_TABLE.match(line):
            base = _resolve(tuple(_split(match.group(1))), array_counts)
            index = array_counts.get(base, -1) + 1
            array_counts[base] = index
            # entries of an array of tables: their own headers reset deeper counts
            for key in [k for k in array_counts if len(k) > len(base) and k[: len(base)] == base]:
                del array_counts[key]
            table = (*base, index)
            _with_parents(lines, base, number)
            lines[table] = number
            continue
        if match := _TABLE.match(line):
            table = _resolve(tuple(_split(match.group(1))), array_counts)
            _with_parents(lines, table, number)
            continue
        if match := _ASSIGN.match(line):
            path = (*table, *_split(match.group(1)))
            for depth in range(len(table) + 1, len(path) + 1):
                lines.setdefault(path[:depth], number)
            rest = line[match.end():]
            for quote in ('"""', "'''"):
                if rest.count(quote) % 2 == 1:
                    in_string = quote
                    break
    return lines


def _with_parents(lines: dict[KeyPath, int], path: KeyPath, number: int) -> None:
    # `[tool.setuptools]` also defines the table `tool` there, unless it was written earlier
    for depth in range(1, len(path) + 1):
        lines.setdefault(path[:depth], number)


def _resolve(path: KeyPath, array_counts: dict[KeyPath, int]) -> KeyPath:
    """A header inside an array-of-tables entry (`[people.extra]` after `[[people]]`) belongs to the
    latest entry."""
    resolved: list[str | int] = []
    for part in path:
        resolved.append(part)
        key = tuple(resolved)
        if key in array_counts and len(resolved) < len(path):
            resolved.append(array_counts[key])
    return tuple(resolved)


def line_of(lines: dict[KeyPath, int], path: KeyPath) -> int | None:
    """The line of `path`, or of its nearest parent that is written in the file."""
    for depth in range(len(path), 0, -1):
        found = lines.get(tuple(path[:depth]))
        if found is not None:
            return found
    return None


def dotted(path: KeyPath) -> str:
    """A key path as people read it: people[1].roles, deadlines.draft.within."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            text = part if re.fullmatch(_BARE, part) else f'"{part}"'
            out += ("." if out else "") + text
    return out or "(top level)"
