"""A complete document: required sections present and written, action items owned, dated and measurable.

The draft is parsed with markdown-it-py (CommonMark + tables), so headings inside code blocks, table
header rows and list nesting are understood the way a Markdown renderer understands them. A section
whose only content is a template prompt ("<fill in: ...>") or a placeholder ("TBD") is empty.

The completeness score (M4) is fields filled / fields required, where the fields are the required
sections plus, for each action item, each field the policy requires (owner, due, success criterion
by default).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token

from afterword.gates.check_syntax import EXAMPLES, CheckSyntaxError, parse_check
from afterword.policies.schema import DEFAULT_ACTION_FIELDS, DEFAULT_PLACEHOLDERS
from afterword.workflows.models import Finding

DEFAULT_ITEM_FIELDS: tuple[str, ...] = DEFAULT_ACTION_FIELDS

_COLUMN_NAMES: dict[str, tuple[str, ...]] = {
    "owner": ("owner", "owners", "assignee", "assigned to", "who", "responsible"),
    "due": ("due", "due date", "deadline", "by", "target date", "when"),
    "success_criterion": (
        "success criterion",
        "success criteria",
        "criterion",
        "criteria",
        "done when",
        "acceptance",
        "acceptance criteria",
        "validation",
        "measure",
        "how we know",
        "success",
    ),
    "type": ("type", "kind", "category"),
    "check": ("check", "automatic check", "validation check", "checked by"),
    "ticket": ("ticket", "issue", "link", "tracker", "jira", "bug"),
    "title": ("action", "action item", "item", "task", "title", "description", "what"),
}
_FIELD_LABELS = {
    "owner": "owner",
    "due": "due date",
    "success_criterion": "success criterion",
    "type": "type",
    "ticket": "ticket",
}
_INLINE_FIELDS: dict[str, re.Pattern[str]] = {
    "owner": re.compile(
        r"(?i)\b(?:owner|assignee|assigned to)\s*[:=]\s*([^;|\n]+?)\s*(?=[;|\n]|\b(?:due|success|"
        r"criterion|type|ticket)\b|$)"
    ),
    "due": re.compile(r"(?i)\b(?:due(?: date)?|deadline|by)\s*[:=]?\s*(\d{4}-\d{2}-\d{2}\b[^;|\n]*?)\s*(?=[;|\n]|$)"),
    "success_criterion": re.compile(
        r"(?i)\b(?:success criteri(?:on|a)|criterion|done when|acceptance(?: criteria)?|"
        r"validated by|measured by)\s*[:=]\s*([^|\n]+?)\s*(?=[;|\n]|$)"
    ),
    "type": re.compile(r"(?i)\btype\s*[:=]\s*(\w+)"),
    "ticket": re.compile(r"(?i)\b(?:ticket|issue)\s*[:=]\s*(\S+)"),
    "check": re.compile(r"(?i)\bcheck\s*:\s*`?((?:prometheus|alert_rule|alert_silent|http|manual)\b[^|\n`]*)`?\s*$"),
}
_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_MENTION = re.compile(r"(?<![\w.])@[A-Za-z0-9][\w.-]*")

_PARSER = MarkdownIt("commonmark", {"html": True}).enable("table")


@dataclass
class Section:
    title: str
    level: int
    line: int  # 1-based line of the heading
    tokens: list[Token] = field(default_factory=list)


@dataclass
class ActionItem:
    line: int
    text: str
    fields: dict[str, str]


@dataclass
class Completeness:
    findings: list[Finding]
    score: float
    sections_required: int
    sections_filled: int
    items: list[ActionItem]


def normalise(title: str) -> str:
    title = re.sub(r"[*_`#]", "", title).strip().lower()
    title = re.sub(r"^\d+(?:\.\d+)*[.)]?\s+", "", title)  # "3. Impact"
    return re.sub(r"\s+", " ", title.rstrip(":").strip())


def _matches(heading: str, required: str) -> bool:
    heading, required = normalise(heading), normalise(required)
    return heading == required or (heading.startswith(required) and not heading[len(required)].isalnum())


def sections(tokens: Sequence[Token]) -> list[Section]:
    """Each heading with the tokens up to the next heading of the same or a higher level."""
    found: list[Section] = []
    open_sections: list[Section] = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token.type == "heading_open":
            level = int(token.tag[1:])
            title = tokens[index + 1].content if index + 1 < len(tokens) else ""
            section = Section(title, level, (token.map[0] + 1) if token.map else 0)
            open_sections = [s for s in open_sections if s.level < level]
            open_sections.append(section)
            found.append(section)
            index += 3
            continue
        for section in open_sections:
            section.tokens.append(token)
        index += 1
    return found


class Placeholders:
    def __init__(self, placeholders: Sequence[str]) -> None:
        parts = [r"<!--[\s\S]*?-->", r"<fill in[^>]*>"]
        for placeholder in placeholders:
            if placeholder.startswith("<") and placeholder.endswith(">"):
                parts.append(re.escape(placeholder[:-1]) + r"[^>]*>")
            elif placeholder.strip():
                escaped = re.escape(placeholder.strip())
                parts.append(rf"(?<!\w){escaped}(?!\w)" if placeholder[0].isalnum() else escaped)
        self._rx = re.compile("|".join(parts), re.IGNORECASE)

    def strip(self, text: str) -> str:
        return self._rx.sub(" ", text)

    def filled(self, text: str) -> bool:
        return bool(re.search(r"[^\W_]", self.strip(text)))


def _content(tokens: Sequence[Token]) -> str:
    """What a reader sees in a section, excluding table header rows (a template's empty table is empty)."""
    parts: list[str] = []
    in_head = False
    for token in tokens:
        if token.type == "thead_open":
            in_head = True
        elif token.type == "thead_close":
            in_head = False
        elif in_head:
            continue
        elif token.type in ("inline", "fence", "code_block", "html_block"):
            parts.append(token.content)
    return "\n".join(parts)


def _column_field(header: str) -> str | None:
    name = normalise(header)
    for key, names in _COLUMN_NAMES.items():
        if name in names:
            return key
    for key, names in _COLUMN_NAMES.items():
        if any(name.startswith(n) for n in names if len(n) > 3):
            return key
    return None


def action_items(tokens: Sequence[Token]) -> list[ActionItem]:
    """Rows of tables (columns named Owner, Due, Success criterion, ...) and top-level list items
    (fields written as "owner: ...; due: 2025-01-31; success criterion: ...")."""
    items: list[ActionItem] = []
    index = 0
    list_depth = 0
    while index < len(tokens):
        token = tokens[index]
        if token.type == "table_open":
            index = _table_items(tokens, index, items)
            continue
        if token.type in ("bullet_list_open", "ordered_list_open"):
            list_depth += 1
        elif token.type in ("bullet_list_close", "ordered_list_close"):
            list_depth -= 1
        elif token.type == "list_item_open" and list_depth == 1:
            end = index
            depth = 0
            while end < len(tokens):
                if tokens[end].type == "list_item_open":
                    depth += 1
                elif tokens[end].type == "list_item_close":
                    depth -= 1
                    if depth == 0:
                        break
                end += 1
            text = "\n".join(t.content for t in tokens[index:end] if t.type == "inline")
            line = (token.map[0] + 1) if token.map else 0
            fields = {key: m.group(1).strip(" \t,.;()") for key, rx in _INLINE_FIELDS.items() if (m := rx.search(text))}
            if "owner" not in fields and (mention := _MENTION.search(text)):
                fields["owner"] = mention.group(0)
            items.append(ActionItem(line, text, fields))
            index = end
        index += 1
    return items


def _table_items(tokens: Sequence[Token], index: int, items: list[ActionItem]) -> int:
    columns: list[str | None] = []
    row: list[str] = []
    row_line = 0
    in_head = False
    while index < len(tokens):
        token = tokens[index]
        if token.type == "table_close":
            return index + 1
        if token.type == "thead_open":
            in_head = True
        elif token.type == "thead_close":
            in_head = False
        elif token.type == "tr_open":
            row = []
            row_line = (token.map[0] + 1) if token.map else 0
        elif token.type == "inline":
            row.append(token.content.strip())
        elif token.type == "tr_close":
            if in_head:
                columns = [_column_field(cell) for cell in row]
            elif any(cell for cell in row):
                fields = {key: cell for key, cell in zip(columns, row, strict=False) if key is not None}
                items.append(ActionItem(row_line, " | ".join(row), fields))
        index += 1
    return index


def check_document(
    text: str,
    required_sections: Sequence[str],
    placeholders: Sequence[str] = DEFAULT_PLACEHOLDERS,
    item_fields: Sequence[str] = DEFAULT_ITEM_FIELDS,
    action_section: str | None = None,
) -> Completeness:
    tokens = _PARSER.parse(text)
    found = sections(tokens)
    blanks = Placeholders(placeholders)
    findings: list[Finding] = []
    filled = 0
    for required in required_sections:
        match = next((s for s in found if _matches(s.title, required)), None)
        if match is None:
            findings.append(
                Finding(
                    gate="sections",
                    rule="missing-section",
                    message=f'section "{required}" is missing: add it as a heading',
                    suggestion=f"## {required}",
                )
            )
        elif not blanks.filled(_content(match.tokens)):
            findings.append(
                Finding(
                    gate="sections",
                    rule="empty-section",
                    line=match.line,
                    message=f'section "{match.title}" is empty or only holds placeholders: write it',
                )
            )
        else:
            filled += 1

    action_title = action_section or next((r for r in required_sections if "action" in r.lower()), "Action items")
    action = next((s for s in found if _matches(s.title, action_title)), None)
    items = action_items(action.tokens) if action is not None else []
    item_units = item_filled = 0
    for number, item in enumerate(items, 1):
        if problem := _check_problem(item.fields.get("check", "")):
            findings.append(Finding(gate="actions", rule="action-check", line=item.line,
                                    message=f"action item {number}: the check cannot be read: {problem}",
                                    suggestion="see docs/validation.md, e.g. " + EXAMPLES["prometheus"]))
        for key in item_fields:
            item_units += 1
            value = item.fields.get(key, "")
            if not value or not blanks.filled(value):
                findings.append(
                    Finding(
                        gate="actions",
                        rule=f"action-{key.replace('_', '-')}",
                        line=item.line,
                        message=f"action item {number} has no {_FIELD_LABELS.get(key, key)}",
                    )
                )
                continue
            if key == "due" and (problem := _due_problem(value)):
                findings.append(
                    Finding(
                        gate="actions",
                        rule="action-due",
                        line=item.line,
                        message=f"action item {number}: {problem}",
                        suggestion="write the due date as YYYY-MM-DD",
                    )
                )
                continue
            if key == "success_criterion" and len(blanks.strip(value).strip()) < 8:
                findings.append(
                    Finding(
                        gate="actions",
                        rule="action-success-criterion",
                        line=item.line,
                        message=f"action item {number}: the success criterion is too short to be measurable",
                        suggestion='e.g. "p99 latency of /checkout < 300 ms for 7 days"',
                    )
                )
                continue
            item_filled += 1
    required_units = len(required_sections) + item_units
    score = 1.0 if required_units == 0 else (filled + item_filled) / required_units
    findings.sort(key=lambda f: f.line or 0)
    return Completeness(findings, round(score, 4), len(required_sections), filled, items)


def _check_problem(cell: str) -> str | None:
    """What is wrong with a row's check (its cell, code backticks around the whole line allowed)."""
    text = cell.strip()
    if len(text) >= 2 and text.startswith("`") and text.endswith("`") and text.count("`") == 2:
        text = text[1:-1]
    if not text or not re.search(r"[^\W_]", text) or text.lower() in ("-", "n/a", "none"):
        return None
    try:
        parse_check(text)
    except CheckSyntaxError as err:
        return str(err)
    return None


def _due_problem(value: str) -> str | None:
    match = _DATE.search(value)
    if match is None:
        return f'the due date "{value}" is not a date'
    try:
        date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return f'the due date "{match.group(0)}" does not exist'
    return None


def check_with_policy(text: str, required_sections: Sequence[str], policy: Mapping[str, Any] | None) -> Completeness:
    """`check_document` with the document and action-item settings read from a policy dict (defensively)."""
    policy = policy or {}
    document = policy.get("document") if isinstance(policy.get("document"), Mapping) else {}
    placeholders = document.get("placeholders") if isinstance(document, Mapping) else None
    actions = policy.get("action_items") if isinstance(policy.get("action_items"), Mapping) else {}
    fields = actions.get("required_fields") if isinstance(actions, Mapping) else None
    return check_document(
        text,
        required_sections,
        placeholders=[str(p) for p in placeholders] if isinstance(placeholders, list) else DEFAULT_PLACEHOLDERS,
        item_fields=[str(f) for f in fields] if isinstance(fields, list) else DEFAULT_ITEM_FIELDS,
    )
