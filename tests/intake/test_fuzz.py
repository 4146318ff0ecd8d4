"""Fuzz: every source, over HTTP, gets arbitrary bytes and JSON, and its own realistic payloads with a part
replaced by huge numbers, extreme or malformed dates, deep nesting, huge or hostile strings, odd label
names, or re-encoded (UTF-16, a byte order mark, surrogates). Whatever arrives:

- the answer is never a 5xx (bad input is the sender's to fix; a 5xx makes senders retry forever);
- nothing starts from a body the source's format forbids (checked by `forbidden` below, written from the
  formats' own rules, not from the intake's code);
- every text that reaches workflow history is within its cap (`over_caps`).

One intake serves all examples (a thread of its own), so a run costs a few seconds; the example counts
keep it bounded.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from afterword.intake.configuration import IntakeConfig
from afterword.intake.server import build_app, run_app
from afterword.settings import Settings

from .fakes import FakePolicies, FakeStarter, example_json, over_caps, recent_pagerduty

EXAMPLES: dict[str, list[dict[str, Any]]] = {
    "alertmanager": [example_json(f"alertmanager-{n}.json") for n in ("firing", "grouped", "resolved", "truncated")],
    "grafana": [example_json(f"grafana-{n}.json") for n in ("firing", "resolved")],
    "pagerduty": [recent_pagerduty(n) for n in ("triggered", "acknowledged", "resolved", "reopened")],
    "opsgenie": [example_json(f"opsgenie-{n}.json") for n in ("create", "close")],
    "generic": [example_json(f"generic-{n}.json") for n in ("firing", "resolved")],
}
# where each format has its times, and its maps of names (labels, annotations, details); "*" is any index
TIMES: dict[str, list[tuple[str | int, ...]]] = {
    "alertmanager": [("alerts", "*", "startsAt"), ("alerts", "*", "endsAt")],
    "grafana": [("alerts", "*", "startsAt"), ("alerts", "*", "endsAt")],
    "pagerduty": [("event", "occurred_at"), ("event", "data", "created_at")],
    "opsgenie": [("alert", "createdAt"), ("alert", "updatedAt")],
    "generic": [("started_at",), ("resolved_at",)],
}
NAME_MAPS: dict[str, list[tuple[str | int, ...]]] = {
    "alertmanager": [("groupLabels",), ("commonLabels",), ("commonAnnotations",), ("alerts", "*", "labels"),
                     ("alerts", "*", "annotations")],
    "pagerduty": [],
    "opsgenie": [("alert", "details")],
    "generic": [("labels",), ("annotations",)],
}
NAME_MAPS["grafana"] = NAME_MAPS["alertmanager"]
# what makes a delivery one of a new incident (and, for PagerDuty, a new event)
KEYS: dict[str, list[tuple[str | int, ...]]] = {
    "alertmanager": [("groupKey",)],
    "grafana": [("groupKey",)],
    "pagerduty": [("event", "id"), ("event", "data", "id")],
    "opsgenie": [("alert", "alias")],
    "generic": [("key",)],
}
SOURCES = sorted(EXAMPLES)
JSON = {"Content-Type": "application/json"}

# ------------------------------------------------------------------ what the formats forbid

RFC3339 = re.compile(r"\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)")
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)


def found(data: Any, path: tuple[str | int, ...]) -> Iterator[Any]:
    if not path:
        yield data
        return
    step, rest = path[0], path[1:]
    if step == "*" and isinstance(data, list):
        for item in data:
            yield from found(item, rest)
    elif isinstance(data, dict) and step in data:
        yield from found(data[step], rest)


def plausible_time(value: Any, *, go_zero_allowed: bool, now: datetime) -> bool:
    if not isinstance(value, str) or not RFC3339.fullmatch(value):
        return False
    if go_zero_allowed and value in ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00+00:00"):
        return True
    try:
        moment = datetime.fromisoformat(value.upper().replace("Z", "+00:00")).astimezone(UTC)
    except (ValueError, OverflowError):
        return False
    return EARLIEST <= moment <= now + timedelta(days=1)


def plausible_epoch(value: Any, now: datetime) -> bool:
    if value is None or value == 0:
        return True
    if type(value) is not int or value < 0:
        return False
    moment = datetime.fromtimestamp(value / 1e9 if value > 10**14 else value / 1e3, tz=UTC)
    return EARLIEST <= moment <= now + timedelta(days=1)


def good_name(name: str) -> bool:
    return bool(name) and name == name.strip() and all(c.isprintable() for c in name)


def not_a_number(constant: str) -> Any:
    raise ValueError(f"{constant} is not a JSON number")


def forbidden(source: str, body: bytes, now: datetime) -> str | None:
    """Why `source`'s format does not allow `body`, or None. JSON over HTTP is UTF-8 without a byte order
    mark and without lone surrogates (RFC 8259), with numbers a reader can hold; times are RFC 3339 with a
    zone (Opsgenie's: epoch integers), and an incident has none before 2000 or more than a day ahead."""
    if body.startswith(b"\xef\xbb\xbf"):
        return "byte order mark"
    try:
        text = body.decode("utf-8")
        data = json.loads(text, parse_constant=not_a_number)
        json.dumps(data, ensure_ascii=False, allow_nan=False).encode("utf-8")
    except (UnicodeError, ValueError, RecursionError) as exc:
        return f"not RFC 8259 JSON: {exc}"[:80]
    for path in TIMES[source]:
        for value in found(data, path):
            if value is None and path[-1] not in ("startsAt", "occurred_at"):
                continue
            ok = (
                plausible_epoch(value, now)
                if source == "opsgenie"
                else plausible_time(value, go_zero_allowed=path[-1] == "endsAt", now=now)
            )
            if not ok:
                return f"time {'.'.join(map(str, path))} = {str(value)[:40]!r}"
    for path in NAME_MAPS[source]:
        for names in found(data, path):
            if isinstance(names, dict) and not all(good_name(name) for name in names):
                return f"a name in {'.'.join(map(str, path))}"
    return None


# ------------------------------------------------------------------ what the fuzzer sends

RAW = "__raw_json__"
huge_numbers = st.sampled_from(
    ["9" * 5000, "-" + "9" * 4301, "1e999", "-1e999", "1" + "0" * 400, "123456789012345678901234567890", "NaN",
     "Infinity", "-0", "1.7976931348623157e308", "5e-324", "18446744073709551616"]
).map(lambda raw: (RAW, raw))
extreme_dates = st.sampled_from(
    ["0001-01-01T00:00:00Z", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "9999-12-31T23:59:59Z",
     "1999-12-31T23:59:59Z", "2000-01-01T00:00:00Z", "1970-01-01T00:00:00Z", "2026-02-30T00:00:00Z",
     "2026-11-20T24:00:00Z", "2026-11-20T14:02:60Z", "2026-11-20t14:02:11z", "2026-11-20T14:02:11.123456789Z",
     "2026-11-20T14:02:11", "2026-11-20", "2026-11-20 14:02:11Z", "2026-11-20T14:02:11+25:00", "yesterday", "",
     "1763647331", "1763647331.5", "  2026-11-20T14:02:11Z", "2207-01-01T00:00:00Z"]
) | st.sampled_from([1763647331, 1763716800123, 1763716800123000000, 0, -1, 10**20, 2**63, True, 1.5e12, None]) | (
    st.datetimes(datetime(1, 1, 2), datetime(9999, 12, 30), timezones=st.timezones() | st.just(UTC)).map(
        lambda d: d.isoformat())
) | st.integers(-3, 3).map(lambda days: (datetime.now(UTC) + timedelta(days=days)).isoformat())
deep_nesting = st.integers(10, 3000).map(lambda depth: (RAW, "[" * depth + "]" * depth)) | st.integers(10, 3000).map(
    lambda depth: (RAW, '{"a":' * depth + "1" + "}" * depth))
hostile_text = st.sampled_from(["\x00", "\n", "\r\n", "\x1b[2J", "\u2028", "\ud800", "\udfff", " ", "", "\ufeff", "…"])
huge_strings = st.builds(
    lambda unit, count: unit * count, st.sampled_from(["x", "é", "日", "🔥", "a\n", "\ud83d\ude00"]), st.integers(1, 120_000)
) | st.lists(hostile_text, min_size=1, max_size=5).map("".join)
odd_names = st.dictionaries(st.text(max_size=8) | hostile_text, st.text(max_size=8), min_size=1, max_size=4)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)
replacements = json_values | huge_numbers | extreme_dates | deep_nesting | huge_strings | odd_names


def replace(data: Any, path: list[int], value: Any) -> Any:
    """`data` with the value reached by following `path` (indices modulo each container's size) replaced."""
    if not path or not isinstance(data, dict | list) or not data:
        return value
    keys = list(data) if isinstance(data, dict) else list(range(len(data)))
    key = keys[path[0] % len(keys)]
    copy: Any = dict(data) if isinstance(data, dict) else list(data)
    copy[key] = replace(copy[key], path[1:], value)
    return copy


def replace_at(data: Any, path: tuple[str | int, ...], value: Any) -> Any:
    """`data` with the value at a format's named `path` ("*": the first) replaced, if it has one."""
    if not path:
        return value
    step = 0 if path[0] == "*" else path[0]
    if isinstance(data, list) and isinstance(step, int) and data:
        return [replace_at(data[0], path[1:], value), *data[1:]]
    if isinstance(data, dict) and isinstance(step, str):
        return data | {step: replace_at(data.get(step, {}), path[1:], value)}
    return data


def serialise(data: Any) -> bytes:
    raw: list[str] = []

    def default(value: Any) -> Any:
        raise TypeError(value)

    def unraw(value: Any) -> Any:  # a (RAW, text) pair is written as that text, unquoted
        if isinstance(value, tuple) and len(value) == 2 and value[0] == RAW:
            raw.append(value[1])
            return f"{RAW}{len(raw) - 1}"
        if isinstance(value, dict):
            return {k: unraw(v) for k, v in value.items()}
        if isinstance(value, list):
            return [unraw(v) for v in value]
        return value

    text = json.dumps(unraw(data), default=default, ensure_ascii=False)
    for index, chunk in enumerate(raw):
        text = text.replace(f'"{RAW}{index}"', chunk, 1)
    return text.encode("utf-8", errors="surrogatepass")


encodings = st.sampled_from(["utf-8", "utf-8", "utf-8", "utf-8", "utf-16", "utf-16-be", "utf-32", "bom", "escape"])


def encode(body: bytes, how: str) -> bytes:
    if how == "bom":
        return b"\xef\xbb\xbf" + body
    if how == "escape":  # a lone surrogate escape where a string starts
        return body.replace(b'": "', b'": "\\udc80', 1)
    if how == "utf-8":
        return body
    return body.decode("utf-8", errors="surrogatepass").encode(how, errors="surrogatepass")


def with_key(source: str, example: dict[str, Any], number: int) -> dict[str, Any]:
    for path in KEYS[source]:
        example = replace_at(example, path, f"fuzz-{number}")
    return example


def bodies(source: str) -> st.SearchStrategy[bytes]:
    # mostly new incidents, so that what passes is started (and checked), not only matched
    realistic = st.builds(with_key, st.just(source), st.sampled_from(EXAMPLES[source]), st.integers(0, 10**12))
    anywhere = st.builds(replace, realistic, st.lists(st.integers(0, 60), max_size=5), replacements)
    at_times = st.builds(replace_at, realistic, st.sampled_from(TIMES[source]), extreme_dates | huge_numbers)
    maps = NAME_MAPS[source] or [("event", "data", "title")]
    at_names = st.builds(replace_at, realistic, st.sampled_from(maps), odd_names | huge_strings)
    mutated = st.one_of(anywhere, at_times, at_names, realistic).map(serialise)
    return st.one_of(
        st.binary(max_size=400),
        json_values.map(serialise),
        st.builds(encode, mutated, encodings),
        mutated,
    )


# ------------------------------------------------------------------ one intake for every example


class Intake:
    def __init__(self, starter: FakeStarter, url: str) -> None:
        self.starter = starter
        self.url = url
        self.http = httpx.Client(timeout=30)


@pytest.fixture(scope="module")
def intake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Intake]:
    starter = FakeStarter()
    config = IntakeConfig(allow_unauthenticated=True, max_body_bytes=1024 * 1024)
    settings = Settings(data_dir=tmp_path_factory.mktemp("fuzz"))
    ready = threading.Event()
    stop: asyncio.Future[None] | None = None
    url = ""

    def serve() -> None:
        async def main() -> None:
            nonlocal stop, url
            stop = asyncio.get_running_loop().create_future()
            app: web.Application = build_app(starter, settings, FakePolicies(), config=config)
            async with run_app(app, "127.0.0.1", 0) as running:
                url = running.url
                ready.set()
                await stop

        asyncio.run(main())

    loop_thread = threading.Thread(target=serve, daemon=True)
    loop_thread.start()
    assert ready.wait(30)
    intake = Intake(starter, url)
    yield intake
    intake.http.close()
    assert stop is not None
    stop.get_loop().call_soon_threadsafe(stop.set_result, None)
    loop_thread.join(10)


FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.mark.parametrize("source", SOURCES)
@FUZZ
@given(data=st.data())
def test_no_body_gets_a_5xx_starts_what_its_format_forbids_or_puts_over_long_text_in_history(
    intake: Intake, source: str, data: st.DataObject
) -> None:
    body = data.draw(bodies(source), label="body")
    calls_before = len(intake.starter.calls)
    workflows_before = set(intake.starter.workflows)
    response = intake.http.post(
        f"{intake.url}/v1/alerts/{source}", content=body, headers=JSON
    )
    assert response.status_code < 500, response.text
    assert response.status_code in (202, 400, 413), response.text
    if response.status_code == 400:
        assert response.json()["reason"]
    started = set(intake.starter.workflows) - workflows_before
    if intake.starter.calls[calls_before:]:  # a start, a resolve or a reopen reached Temporal
        reason = forbidden(source, body, datetime.now(UTC))
        assert reason is None, f"Temporal was called for a body the format forbids: {reason}"
    for workflow_id in started:
        incident = intake.starter.workflows[workflow_id]["incident"]
        assert over_caps(incident) == [], workflow_id


@FUZZ
@given(body=st.one_of(
    st.binary(max_size=200),
    st.builds(lambda at, text: serialise({"service": "checkout", "at": at, "description": text}),
              extreme_dates | huge_numbers | deep_nesting, st.text(max_size=50) | hostile_text),
))
def test_no_deploy_event_gets_a_5xx(intake: Intake, body: bytes) -> None:
    response = intake.http.post(f"{intake.url}/v1/deploys", content=body, headers=JSON)
    assert response.status_code in (202, 400, 413), response.text


def test_the_oracle_tells_allowed_from_forbidden() -> None:
    """`forbidden` itself: the examples pass, and each kind of forbidden body is named."""
    now = datetime.now(UTC)
    for source, examples in EXAMPLES.items():
        for example in examples:
            assert forbidden(source, serialise(example), now) is None, source
    firing = EXAMPLES["alertmanager"][0]
    assert forbidden("alertmanager", serialise(replace_at(firing, ("alerts", "*", "startsAt"), 1763647331)), now)
    assert forbidden("alertmanager", serialise(replace_at(firing, ("commonLabels",), {" ": "x"})), now)
    assert forbidden("alertmanager", encode(serialise(firing), "utf-16"), now)
    assert forbidden("alertmanager", encode(serialise(firing), "escape"), now)
    assert forbidden("opsgenie", serialise(replace_at(EXAMPLES["opsgenie"][0], ("alert", "createdAt"), 10**20)), now)


def test_the_fuzzer_reaches_starts_as_well_as_refusals(intake: Intake) -> None:
    """A fuzzer that only ever produced 400s would prove nothing about what starts: every source's
    strategy must produce bodies that start postmortems."""
    statuses: dict[str, list[int]] = {source: [] for source in SOURCES}

    @settings(max_examples=300, deadline=None, database=None, derandomize=True)  # the same bodies every run
    @given(source=st.sampled_from(SOURCES), data=st.data())
    def probe(source: str, data: st.DataObject) -> None:
        body = data.draw(bodies(source))
        answer = intake.http.post(f"{intake.url}/v1/alerts/{source}", content=body, headers=JSON)
        statuses[source].append(answer.status_code)

    probe()
    assert all({202, 400} <= set(seen) for seen in statuses.values()), statuses
