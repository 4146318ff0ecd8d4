"""1,000 action items checking their fixes at once against one Prometheus: the grid-and-share sampling
the item workflows use, against a naive loop where every item polls on its own, in the same run.

    .venv/bin/python benchmarks/validation.py [--items 1000] [--distinct 50] [--interval 5] [--seconds 60]

Both sides watch the same checks (`--distinct` different PromQL expressions over a loopback exporter,
each watched by items/distinct items) with the same sampling interval, against the same real Prometheus
(the Debian package) for the same wall time:
- naive: each item wakes at its own phase every interval and asks an instant query (`/api/v1/query`);
- batched: each item wakes on the shared grid (workflows/fix_checks.wake_every: ~1/24 of the span, a
  multiple of the interval) and asks for the range since its last point, as the item workflow does;
  the worker's SharedAnswers makes identical questions one request (CheckSampler, the real activity code,
  storing each distinct answer in a content store).
Printed per item-hour: Prometheus queries (from Prometheus's own request counter), instants sampled,
CPU seconds of this process (the worker's side: HTTP, JSON, deciding, storing) and of Prometheus.
The Temporal side (a timer and an activity per wake) is not in these figures; its events per wake are
in docs/validation.md. Absolute CPU depends on the machine; compare the two sides of one run.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from afterword.activities.adapters.check_probes import PrometheusApi
from afterword.activities.fix_validation import CheckSampler, SharedAnswers, ValidationTargets, prometheus_points
from afterword.evidence.blobs import ContentStore
from afterword.runtime.dev_server import free_port
from afterword.workflows.fix_checks import (
    CheckProgress,
    PrometheusCheck,
    SampleBatch,
    SampleRequest,
    advance,
    grid_floor,
    wake_every,
)

LAG = timedelta(seconds=2)  # sample instants trail the clock so the scrape at that instant has landed


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def start_exporter(series: int) -> ThreadingHTTPServer:
    body = "".join(f'bench_latency_seconds{{service="svc{n}"}} {0.1 + n / 1000:.3f}\n' for n in range(series)).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def start_prometheus(work: Path, exporter_port: int) -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("prometheus") or "/usr/bin/prometheus"
    config = work / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: bench\n    static_configs:\n"
                      f"      - targets: ['127.0.0.1:{exporter_port}']\n")
    port = free_port()
    process = subprocess.Popen(
        [binary, f"--config.file={config}", f"--storage.tsdb.path={work / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            body = httpx.get(f"{url}/api/v1/query", params={"query": "count_over_time(bench_latency_seconds[10s])"},
                             timeout=1).json()
            if body["data"]["result"] and float(body["data"]["result"][0]["value"][1]) >= 5:
                return process, url
        except (httpx.HTTPError, KeyError, ValueError):
            pass
        if time.monotonic() > deadline:
            process.kill()
            raise SystemExit("prometheus did not start scraping within 30 s")
        time.sleep(0.25)


@dataclass
class PromCounters:
    queries: float
    cpu: float


def prometheus_counters(url: str) -> PromCounters:
    text = httpx.get(f"{url}/metrics", timeout=5).text
    queries = cpu = 0.0
    for line in text.splitlines():
        if line.startswith("prometheus_http_requests_total{") and (
                'handler="/api/v1/query"' in line or 'handler="/api/v1/query_range"' in line):
            queries += float(line.rsplit(" ", 1)[1])
        elif line.startswith("process_cpu_seconds_total "):
            cpu = float(line.rsplit(" ", 1)[1])
    return PromCounters(queries, cpu)


def checks(distinct: int, interval: timedelta, span: timedelta) -> list[PrometheusCheck]:
    return [PrometheusCheck(expr=f'max(bench_latency_seconds{{service="svc{n}"}})', condition="below",
                            threshold=0.8, holds_for=span, interval=interval) for n in range(distinct)]


async def naive(url: str, items: list[PrometheusCheck], seconds: float) -> int:
    """Every item polls on its own: an instant query each interval, at a phase of its own."""
    sampled = 0
    stop = time.monotonic() + seconds
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=100)) as client:

        async def item(check: PrometheusCheck) -> None:
            nonlocal sampled
            await asyncio.sleep(random.uniform(0, check.interval.total_seconds()))
            progress = CheckProgress(started_at=datetime.now(UTC), window_end=datetime.now(UTC) + timedelta(days=7))
            while time.monotonic() < stop:
                started = time.monotonic()
                at = datetime.now(UTC)
                body = (await client.get(f"{url}/api/v1/query", params={"query": check.expr})).json()
                matrix = {"data": {"result": [{"metric": r["metric"], "values": [[at.timestamp(), r["value"][1]]]}
                                              for r in body["data"]["result"]]}}
                points = prometheus_points(check, [at], matrix)
                progress = advance(progress, check, SampleBatch(points=points, query=check.expr, source=url,
                                                                asked_at=at))
                sampled += len(points)
                await asyncio.sleep(max(0.0, check.interval.total_seconds() - (time.monotonic() - started)))

        await asyncio.gather(*(item(c) for c in items))
    return sampled


async def batched(url: str, items: list[PrometheusCheck], seconds: float, store: ContentStore) -> \
        tuple[int, SharedAnswers]:
    """Every item wakes on the shared grid and asks for the range since its last instant."""
    shared = SharedAnswers()
    sampler = CheckSampler(store, lambda org: ValidationTargets(prometheus=PrometheusApi(url, timeout=30)), shared)
    sampled = 0
    stop = time.monotonic() + seconds

    async def item(n: int, check: PrometheusCheck) -> None:
        nonlocal sampled
        wake = wake_every(check)
        begun = datetime.now(UTC) - LAG
        progress = CheckProgress(started_at=begun, window_end=begun + timedelta(days=7),
                                 covered_until=grid_floor(begun, check.interval))
        while True:
            now = datetime.now(UTC)
            next_wake = grid_floor(now, wake) + wake + LAG
            pause = (next_wake - now).total_seconds()
            if time.monotonic() + pause > stop:
                return
            await asyncio.sleep(pause)
            assert progress.covered_until is not None
            end = grid_floor(datetime.now(UTC) - LAG, check.interval)
            req = SampleRequest(org="bench", postmortem_id="pm-bench", item_id=f"ai-{n}", check=check,
                                start=progress.covered_until + check.interval, end=end)
            batch = await sampler.sample("bench", req)
            progress = advance(progress, check, batch)
            sampled += len(batch.points)

    await asyncio.gather(*(item(n, c) for n, c in enumerate(items)))
    return sampled, shared


def report(name: str, items: int, seconds: float, queries: float, sampled: int, cpu: float, prom_cpu: float) -> None:
    item_hours = items * seconds / 3600
    print(f"{name:>8}: {queries / item_hours:10.1f} queries/item-h  {sampled / item_hours:8.0f} instants/item-h  "
          f"worker CPU {cpu / item_hours * 1000:8.1f} ms/item-h  Prometheus CPU {prom_cpu / item_hours * 1000:8.1f} "
          f"ms/item-h  ({queries:.0f} queries, {cpu:.2f} s + {prom_cpu:.2f} s CPU in {seconds:.0f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--distinct", type=int, default=50, help="different checks among the items")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between samples")
    parser.add_argument("--span", type=float, default=600.0, help="holds_for, seconds (sets the wake grid)")
    parser.add_argument("--seconds", type=float, default=60.0, help="wall time of each side")
    args = parser.parse_args()
    interval, span = timedelta(seconds=args.interval), timedelta(seconds=args.span)
    kinds = checks(args.distinct, interval, span)
    items = [kinds[n % len(kinds)] for n in range(args.items)]
    print(f"{args.items} items, {args.distinct} distinct checks, interval {args.interval:g} s, holds_for "
          f"{args.span:g} s (wake every {wake_every(kinds[0]).total_seconds():g} s), {args.seconds:g} s per side")
    exporter = start_exporter(args.distinct)
    with tempfile.TemporaryDirectory() as work:
        process, url = start_prometheus(Path(work), exporter.server_address[1])
        try:
            results = {}
            for name in ("naive", "batched"):
                before, cpu = prometheus_counters(url), cpu_seconds()
                shared: SharedAnswers | None = None
                if name == "naive":
                    sampled = asyncio.run(naive(url, items, args.seconds))
                else:
                    sampled, shared = asyncio.run(batched(url, items, args.seconds, ContentStore(Path(work) / "s")))
                after, used = prometheus_counters(url), cpu_seconds() - cpu
                results[name] = (after.queries - before.queries, sampled, used, after.cpu - before.cpu)
                report(name, args.items, args.seconds, *results[name])
                if shared is not None:
                    print(f"          the items asked {shared.asked} questions; the worker sent {shared.fetched}")
            naive_q, batched_q = results["naive"][0], max(results["batched"][0], 1)
            naive_cpu, batched_cpu = results["naive"][2], max(results["batched"][2], 1e-9)
            print(f"   ratio: {naive_q / batched_q:.0f}x fewer Prometheus queries, {naive_cpu / batched_cpu:.1f}x less "
                  "worker CPU, with every interval instant sampled (naive: only the instants it got to)")
        finally:
            process.terminate()
            process.wait(timeout=10)
            exporter.shutdown()


if __name__ == "__main__":
    main()
