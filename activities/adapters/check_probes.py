"""The servers an automatic check asks: Prometheus (query_range, rules, the expression parser),
Alertmanager (API v2 alerts) and an HTTP probe limited to the hosts the policy allows.

Each returns the raw answer with what it read from it, so the caller can store the answer as evidence
exactly as the server gave it. Failures follow the evidence sources' rule (adapters/http.py):
`SourceUnavailable` for what a retry may fix (connection refused, timeouts, 5xx, 429), `SourceRejected`
for what it cannot (a query Prometheus refuses, a 4xx).
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from afterword.activities.adapters import http
from afterword.activities.adapters.base import SourceRejected, SourceUnavailable

MAX_POINTS = 11_000  # Prometheus refuses a range query with more points per series


@dataclass(frozen=True)
class Answer:
    """One server answer: the bytes as received, and the JSON read from them."""

    raw: bytes
    body: Any
    url: str


def _json(response: httpx.Response, what: str) -> Any:
    try:
        return response.json()
    except ValueError:
        raise SourceUnavailable(f"{what}: the answer is not JSON (is this the right server?)") from None


def _auth(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


class PrometheusApi:
    """The parts of Prometheus's HTTP API a check uses."""

    def __init__(self, base_url: str, *, token: str | None = None, timeout: float = 15.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    async def _get(self, path: str, params: dict[str, str]) -> Answer:
        url = f"{self.base_url}{path}"
        try:
            response = await http.get(url, params=params, headers=_auth(self.token), seconds=self.timeout)
        except SourceRejected as err:
            raise SourceRejected(_prometheus_error(str(err))) from None
        body = _json(response, self.base_url)
        if not isinstance(body, dict) or body.get("status") != "success":
            error = body.get("error") if isinstance(body, dict) else None
            raise SourceRejected(f"Prometheus refused the query: {error or 'unexpected answer'}")
        return Answer(response.content, body, url)

    async def query_range(self, expr: str, start: datetime, end: datetime, step: timedelta) -> Answer:
        points = (end - start) / step + 1
        if points > MAX_POINTS:
            raise SourceRejected(f"a range of {points:.0f} points is more than Prometheus answers ({MAX_POINTS})")
        return await self._get(
            "/api/v1/query_range",
            {"query": expr, "start": f"{start.timestamp():.3f}", "end": f"{end.timestamp():.3f}",
             "step": f"{step.total_seconds():g}s"},
        )

    async def alerting_rules(self) -> Answer:
        return await self._get("/api/v1/rules", {"type": "alert"})

    async def parse_problem(self, expr: str) -> str | None:
        """What Prometheus's own parser says is wrong with `expr` (None: it parses). Newer servers have
        /api/v1/parse_query; older ones /api/v1/format_query, which parses too; without either, the
        `promtool` this machine has (the same parser, offline)."""
        for path in ("/api/v1/parse_query", "/api/v1/format_query"):
            try:
                await self._get(path, {"query": expr})
                return None
            except SourceRejected as err:
                text = str(err)
                if "HTTP 404" in text:
                    continue  # this release does not have the endpoint
                return text.removeprefix("Prometheus refused the query: ")
        return await promtool_problem(expr)


def _prometheus_error(text: str) -> str:
    """`{url}: HTTP 400 {"status":"error",...,"error":"..."}` -> the error Prometheus gave."""
    start = text.find("{")
    if start >= 0:
        try:
            body = json.loads(text[start:])
            if isinstance(body, dict) and body.get("error"):
                return f"Prometheus refused the query: {body['error']}"
        except ValueError:
            pass
    return text


async def promtool_problem(expr: str) -> str | None:
    """Parse `expr` with promtool (`check rules` on a one-rule file); SourceUnavailable without promtool."""
    tool = shutil.which("promtool")
    if tool is None:
        raise SourceUnavailable("Prometheus has no parse endpoint and promtool is not installed on the worker")
    with tempfile.TemporaryDirectory() as work:
        rules = Path(work) / "check.yml"
        rules.write_text(json.dumps({"groups": [{"name": "check", "rules": [{"record": "check", "expr": expr}]}]}))
        process = await asyncio.create_subprocess_exec(
            tool, "check", "rules", str(rules), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        output, _ = await process.communicate()
    if process.returncode == 0:
        return None
    lines = [line.strip() for line in output.decode(errors="replace").splitlines() if "parse error" in line]
    return lines[0].split("expr: ", 1)[-1] if lines else output.decode(errors="replace").strip()[-300:]


class AlertmanagerApi:
    """Alertmanager's API v2: the alerts it holds now, filtered by label matchers."""

    def __init__(self, base_url: str, *, token: str | None = None, timeout: float = 15.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    async def active_alerts(self, matchers: dict[str, str]) -> Answer:
        url = f"{self.base_url}/api/v2/alerts"
        params: list[tuple[str, str | int | float | bool | None]] = [
            ("active", "true"), ("silenced", "false"), ("inhibited", "false")]
        params += [("filter", f'{name}="{_escape(value)}"') for name, value in sorted(matchers.items())]
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                response = await client.get(url, params=params, headers=_auth(self.token))
        except httpx.HTTPError as err:
            raise SourceUnavailable(f"{url}: {err or type(err).__name__}") from None
        if response.status_code == 429 or response.status_code >= 500:
            raise SourceUnavailable(f"{url}: HTTP {response.status_code}")
        if response.status_code >= 400:
            raise SourceRejected(f"Alertmanager refused the filter: HTTP {response.status_code} {response.text[:200]}")
        body = _json(response, self.base_url)
        if not isinstance(body, list):
            raise SourceUnavailable(f"{url}: expected a list of alerts")
        return Answer(response.content, body, url)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def selector(alertname: str | None, labels: dict[str, str], extra: dict[str, str] | None = None) -> str:
    """`ALERTS{alertname="X", k="v", alertstate="firing"}`."""
    matchers = dict(labels)
    if alertname is not None:
        matchers["alertname"] = alertname
    matchers.update(extra or {})
    inner = ", ".join(f'{k}="{_escape(v)}"' for k, v in sorted(matchers.items()))
    return f"ALERTS{{{inner}}}"


def host_allowed(url: str, allowed: Sequence[str]) -> bool:
    """Whether the URL's host is on the allow-list: exact names, or `*.example.com` for its subdomains."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    for entry in allowed:
        pattern = entry.lower().rstrip(".")
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]) and host != pattern[2:]:
                return True
        elif host == pattern:
            return True
    return False


@dataclass(frozen=True)
class ProbeResult:
    status: int | None
    seconds: float
    body_matched: bool | None
    error: str | None = None


async def probe(url: str, *, seconds: float, body_pattern: str | None) -> ProbeResult:
    """One GET, redirects not followed (a redirect could leave the allowed hosts): its status, time, match."""
    started = time.perf_counter()
    try:
        async with httpx.AsyncClient(timeout=seconds, follow_redirects=False, verify=http.tls_context()) as client:
            response = await client.get(url)
    except httpx.TimeoutException:
        return ProbeResult(None, time.perf_counter() - started, None, f"no answer within {seconds:g} s")
    except httpx.HTTPError as err:
        return ProbeResult(None, time.perf_counter() - started, None, str(err) or type(err).__name__)
    seconds = time.perf_counter() - started
    matched = None if body_pattern is None else re.search(body_pattern, response.text) is not None
    return ProbeResult(response.status_code, seconds, matched)
