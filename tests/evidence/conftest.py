"""Fixtures: a metric endpoint the test controls, and the real Debian Prometheus scraping it."""

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
from tests.helpers import child_process

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"


@dataclass
class MetricEndpoint:
    """Serves `demo_value{service="api"} <value>`; the test changes `value` while Prometheus scrapes."""

    port: int
    value: float = 1.0
    scrapes: int = 0
    server: ThreadingHTTPServer | None = field(default=None, repr=False)


@pytest.fixture(scope="module")
def metric_endpoint() -> Iterator[MetricEndpoint]:
    endpoint = MetricEndpoint(port=0)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            endpoint.scrapes += 1
            body = (f'# TYPE demo_value gauge\ndemo_value{{service="api"}} {endpoint.value}\n').encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    endpoint.port = server.server_address[1]
    endpoint.server = server
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield endpoint
    server.shutdown()
    server.server_close()


@dataclass
class PrometheusServer:
    url: str
    process: subprocess.Popen[bytes]


@pytest.fixture(scope="module")
def prometheus(metric_endpoint: MetricEndpoint, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    if not Path(PROMETHEUS).exists():
        pytest.skip("the Debian `prometheus` package is not installed (apt-get install prometheus)")
    work = tmp_path_factory.mktemp("prometheus")
    config = work / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: demo\n    static_configs:\n"
        f"      - targets: ['127.0.0.1:{metric_endpoint.port}']\n"
    )
    port = free_port()
    command = [
        PROMETHEUS,
        f"--config.file={config}",
        f"--storage.tsdb.path={work / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
    ]
    log = work / "prometheus.log"
    with child_process(command, log) as process:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"prometheus did not become ready: {log.read_text()[-2000:]}")
            time.sleep(0.1)
        yield PrometheusServer(url=url, process=process)
