"""Real parts for the fix checks: a loopback exporter whose gauges the test sets, the Debian Prometheus
scraping it every second with an alerting rule file, and the Debian Alertmanager that Prometheus sends
its alerts to. Prometheus can be restarted mid-test (same storage, same port)."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from afterword.runtime.dev_server import free_port

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
ALERTMANAGER = shutil.which("prometheus-alertmanager") or "/usr/bin/prometheus-alertmanager"

# The rule a "latency alert" action item adds: fires while checkout's p99 stand-in is above 0.8 s.
RULES = """groups:
  - name: checkout
    interval: 1s
    rules:
      - alert: CheckoutLatencyHigh
        expr: checkout_latency_p99_seconds > 0.8
        labels:
          severity: page
          team: payments
        annotations:
          summary: checkout p99 latency above 800 ms
      - alert: CheckoutErrors
        expr: checkout_errors_ratio > 0.05
        labels:
          severity: page
"""


@dataclass
class Exporter:
    """Serves one gauge per entry of `values` (`name{service="checkout"} value`); `None` leaves it out."""

    port: int = 0
    values: dict[str, float | None] = field(default_factory=dict)
    server: ThreadingHTTPServer | None = field(default=None, repr=False)

    def set(self, **values: float | None) -> None:
        self.values.update(values)


@pytest.fixture(scope="module")
def exporter() -> Iterator[Exporter]:
    state = Exporter(values={"checkout_latency_p99_seconds": 0.3, "checkout_errors_ratio": 0.0})

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            lines = [f'{name}{{service="checkout"}} {value}' for name, value in sorted(state.values.items())
                     if value is not None]
            body = ("\n".join(lines) + "\n").encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    state.server = server
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path, path: str = "/-/ready") -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}{path}", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"{url} did not become ready: {log.read_text()[-2000:]}")
        time.sleep(0.1)


@dataclass
class Alertmanager:
    url: str


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Alertmanager]:
    if not Path(ALERTMANAGER).exists():
        pytest.skip("the Debian `prometheus-alertmanager` package is not installed")
    work = tmp_path_factory.mktemp("alertmanager")
    config = work / "alertmanager.yml"
    config.write_text("route:\n  receiver: nobody\n  group_wait: 1s\nreceivers:\n  - name: nobody\n")
    port, cluster = free_port(), free_port()
    command = [ALERTMANAGER, f"--config.file={config}", f"--storage.path={work / 'data'}",
               f"--web.listen-address=127.0.0.1:{port}", f"--cluster.listen-address=127.0.0.1:{cluster}",
               f"--cluster.advertise-address=127.0.0.1:{cluster}", "--log.level=warn"]
    log = work / "alertmanager.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_ready(url, process, log)
        yield Alertmanager(url)
    finally:
        process.terminate()
        process.wait(timeout=10)


@dataclass
class Prometheus:
    url: str
    command: list[str]
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(self.command, stdout=out, stderr=subprocess.STDOUT)
        _wait_ready(self.url, self.process, self.log)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None


@pytest.fixture(scope="module")
def prometheus(exporter: Exporter, alertmanager: Alertmanager,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    if not Path(PROMETHEUS).exists():
        pytest.skip("the Debian `prometheus` package is not installed (apt-get install prometheus)")
    work = tmp_path_factory.mktemp("prometheus")
    rules = work / "rules.yml"
    rules.write_text(RULES)
    config = work / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        f"rule_files: ['{rules}']\n"
        "alerting:\n  alertmanagers:\n    - static_configs:\n"
        f"        - targets: ['{alertmanager.url.removeprefix('http://')}']\n"
        "scrape_configs:\n  - job_name: checkout\n    static_configs:\n"
        f"      - targets: ['127.0.0.1:{exporter.port}']\n"
    )
    port = free_port()
    server = Prometheus(
        url=f"http://127.0.0.1:{port}",
        command=[PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={work / 'data'}",
                 f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
        log=work / "prometheus.log",
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def wait_for(predicate_query: str, url: str, *, present: bool = True, within: float = 30) -> None:
    """Until Prometheus's instant answer to the query is (or is no longer) non-empty."""
    deadline = time.monotonic() + within
    while True:
        body = httpx.get(f"{url}/api/v1/query", params={"query": predicate_query}, timeout=5).json()
        if bool(body["data"]["result"]) == present:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{predicate_query} never became {'non-empty' if present else 'empty'}: {body}")
        time.sleep(0.25)
