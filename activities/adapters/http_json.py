"""A generic HTTP JSON log source: any backend that answers a GET with a list of records.

The URL is a template filled with the window ({start}, {end} as RFC 3339 in UTC, {start_unix},
{end_unix}) and the service; the answer is stored as received. `records_path` (dotted, e.g.
"data.result") finds the records, `time_field` and `message_field` the parts the timeline needs.
Elasticsearch/OpenSearch `_search` (records `hits.hits`), VictoriaLogs and in-house APIs fit this
shape; a record may also be a list (e.g. Loki's `[ts, line]` pairs: fields "0" and "1").
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import quote

from afterword.activities.adapters import http
from afterword.activities.adapters.base import Collected, Event, SourceRejected, SourceUnavailable, Window
from afterword.activities.adapters.logs import collapse, field_time
from afterword.policies.evidence_schema import DEFAULT_PATTERN
from afterword.workflows.models import Incident

KIND = "http-json-logs"


def dig(body: Any, path: str) -> Any:
    """Follow a dotted path through dicts (and list indexes); missing parts give None."""
    current = body
    for part in [p for p in path.split(".") if p]:
        if isinstance(current, dict):
            current = current.get(part)
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return None
    return current


class HttpJsonLogSource:
    kind = KIND

    def __init__(
        self,
        name: str,
        url: str,
        *,
        records_path: str = "",
        time_field: str = "timestamp",
        message_field: str = "message",
        headers: dict[str, str] | None = None,
        token_env: str | None = None,
        timeline_pattern: str = DEFAULT_PATTERN,
        timeout: float = 15.0,
    ) -> None:
        self._name = f"http-json:{name}"
        self.url = url
        self.records_path = records_path
        self.time_field = time_field
        self.message_field = message_field
        self.headers = headers or {}
        self.token_env = token_env
        self.timeline_pattern = timeline_pattern
        self.timeout = timeout

    @property
    def name(self) -> str:
        return self._name

    @property
    def target(self) -> str:
        return self.url

    @property
    def instrument_hint(self) -> str:
        return f"instrument this: make the log backend behind {self.url.split('?')[0]} reachable from the worker"

    def render_url(self, incident: Incident, window: Window) -> str:
        values = {
            "start": quote(window.start.strftime("%Y-%m-%dT%H:%M:%S.%fZ")),
            "end": quote(window.end.strftime("%Y-%m-%dT%H:%M:%S.%fZ")),
            "start_unix": f"{window.start.timestamp():.3f}",
            "end_unix": f"{window.end.timestamp():.3f}",
            "service": quote(incident.service),
        }
        try:
            return self.url.format(**values)
        except (KeyError, IndexError, ValueError) as exc:
            raise SourceRejected(f"URL template {self.url!r} has an unknown placeholder: {exc}") from None

    async def collect(self, incident: Incident, window: Window) -> list[Collected]:
        url = self.render_url(incident, window)
        headers = http.bearer_headers(self.token_env, self.headers)
        response = await http.get(url, headers=headers, seconds=self.timeout)
        try:
            body = response.json()
        except ValueError:
            raise SourceUnavailable(f"{url}: answer is not JSON") from None
        records = dig(body, self.records_path)
        if not isinstance(records, list):
            raise SourceRejected(f"{url}: no list of records at {self.records_path or 'the top level'!r}")
        return [
            Collected(
                name="records.json",
                target=url,
                media_type="application/json",
                data=response.content,
                window=window,
                note=f"{len(records)} records",
                meta={
                    "records_path": self.records_path,
                    "time_field": self.time_field,
                    "message_field": self.message_field,
                    "timeline_pattern": self.timeline_pattern,
                },
            )
        ]


def _entries(records: list[Any], time_field: str, message_field: str) -> Iterator[tuple[datetime, str]]:
    for record in records:
        if not isinstance(record, (dict, list)):
            continue
        at = field_time(dig(record, time_field))
        message = dig(record, message_field)
        if at is not None and message is not None:
            yield at, str(message)


def http_json_events(data: bytes, meta: dict[str, str]) -> list[Event]:
    try:
        body = json.loads(data)
    except ValueError:
        return []
    records = dig(body, meta.get("records_path", ""))
    if not isinstance(records, list):
        return []
    entries = _entries(records, meta.get("time_field", "timestamp"), meta.get("message_field", "message"))
    # the same key space as log files: one message seen in a file and in the backend is one event
    return collapse(entries, meta.get("timeline_pattern", DEFAULT_PATTERN), "log")
