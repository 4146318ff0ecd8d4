"""A postmortem's Markdown prepared for the language rules: what is prose, what is a row, what is a word
for a system.

The text is masked, never cut: every character the rules must not read (code, comments, front matter,
quotes, link targets) becomes a space, line breaks stay, and `\\r` becomes a space, so an offset into the
masked text is the same offset into the original and a finding's line and columns are exact in the file
the author edits, CRLF or not.

Each mask is a regular expression over the whole text (not a loop over lines), which is what keeps the
lint at several MB/s: Python code runs per fence, per indented block and per heading, not per line.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from afterword.gates.fast_regex import Encoded, Finder

# --- blocks the rules never read ------------------------------------------------------------------------

_FRONT_MATTER = re.compile(r"\A\ufeff?(---|\+\+\+)[ \t]*\r?\n.*?^\1[ \t\r]*$", re.DOTALL | re.MULTILINE)
# Line patterns begin with "\n" and run over "\n" + text (`_lines`): a literal first character lets the
# engine jump between candidates, where "^" with MULTILINE tries every position.
_FENCE_LINE = re.compile(r"\n[ \t]{0,3}(?:`{3,}|~{3,})[^\n]*")
_FENCE_MARKER = re.compile(r"[ \t]{0,3}(`{3,}|~{3,})")
_HTML_COMMENT = Finder(r"(?s)<!--.*?(?:-->|\z)")
_BLOCKQUOTE = re.compile(r"\n[ \t]{0,3}>[^\n]*")
# a run of lines indented by four spaces or a tab, after a blank line: CommonMark's indented code block
# (the literal "\n" first lets the engine jump between candidates)
_INDENTED = re.compile(r"\n[ \t]*\r?\n((?:(?: {4}|\t)[^\n]*(?:\n|\Z)|[ \t]*\r?\n(?= {4}|\t))+)")
_INDENTED_FIRST = re.compile(r"((?:(?: {4}|\t)[^\n]*(?:\n|\Z)|[ \t]*\r?\n(?= {4}|\t))+)")
_LIST_ITEM = re.compile(r"^[ \t]*(?:[-*+]|\d+[.)])[ \t]")

# --- inline parts the rules never read --------------------------------------------------------------------

_REFERENCE = re.compile(r"\n[ \t]{0,3}\[[^\]\n]+\]:[^\n]*")  # link reference definitions
# Each inline pattern begins with a literal, so the engine jumps between candidates; code spans go first,
# so that a quotation mark inside code cannot open a quote that runs into the prose after it.
_CODE_SPAN = re.compile(r"``[^\n]*?``|`[^`\n]*`")
_INLINE = (
    re.compile(r"</?[A-Za-z][^<>\n]*>"),  # HTML tags (their text between stays prose)
    re.compile(r"\]\([^)\s]*(?:\s+\"[^\"\n]*\")?\)"),  # link targets
    re.compile(r"(?:https?|ftp)://[^\s<>]+"),  # bare URLs
    re.compile(r'"[^"\n]{1,400}"'),  # quoted words
    re.compile("\u201c[^\u201d\n]{1,400}\u201d"),
    re.compile("\u00ab[^\u00bb\n]{1,400}\u00bb"),
)

# --- rows: who did what is recorded there ---------------------------------------------------------------

_TABLE_ROW = re.compile(r"\n[ \t]*\|[^\n]*")
_DELIMITER_ROW = Finder(r"(?m)^[ \t]*\|?[ \t]*:?-{3,}:?[ \t]*(?:\|[ \t]*:?-{3,}:?[ \t]*)+\|?[ \t\r]*$")
_TIME_ROW = Finder(r"(?m)^[ \t]*(?:[-*+][ \t]+)?(?:\*\*|__)?(?:\d{4}-\d{2}-\d{2}[ T]?)?\d{1,2}[:h]\d{2}\b[^\n]*")
_HEADING_LINE = re.compile(r"\n[ \t]{0,3}#{1,6}[ \t][^\n]*")
_HEADING = re.compile(r"[ \t]{0,3}(#{1,6})[ \t]+(.*?)[ \t#]*$")

# --- the document's own words for systems ---------------------------------------------------------------

# Nouns that, right after a capitalised word, make it the name of a system ("Cassandra cluster", "Jane pods").
# No word here may also be a verb a person does ("runs", "checks", "logs"), nor a fault ("error").
SYSTEM_NOUNS = (
    r"services?|clusters?|pods?|nodes?|servers?|workers?|jobs?|queues?|gateways?|prox(?:y|ies)|routers?|"
    r"schedulers?|databases?|db|caches?|apis?|apps?|bots?|brokers?|instances?|replicas?|shards?|pipelines?|"
    r"dashboards?|endpoints?|buckets?|storage|arrays?|agents?|daemons?|controllers?|build|"
    r"images?|containers?|functions?|query|batch(?:es)?|compaction|tables?|indexe?s?|topics?|"
    r"streams?|sites?|generators?|clients?|librar(?:y|ies)|sdk|cli|modules?|plugins?|runners?|deployments?|"
    r"release|versions?|config(?:uration)?s?|settings?|period|connections?|notebooks?|shortcuts?|skills?|"
    r"migrations?|binar(?:y|ies)|regions?|zones?|traffic|latency|backups?|tasks?|"
    r"levels?|metrics?|probes?|consoles?|portals?|websites?|volumes?|"
    r"machines?|hosts?|vms?|lambdas?|webhooks?|integrations?|exporters?|collectors?|feeds?|"
    r"tiers?|tenants?|namespaces?|charts?|"
    r"serveurs?|grappes?|t\u00e2ches?|sondes?|outils?"
)
_CAPITAL = r"([A-Z\u00c0-\u00d6\u00d8-\u00de][\pL\pN_-]+)"
_DETERMINED = Finder(
    r"\b(?i:the|a|an|our|their|its|this|each|every|le|la|les|du|des|un|une|notre|nos|ce|cette)\s+" + _CAPITAL,
    ignore_case=False,
    capture=True,
)
_NAMED_SYSTEM = Finder(r"\b" + _CAPITAL + r"\s+(?i:" + SYSTEM_NOUNS + r")\b", ignore_case=False, capture=True)
_APPOSITIVE = Finder(
    r"\b" + _CAPITAL + r",\s+(?i:the|our|a|an|le|la|notre|un|une)\s+(?:[\pL\pN_-]+\s+){0,2}?(?i:"
    + SYSTEM_NOUNS
    + r")\b",
    ignore_case=False,
    capture=True,
)
_LABEL = Finder(
    r"\b(?:service|app|application|job|component|namespace|cluster|deployment|container|system|alertname|"
    r"pod|instance)\s*[=:]\s*[\"']?([A-Za-z][\w.-]*)",
    capture=True,
)
_SERVICE_ROW = Finder(
    r"(?m)^\|?[ \t]*(?:services?|components?|systems?|service concern\u00e9|composant)[ \t]*\|[ \t]*([^|\n]+)",
    capture=True,
)
_IDENTIFIER = Finder(
    r"\b([A-Za-z][A-Za-z0-9]*)[-_](?:api|svc|service|db|cluster|workers?|gateway|proxy|queue|cache|web|app|"
    r"server|prod|staging|internal|backend|frontend)\b",
    capture=True,
)
_WORD = re.compile(r"[^\W\d_][\w-]*")


def _lines(rx: re.Pattern[str], text: str) -> list[tuple[int, int]]:
    """Spans of a line pattern (see above), without the "\n" it starts with."""
    return [(m.start(), m.end() - 1) for m in rx.finditer("\n" + text)]


def _blank(segment: str) -> str:
    if "\n" not in segment:
        return " " * len(segment)
    return "\n".join(" " * len(part) for part in segment.split("\n"))


@dataclass(frozen=True)
class Section:
    start: int  # offset of the heading line
    level: int
    title: str  # lower case, trimmed


@dataclass
class Prepared:
    """The original `text`, its masked twin, the row spans and the system words it names."""

    text: str
    masked: str
    rows: list[tuple[int, int]] = field(default_factory=list)  # sorted, disjoint
    sections: list[Section] = field(default_factory=list)
    system_words: set[str] = field(default_factory=set)  # lower case
    encoded: Encoded | None = field(default=None, repr=False)  # `masked`, for the trigger patterns
    triggers: dict[tuple[str, str], list[tuple[int, int]]] = field(default_factory=dict, repr=False)
    _section_starts: list[int] | None = field(default=None, repr=False)

    def in_row(self, offset: int) -> bool:
        i = bisect.bisect_right(self.rows, (offset, len(self.text) + 1)) - 1
        return i >= 0 and self.rows[i][0] <= offset < self.rows[i][1]

    def section_at(self, offset: int) -> Section | None:
        if self._section_starts is None:
            self._section_starts = [s.start for s in self.sections]
        i = bisect.bisect_right(self._section_starts, offset) - 1
        return self.sections[i] if i >= 0 else None


def _spans_to_mask(text: str, encoded: Encoded) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    front = _FRONT_MATTER.match(text)
    if front:
        spans.append((0, front.end()))
    fence: tuple[str, int] | None = None  # (marker, start)
    for start, end in _lines(_FENCE_LINE, text):
        line = text[start:end]
        opener = _FENCE_MARKER.match(line)
        if opener is None:
            continue
        marker, rest = opener.group(1), line[opener.end() :]
        if fence is None:
            if marker[0] == "`" and "`" in rest:
                continue  # "```js`x`" is inline code, not a fence (CommonMark: no backtick in the info string)
            fence = (marker, start)
        elif marker[0] == fence[0][0] and len(marker) >= len(fence[0]) and not rest.strip():
            spans.append((fence[1], end))
            fence = None
    if fence is not None:  # an unclosed fence runs to the end of the document
        spans.append((fence[1], len(text)))
    spans.extend(_HTML_COMMENT.spans(encoded))
    spans.extend(_lines(_BLOCKQUOTE, text))
    spans.extend(_lines(_REFERENCE, text))
    blocks = list(_INDENTED.finditer(text))
    first = _INDENTED_FIRST.match(text)
    for block in ([first] if first else []) + blocks:
        end = block.start(1)
        while end > 0 and text[end - 1] in " \t\r\n":
            end -= 1
        last_line = text[text.rfind("\n", 0, end) + 1 : end]
        if last_line and (_LIST_ITEM.match(last_line) or last_line.startswith((" ", "\t"))):
            continue  # the continuation of a list item, not code
        spans.append(block.span(1))
    return spans


def _apply(text: str, spans: Iterable[tuple[int, int]]) -> str:
    parts: list[str] = []
    cursor = 0
    for start, end in sorted(spans):
        if end <= cursor:
            continue
        start = max(start, cursor)
        parts.append(text[cursor:start])
        parts.append(_blank(text[start:end]))
        cursor = end
    parts.append(text[cursor:])
    return "".join(parts)


def _rows(masked: Encoded, sections: Sequence[Section], row_sections: frozenset[str]) -> list[tuple[int, int]]:
    text = masked.text
    spans = _lines(_TABLE_ROW, text)
    spans.extend(_TIME_ROW.spans(masked))
    for start, end in _DELIMITER_ROW.spans(masked):  # tables written without leading pipes
        header_start = text.rfind("\n", 0, max(0, start - 1)) + 1
        while end < len(text):
            next_end = text.find("\n", end + 1)
            next_end = len(text) if next_end < 0 else next_end
            if "|" not in text[end:next_end]:
                break
            end = next_end
        spans.append((header_start, end))
    for section, end in _bodies(sections, len(text)):  # every line of a timeline section records who did what
        if section_key(section.title) in row_sections:
            body_start = text.find("\n", section.start)
            if body_start >= 0:
                spans.append((body_start, end))
    spans.sort()
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _bodies(sections: Sequence[Section], length: int) -> list[tuple[Section, int]]:
    """Each section with where it ends: at the next heading of its level or higher, else the document's end."""
    ends = [length] * len(sections)
    open_sections: list[int] = []  # indexes of sections not yet ended, levels increasing
    for index, section in enumerate(sections):
        while open_sections and sections[open_sections[-1]].level >= section.level:
            ends[open_sections.pop()] = section.start
        open_sections.append(index)
    return list(zip(sections, ends, strict=True))


def section_key(title: str) -> str:
    """ "3. Timeline (UTC)" -> "timeline": numbering and a trailing qualifier do not change a section."""
    title = re.sub(r"^[\d.]+\s*", "", title.strip().lower())
    return re.sub(r"\s*[(:].*$", "", title).strip()


def _system_words(text: Encoded, masked: Encoded) -> set[str]:
    found: set[str] = set()
    for finder in (_DETERMINED, _NAMED_SYSTEM, _APPOSITIVE):
        found.update(word.lower() for _, _, word in finder.groups(masked))
    for finder in (_LABEL, _IDENTIFIER):
        found.update(word.lower() for _, _, word in finder.groups(text))
    for _, _, row in _SERVICE_ROW.groups(text):
        found.update(w.lower() for w in _WORD.findall(row.replace("`", " ")))
    return found


def prepare(
    text: str,
    skip_sections: Iterable[str] = (),
    row_sections: Iterable[str] = (),
) -> Prepared:
    """Mask `text` for the rules; `skip_sections` are not linted at all, `row_sections` (the timeline's
    names in each language) are read as rows."""
    original = Encoded(text)
    masked = _apply(text, _spans_to_mask(text, original))
    masked = _apply(masked, [m.span() for m in _CODE_SPAN.finditer(masked)])
    masked = _apply(masked, [m.span() for rx in _INLINE for m in rx.finditer(masked)])
    sections: list[Section] = []
    for start, end in _lines(_HEADING_LINE, masked):
        heading = _HEADING.match(masked, start, end)
        if heading:
            sections.append(Section(start, len(heading.group(1)), heading.group(2).strip().lower()))
    skip = {section_key(s) for s in skip_sections}
    if skip:
        bodies = _bodies(sections, len(masked))
        hidden = [(section.start, end) for section, end in bodies if section_key(section.title) in skip]
        masked = _apply(masked, hidden)
    masked = masked.replace("\r", " ")
    final = Encoded(masked)
    rows = _rows(final, sections, frozenset(section_key(s) for s in row_sections))
    return Prepared(text, masked, rows, sections, _system_words(original, final), final)
