"""What every source turns its payload into: one `Notification` about one incident.

A source module only parses and maps; it never talks to Temporal or the policy. Severity is left to
the policy (`map_severity` over the labels), so sources put what the sender says about urgency into
labels (`severity`, `priority`, `urgency`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator

from afterword.intake.moments import check_window
from afterword.intake.refusals import Malformed
from afterword.workflows.models import (
    MAX_KEY,
    MAX_LABEL_VALUE,
    MAX_LABELS,
    MAX_LINK,
    MAX_LINKS,
    MAX_NAME,
    Incident,
    clip,
)

M = TypeVar("M", bound=BaseModel)


# A label's or annotation's name: Prometheus's grammar is `[a-zA-Z_][a-zA-Z0-9_]*`, its UTF-8 names
# (Prometheus 3, Alertmanager 0.27+, Grafana) any text; a blank name, one padded with spaces, or one holding
# a line break, a control or another unprintable character (what `str.isprintable` refuses) is neither,
# and no policy could name it. A pattern rather than a Python validator: pydantic checks it in Rust, for
# every label of every alert of a storm.
_PRINTABLE = r"[^\p{C}\p{Z}]"
LABEL_NAME = rf"^{_PRINTABLE}(?:(?:{_PRINTABLE}| )*{_PRINTABLE})?$"
NOT_A_LABEL_NAME = "not a label name (blank, surrounding spaces or unprintable characters)"
LabelMap = dict[Annotated[str, StringConstraints(pattern=LABEL_NAME)], str]


class Status(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"
    REOPENED = "reopened"  # the sender says explicitly: this incident is back (PagerDuty)
    IGNORED = "ignored"  # an event that concerns no incident state (e.g. a PagerDuty service event)


class Notification(BaseModel):
    """One delivery, mapped: which incident, what happened, and what the incident looks like."""

    model_config = ConfigDict(extra="forbid")

    source: str
    key: str = Field(min_length=1, max_length=MAX_KEY)
    status: Status
    delivery_id: str | None = Field(default=None, description="the sender's id for this delivery, if any")
    sent_at: datetime | None = Field(
        default=None, description="when the sender says the event happened (PagerDuty's occurred_at): bounds replays"
    )
    title: str
    service: str = "unknown"
    team: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    links: list[str] = Field(default_factory=list)
    started_at: datetime
    latest_start: datetime = Field(description="start of the newest firing in this delivery (flap detection)")
    resolved_at: datetime | None = None
    description: str = ""
    security: bool = False
    legal: bool = False
    alerts: int = 1
    truncated: int = 0
    note: str = ""

    @field_validator("started_at", "latest_start", "resolved_at")
    @classmethod
    def _in_window(cls, moment: datetime | None) -> datetime | None:
        # each source checks its own fields (naming them); this holds for any future source too
        return None if moment is None else check_window(moment)

    def incident(self, org: str, severity: str, payload_ref: str | None, key: str | None = None) -> Incident:
        return Incident(
            org=org,
            key=key or self.key,
            source=self.source,
            title=self.title,
            severity=severity,
            service=self.service,
            team=self.team,
            labels=self.labels,
            annotations=self.annotations,
            links=self.links,
            started_at=self.started_at,
            resolved_at=self.resolved_at if self.status is Status.RESOLVED else None,
            security=self.security,
            legal=self.legal,
            description=self.description,
            payload_ref=payload_ref,
        )


class _NotJson(ValueError):
    """What RFC 8259 JSON does not have, though Python's reader takes it."""


def _no_constant(name: str) -> Any:
    raise _NotJson(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    number = float(text)
    if number in (float("inf"), float("-inf")):
        raise _NotJson(f"the number {text[:40]} is too large for a 64-bit float")
    return number


def _lone_surrogate(data: Any) -> str | None:
    """Where a string (or an object's name) holds half of a UTF-16 surrogate pair (a `\\ud800` escape):
    such text cannot be written as UTF-8, so it could reach neither Temporal nor a document."""
    stack: list[tuple[str, Any]] = [("(top level)", data)]
    while stack:  # iterative: a deeply nested body must not exhaust the stack here
        where, value = stack.pop()
        if isinstance(value, str):
            if not value.isascii():
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError:
                    return where
        elif isinstance(value, dict):
            for name, item in value.items():
                stack.append((f"{where}.{name}" if where != "(top level)" else name, name))
                stack.append((f"{where}.{name}" if where != "(top level)" else name, item))
        elif isinstance(value, list):
            stack.extend((f"{where}[{index}]", item) for index, item in enumerate(value))
    return None


def load_json(body: bytes) -> Any:
    """The body as JSON as RFC 8259 defines it: UTF-8 without a byte order mark, numbers that are numbers
    (no NaN or Infinity, none beyond a float's range or Python's 4,300 digits), no lone surrogates."""
    if body.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")):
        raise Malformed("body is UTF-16 or UTF-32 text; JSON between systems is UTF-8 (RFC 8259)")
    if body.startswith(b"\xef\xbb\xbf"):
        raise Malformed("body starts with a byte order mark; send UTF-8 JSON without one (RFC 8259)")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Malformed(f"body is not UTF-8 text: invalid byte at offset {exc.start}") from None
    try:
        data = json.loads(text, parse_constant=_no_constant, parse_float=_finite)
    except json.JSONDecodeError as exc:
        raise Malformed(f"body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except _NotJson as exc:
        raise Malformed(f"body is not valid JSON: {exc}") from None
    except ValueError as exc:  # an integer over sys.get_int_max_str_digits() digits
        raise Malformed(f"body holds a number too long to read: {str(exc)[:120]}") from None
    except RecursionError:
        raise Malformed("body is not valid JSON: nested too deeply") from None
    if "\\u" in text:  # only an escape can make a lone surrogate out of valid UTF-8
        where = _lone_surrogate(data)
        if where is not None:
            raise Malformed(f"{where}: text holds a lone UTF-16 surrogate (an unpaired \\ud800-\\udfff escape)")
    return data


_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def field_path(loc: Iterable[int | str]) -> str:
    """pydantic's error location as a person reads it: `alerts[0].startsAt`, `commonLabels[' '] (name)`."""
    where = ""
    for part in loc:
        if isinstance(part, int):
            where += f"[{part}]"
        elif part == "[key]":  # the error is in a mapping's name, not its value
            where += " (name)"
        elif _PLAIN_NAME.fullmatch(part):
            where += f".{part}" if where else part
        else:
            where += f"[{part[:40]!r}]"
    return where or "(top level)"


def refusal(exc: ValidationError, what: str, within: tuple[int | str, ...] = ()) -> Malformed:
    """A 400 that names the field (inside `within`, where the validated part sits) and what is wrong."""
    first = exc.errors()[0]
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "string_pattern_mismatch" and first["loc"][-1:] == ("[key]",):
        message = f"{str(first['input'])[:40]!r} is {NOT_A_LABEL_NAME}"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return Malformed(f"{what}: {field_path((*within, *first['loc']))}: {message}{more}")


def validate(model: type[M], data: Any, what: str, within: tuple[int | str, ...] = ()) -> M:
    """Validate `data` (the body, or the part of it at `within`) against a source's payload model; a
    failure is a 400 naming the field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise refusal(exc, what, within) from None


def bounded_labels(*sources: Mapping[str, Any] | None) -> dict[str, str]:
    """Merge label maps (earlier wins), stringify values, cap count and length."""
    merged: dict[str, str] = {}
    for source in sources:
        for name, value in (source or {}).items():
            if len(merged) >= MAX_LABELS:
                return merged
            if name not in merged and value is not None:
                text = value if isinstance(value, str) else str(value)
                merged[clip(str(name), MAX_NAME)] = clip(text, MAX_LABEL_VALUE)
    return merged


def bounded_links(links: Iterable[str | None]) -> list[str]:
    """http(s) links, each once; one with a space or an unprintable character in it is no URL and is left out."""
    seen: list[str] = []
    for link in links:
        if (
            link
            and link not in seen
            and link.startswith(("http://", "https://"))
            and link.isprintable()
            and " " not in link
        ):
            seen.append(clip(link, MAX_LINK))
        if len(seen) >= MAX_LINKS:
            break
    return seen


def truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"true", "yes", "1", "y"}


def flags(labels: Mapping[str, str]) -> tuple[bool, bool]:
    """(security, legal) as labelled by the sender: `security="true"`, `category="security"`, ..."""
    category = labels.get("category", "").lower()
    security = truthy(labels.get("security")) or category == "security"
    legal = truthy(labels.get("legal")) or category == "legal"
    return security, legal
