"""How people write a check: one line, in the draft's action-item table (a `Check` column) or on
`afterword action add --check`.

    prometheus expr=`histogram_quantile(0.99, sum by (le) (rate(latency_bucket[5m])))` below=0.8 holds_for=24h
    alert_rule name=CheckoutLatencyHigh fired=yes
    alert_silent silent_for=7d
    http url=https://status.example.com/healthz status=200 body=`"ok"` within=0.5s times=5 interval=1m
    manual

The kind comes first (a colon after it is allowed), then `key=value` pairs. A value is a bare word, or is
written between backticks (as Markdown shows code), double or single quotes when it has spaces. Durations
use the policy's one grammar (policies/durations.py, wall-clock time). Every error names the key and
says what to write; this module only reads the text (what Prometheus thinks of the expression, and
whether the policy allows the URL, is checked when the item is added).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from afterword.policies.durations import format_timedelta, parse_wall_duration
from afterword.workflows.fix_checks import (
    AlertRuleCheck,
    AlertSilentCheck,
    FixCheck,
    HttpCheck,
    ManualCheck,
    PrometheusCheck,
)

KINDS = ("prometheus", "alert_rule", "alert_silent", "http", "manual")
KIND_ALIASES = {"promql": "prometheus", "alert-rule": "alert_rule", "alert-silent": "alert_silent",
                "probe": "http", "https": "http", "sign-off": "manual", "signoff": "manual"}
# the keys of each kind, and the other names people use for them
KEYS: dict[str, dict[str, str]] = {
    "prometheus": {"expr": "expr", "query": "expr", "above": "above", "below": "below",
                   "holds_for": "holds_for", "for": "holds_for", "interval": "interval", "every": "interval"},
    "alert_rule": {"name": "name", "alertname": "name", "expr": "expr", "labels": "labels", "fired": "fired",
                   "interval": "interval", "every": "interval", "source": "source"},
    "alert_silent": {"alertname": "alertname", "name": "alertname", "labels": "labels",
                     "fingerprint": "fingerprint", "silent_for": "silent_for", "for": "silent_for",
                     "interval": "interval", "every": "interval", "source": "source"},
    "http": {"url": "url", "status": "status", "body": "body", "within": "within", "latency_below": "within",
             "times": "times", "interval": "interval", "every": "interval"},
    "manual": {},
}
FLAGS = {"prometheus": {"nonempty", "empty"}, "alert_rule": {"fired"}}
EXAMPLES = {
    "prometheus": "prometheus expr=`rate(http_errors_total[5m])` below=0.01 holds_for=24h interval=1m",
    "alert_rule": "alert_rule name=CheckoutLatencyHigh fired=yes",
    "alert_silent": "alert_silent silent_for=7d",
    "http": "http url=https://status.example.com/healthz status=200 times=5 interval=1m",
    "manual": "manual",
}
_TOKEN = re.compile(r"""\s*(?:([A-Za-z_][\w-]*)\s*=\s*(`[^`]*`|"(?:[^"\\]|\\.)*"|'[^']*'|\S+)|(\S+))""")
_LABEL = re.compile(r"""\s*([A-Za-z_]\w*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(,|$)""")
_TRUE, _FALSE = {"yes", "true", "on", "1"}, {"no", "false", "off", "0"}


class CheckSyntaxError(ValueError):
    """A check that cannot be read; the message names the key and says what to write."""


@dataclass(frozen=True)
class _Pair:
    key: str | None
    value: str


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "`'\"":
        inner = value[1:-1]
        return inner.replace('\\"', '"') if value[0] == '"' else inner
    return value


def _pairs(text: str) -> list[_Pair]:
    pairs: list[_Pair] = []
    pos = 0
    while pos < len(text):
        if not text[pos:].strip():
            break
        match = _TOKEN.match(text, pos)
        if match is None:  # an opening quote without its closing one
            raise CheckSyntaxError(f"cannot read {text[pos:].strip()!r}: close the quote or backtick")
        key, value, word = match.groups()
        if key is not None and value[:1] in "`'\"" and (len(value) < 2 or value[-1] != value[0]):
            raise CheckSyntaxError(f"{key}: the value starting {value[:20]!r} has no closing {value[0]}")
        pairs.append(_Pair(key.lower() if key else None, _unquote(value) if key else word))
        pos = match.end()
    return pairs


def _duration(key: str, value: str) -> timedelta:
    try:
        parsed: timedelta = parse_wall_duration(value)
        return parsed
    except ValueError as err:
        hint = " (write milliseconds as seconds, e.g. 0.3s)" if value.strip().lower().endswith("ms") else ""
        raise CheckSyntaxError(f"{key}: {err}{hint}") from None


def _number(key: str, value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise CheckSyntaxError(f"{key}: {value!r} is not a number, e.g. {key}=0.8") from None


def _integer(key: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise CheckSyntaxError(f"{key}: {value!r} is not a whole number, e.g. {key}=5") from None


def _bool(key: str, value: str) -> bool:
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise CheckSyntaxError(f"{key}: write yes or no, not {value!r}")


def parse_labels(key: str, value: str) -> dict[str, str]:
    """`{severity="page", team="payments"}` (PromQL's matcher syntax, equality only)."""
    body = value.strip()
    if body.startswith("{") and body.endswith("}"):
        body = body[1:-1]
    labels: dict[str, str] = {}
    pos = 0
    while pos < len(body) and body[pos:].strip():
        match = _LABEL.match(body, pos)
        if match is None:
            raise CheckSyntaxError(f'{key}: write the labels as {{name="value", other="value"}}, not {value!r}')
        labels[match.group(1)] = match.group(2).replace('\\"', '"')
        pos = match.end()
    return labels


def _check_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CheckSyntaxError(f"url: {value!r} is not an http(s) URL with a host, e.g. https://status.example.com/")
    if parts.username is not None or parts.password is not None:
        raise CheckSyntaxError("url: credentials are never written into a check's URL")
    return value


def parse_check(text: str) -> FixCheck:
    """Read one check line; raise CheckSyntaxError with what to fix."""
    source = text.strip()
    if not source:
        raise CheckSyntaxError("the check is empty: write a kind first, e.g. " + EXAMPLES["prometheus"])
    head, _, rest = source.partition(" ")
    kind = head.rstrip(":").strip().lower()
    if ":" in head and not head.endswith(":"):  # "prometheus:expr=..." without a space
        kind, _, first = head.partition(":")
        rest = f"{first} {rest}"
        kind = kind.lower()
    kind = KIND_ALIASES.get(kind, kind)
    if kind not in KINDS:
        raise CheckSyntaxError(f"unknown check kind {head!r}: use one of {', '.join(KINDS)}")
    keys = KEYS[kind]
    fields: dict[str, Any] = {}
    for pair in _pairs(rest):
        if pair.key is None:
            word = pair.value.lower()
            if word in FLAGS.get(kind, set()):
                if word == "fired":
                    fields["fired"] = True
                else:
                    _set(fields, "condition", word, kind)
                continue
            raise CheckSyntaxError(
                f"{kind}: cannot read {pair.value!r}; write key=value pairs, e.g. {EXAMPLES[kind]}"
            )
        name = keys.get(pair.key)
        if name is None:
            allowed = ", ".join(sorted({*keys.values()}, key=list(keys.values()).index)) or "none"
            raise CheckSyntaxError(f"{kind}: unknown key {pair.key!r}; its keys are: {allowed}")
        _read(fields, kind, name, pair.value)
    try:
        return _build(kind, fields)
    except ValidationError as err:
        detail = err.errors()[0]
        where = ".".join(str(part) for part in detail["loc"])
        message = detail["msg"].removeprefix("Value error, ")
        raise CheckSyntaxError(f"{kind}: {where + ': ' if where else ''}{message}; e.g. {EXAMPLES[kind]}") from None


def _set(fields: dict[str, Any], name: str, value: Any, kind: str) -> None:
    if name in fields and fields[name] != value:
        raise CheckSyntaxError(f"{kind}: {name} is given twice")
    fields[name] = value


def _read(fields: dict[str, Any], kind: str, name: str, value: str) -> None:
    if name in ("above", "below"):
        _set(fields, "condition", name, kind)
        _set(fields, "threshold", _number(name, value), kind)
    elif name in ("holds_for", "interval", "silent_for", "within"):
        _set(fields, name, _duration(name, value), kind)
    elif name in ("status", "times"):
        _set(fields, name, _integer(name, value), kind)
    elif name == "fired":
        _set(fields, name, _bool(name, value), kind)
    elif name == "labels":
        _set(fields, name, parse_labels(name, value), kind)
    elif name == "url":
        _set(fields, name, _check_url(value), kind)
    elif name == "body":
        try:
            re.compile(value)
        except re.error as err:
            raise CheckSyntaxError(f"body: {value!r} is not a regular expression ({err})") from None
        _set(fields, name, value, kind)
    elif name == "source":
        if value not in ("prometheus", "alertmanager"):
            raise CheckSyntaxError(f"source: write prometheus or alertmanager, not {value!r}")
        _set(fields, name, value, kind)
    else:
        _set(fields, name, value, kind)


def _build(kind: str, fields: dict[str, Any]) -> FixCheck:
    if kind == "prometheus":
        for required in ("expr", "holds_for"):
            if required not in fields:
                raise CheckSyntaxError(f"prometheus: {required} is missing; e.g. {EXAMPLES['prometheus']}")
        return PrometheusCheck(**fields)
    if kind == "alert_rule":
        if "name" not in fields:
            raise CheckSyntaxError(f"alert_rule: name is missing; e.g. {EXAMPLES['alert_rule']}")
        return AlertRuleCheck(**fields)
    if kind == "alert_silent":
        if "silent_for" not in fields:
            raise CheckSyntaxError(f"alert_silent: silent_for is missing; e.g. {EXAMPLES['alert_silent']}")
        return AlertSilentCheck(**fields)
    if kind == "http":
        if "url" not in fields:
            raise CheckSyntaxError(f"http: url is missing; e.g. {EXAMPLES['http']}")
        return HttpCheck(**fields)
    return ManualCheck()


def _quote(value: str, code: bool = False) -> str:
    if value and not code and not re.search(r"\s|[`'\"=]", value):
        return value
    return f"`{value}`" if "`" not in value else '"' + value.replace('"', '\\"') + '"'


def _duration_text(value: timedelta) -> str:
    seconds = value.total_seconds()
    return format_timedelta(value) if seconds == int(seconds) else f"{seconds:g}s"


def format_check(check: FixCheck) -> str:
    """The line `parse_check` reads back as the same check (for the document and the CLI)."""
    parts: list[str] = [check.kind]
    if isinstance(check, PrometheusCheck):
        parts.append(f"expr={_quote(check.expr, code=True)}")  # PromQL reads as code in Markdown
        if check.condition in ("above", "below"):
            parts.append(f"{check.condition}={check.threshold:g}")
        elif check.condition == "empty":
            parts.append("empty")
        parts += [f"holds_for={_duration_text(check.holds_for)}", f"interval={_duration_text(check.interval)}"]
    elif isinstance(check, AlertRuleCheck):
        parts.append(f"name={_quote(check.name)}")
        if check.expr:
            parts.append(f"expr={_quote(check.expr)}")
        if check.labels:
            parts.append("labels=" + _quote(_labels_text(check.labels)))
        if check.fired:
            parts.append("fired=yes")
        parts.append(f"interval={_duration_text(check.interval)}")
        if check.source != "prometheus":
            parts.append(f"source={check.source}")
    elif isinstance(check, AlertSilentCheck):
        if check.alertname:
            parts.append(f"alertname={_quote(check.alertname)}")
        if check.labels:
            parts.append("labels=" + _quote(_labels_text(check.labels)))
        if check.fingerprint:
            parts.append(f"fingerprint={check.fingerprint}")
        parts += [f"silent_for={_duration_text(check.silent_for)}", f"interval={_duration_text(check.interval)}"]
        if check.source != "prometheus":
            parts.append(f"source={check.source}")
    elif isinstance(check, HttpCheck):
        parts.append(f"url={_quote(check.url)}")
        if check.status != 200:
            parts.append(f"status={check.status}")
        if check.body is not None:
            parts.append(f"body={_quote(check.body)}")
        if check.within is not None:
            parts.append(f"within={_duration_text(check.within)}")
        parts += [f"times={check.times}", f"interval={_duration_text(check.interval)}"]
    return " ".join(parts)


def _labels_text(labels: dict[str, str]) -> str:
    inner = ", ".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
    return "{" + inner + "}"


def _escape(value: str) -> str:
    return value.replace('"', '\\"')
