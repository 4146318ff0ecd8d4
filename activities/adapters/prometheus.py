"""Prometheus range queries over the capture window, through the real HTTP API (`/api/v1/query_range`).

Each expression is its own source (its own retries, its own gap), stored as the API's raw JSON
answer; the query, step and window are sealed alongside it in the manifest. Timeline events are
read back from the matrix: when the alert's own expression started and stopped returning series,
and when a policy query with an `above` threshold crossed it.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from afterword.activities.adapters import http
from afterword.activities.adapters.base import Collected, Event, SourceRejected, SourceUnavailable, Window
from afterword.workflows.models import Incident

KIND = "prometheus-range"
MAX_POINTS = 11_000  # Prometheus refuses a range query with more points per series
MAX_SERIES_EVENTS = 20


def default_step(window: Window) -> timedelta:
    seconds = (window.end - window.start).total_seconds()
    return timedelta(seconds=max(1.0, round(seconds / 1000.0)))


class PrometheusRangeSource:
    """One PromQL expression against one Prometheus."""

    kind = KIND

    def __init__(
        self,
        base_url: str,
        expr: str,
        *,
        role: str,
        label: str | None = None,
        above: float | None = None,
        step: timedelta | None = None,
        timeout: float = 15.0,
        token_env: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.expr = expr
        self.role = role
        self.above = above
        self.step = step
        self.timeout = timeout
        self.token_env = token_env
        digest = hashlib.sha256(f"{self.base_url}\n{expr}".encode()).hexdigest()[:10]
        self._name = f"prometheus:{label or role}-{digest}"

    @property
    def name(self) -> str:
        return self._name

    @property
    def target(self) -> str:
        return f"{self.base_url} {self.expr}"

    @property
    def instrument_hint(self) -> str:
        if self.role == "alert":
            return (
                f"instrument this: make the Prometheus that evaluates the alert ({self.base_url}) reachable "
                "from the worker, or set [evidence.prometheus] url"
            )
        return f"instrument this: check that {self.base_url} is reachable and serves `{self.expr}`"

    async def collect(self, incident: Incident, window: Window) -> list[Collected]:
        step = self.step or default_step(window)
        span = (window.end - window.start).total_seconds()
        if span / step.total_seconds() > MAX_POINTS:
            step = timedelta(seconds=span / MAX_POINTS + 1)
        params = {
            "query": self.expr,
            "start": f"{window.start.timestamp():.3f}",
            "end": f"{window.end.timestamp():.3f}",
            "step": f"{step.total_seconds():g}s",
        }
        headers = http.bearer_headers(self.token_env)
        response = await http.get(
            f"{self.base_url}/api/v1/query_range", params=params, headers=headers, seconds=self.timeout
        )
        try:
            body = response.json()
        except ValueError:
            raise SourceUnavailable(f"{self.base_url}: answer is not JSON (is this a Prometheus?)") from None
        if not isinstance(body, dict) or body.get("status") != "success":
            error = body.get("error") if isinstance(body, dict) else None
            raise SourceRejected(f"{self.base_url}: query refused: {error or 'unexpected answer'}")
        meta = {
            "expr": self.expr,
            "role": self.role,
            "step": f"{step.total_seconds():g}",
            "start": f"{window.start.timestamp():.3f}",
            "end": f"{window.end.timestamp():.3f}",
        }
        if self.above is not None:
            meta["above"] = repr(self.above)
        return [
            Collected(
                name="query_range.json",
                target=self.target,
                media_type="application/json",
                data=response.content,
                window=window,
                meta=meta,
            )
        ]


def _labels(metric: dict[str, Any]) -> str:
    name = metric.get("__name__", "")
    rest = ", ".join(f'{k}="{v}"' for k, v in sorted(metric.items()) if k != "__name__")
    return f"{name}{{{rest}}}" if rest or not name else str(name)


def _at(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


def _runs(samples: list[tuple[float, float]], step: float) -> list[tuple[float, float]]:
    """Spans where a series has samples; a gap longer than two steps ends a span."""
    runs: list[tuple[float, float]] = []
    for ts, _ in samples:
        if runs and ts - runs[-1][1] <= 2 * step + 0.001:
            runs[-1] = (runs[-1][0], ts)
        else:
            runs.append((ts, ts))
    return runs


def range_events(data: bytes, meta: dict[str, str]) -> list[Event]:
    try:
        body = json.loads(data)
        result = body["data"]["result"]
    except (ValueError, KeyError, TypeError):
        return []
    expr = meta.get("expr", "?")
    step = float(meta.get("step", "1"))
    window_start = float(meta.get("start", "0"))
    window_end = float(meta.get("end", "inf"))
    events: list[Event] = []
    for series in result if isinstance(result, list) else []:
        metric = series.get("metric", {}) if isinstance(series, dict) else {}
        values = series.get("values", []) if isinstance(series, dict) else []
        try:
            samples = [(float(ts), float(v)) for ts, v in values]
        except (TypeError, ValueError):
            continue
        labels = _labels(metric)
        if meta.get("role") == "alert":
            events.extend(_alert_runs(expr, labels, samples, step, window_start, window_end))
        if "above" in meta:
            events.extend(_crossings(expr, labels, samples, float(meta["above"])))
    return events


def _alert_runs(
    expr: str, labels: str, samples: list[tuple[float, float]], step: float, start: float, end: float
) -> list[Event]:
    events: list[Event] = []
    for first, last in _runs(samples, step)[:MAX_SERIES_EVENTS]:
        if first - start > step:  # already true when the window opened: its start is not in view
            events.append(
                Event(
                    at=_at(first), text=f"Alert expression `{expr}` true for {labels}", key=f"prom:{expr}:{labels}:up"
                )
            )
        if end - last > 2 * step:  # still true at the end of the window is not an end
            events.append(
                Event(
                    at=_at(last),
                    text=f"Alert expression `{expr}` last true for {labels}",
                    key=f"prom:{expr}:{labels}:down",
                )
            )
    return events


def _crossings(expr: str, labels: str, samples: list[tuple[float, float]], threshold: float) -> list[Event]:
    events: list[Event] = []
    above = False
    for ts, value in samples:
        if not above and value > threshold:
            above = True
            events.append(
                Event(
                    at=_at(ts),
                    text=f"`{expr}` {labels} rose above {threshold:g} ({value:g})",
                    key=f"prom:{expr}:{labels}:above",
                )
            )
        elif above and value <= threshold:
            above = False
            events.append(
                Event(
                    at=_at(ts),
                    text=f"`{expr}` {labels} back at or below {threshold:g} ({value:g})",
                    key=f"prom:{expr}:{labels}:below",
                )
            )
        if len(events) >= MAX_SERIES_EVENTS:
            break
    return events
