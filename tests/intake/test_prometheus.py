"""The real alert path on loopback: a metric served by the test, the Debian Prometheus evaluating a rule,
the Debian Alertmanager posting to the intake (bearer token from a credentials file), a postmortem on
real Temporal; then the metric recovers and the resolved notification resolves that postmortem."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from afterword.intake.server import run_app
from afterword.runtime.dev_server import free_port
from afterword.workflows import search_attributes as sa
from tests.helpers import child_process

from .conftest import AM_TOKEN, Stack

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
ALERTMANAGER = shutil.which("prometheus-alertmanager") or "/usr/bin/prometheus-alertmanager"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.prometheus,
    pytest.mark.skipif(
        not (Path(PROMETHEUS).exists() and Path(ALERTMANAGER).exists()),
        reason="needs the Debian packages prometheus and prometheus-alertmanager (apt install them)",
    ),
]


class Metric:
    """The value the test serves as `afterword_e2e_errors` on /metrics."""

    def __init__(self) -> None:
        self.value = 0.0

    async def handle(self, request: web.Request) -> web.Response:
        text = f"# TYPE afterword_e2e_errors gauge\nafterword_e2e_errors {self.value}\n"
        return web.Response(text=text, content_type="text/plain")


@asynccontextmanager
async def metric_server(metric: Metric) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_get("/metrics", metric.handle)
    async with run_app(app, "127.0.0.1", 0) as running:
        yield running.url.removeprefix("http://")


def tail(log: Path) -> str:
    return log.read_text(errors="replace")[-2000:]


async def wait_ready(url: str, child: subprocess.Popen[bytes], log: Path) -> None:
    async with httpx.AsyncClient(timeout=2) as http:
        for _ in range(150):
            if child.poll() is not None:
                pytest.fail(f"{url} exited with {child.returncode}:\n{tail(log)}")
            try:
                if (await http.get(url)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    pytest.fail(f"{url} not ready after 30 s:\n{tail(log)}")


async def find_postmortem(stack: Stack, service: str, within: float = 45) -> str:
    query = f"{sa.SERVICE.name} = '{service}'"
    loop = asyncio.get_running_loop()
    end = loop.time() + within
    while loop.time() < end:
        found = [wf.id async for wf in stack.client.list_workflows(query)]
        if found:
            assert len(found) == 1, found
            return found[0]
        await asyncio.sleep(0.5)
    pytest.fail(f"no postmortem for service {service} within {within} s")


async def test_prometheus_alert_opens_and_resolves_a_postmortem(stack: Stack, tmp_path: Path) -> None:
    service = f"prom-e2e-{uuid.uuid4().hex[:8]}"
    metric = Metric()
    prom_port, am_port = free_port(), free_port()
    token_file = tmp_path / "afterword-token"
    token_file.write_text(AM_TOKEN + "\n")
    (tmp_path / "rules.yml").write_text(
        f"""groups:
  - name: afterword-e2e
    interval: 1s
    rules:
      - alert: AfterwordE2EErrors
        expr: afterword_e2e_errors > 0
        for: 0s
        labels:
          severity: critical
          service: {service}
          team: payments
        annotations:
          summary: "{service} is failing requests"
"""
    )
    async with metric_server(metric) as target:
        (tmp_path / "prometheus.yml").write_text(
            f"""global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: ["{tmp_path / "rules.yml"}"]
alerting:
  alertmanagers:
    - static_configs: [{{targets: ["127.0.0.1:{am_port}"]}}]
scrape_configs:
  - job_name: checkout
    static_configs: [{{targets: ["{target}"]}}]
"""
        )
        (tmp_path / "alertmanager.yml").write_text(
            f"""route:
  receiver: afterword
  group_by: [alertname, service]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: afterword
    webhook_configs:
      - url: "{stack.alerts("alertmanager")}"
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials_file: {token_file}
"""
        )
        am_log, prom_log = tmp_path / "alertmanager.log", tmp_path / "prometheus.log"
        alertmanager = [
            ALERTMANAGER,
            f"--config.file={tmp_path / 'alertmanager.yml'}",
            f"--storage.path={tmp_path / 'am'}",
            f"--web.listen-address=127.0.0.1:{am_port}",
            "--cluster.listen-address=",
        ]
        prometheus = [
            PROMETHEUS,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
            "--rules.alert.resend-delay=1s",
        ]
        with child_process(alertmanager, am_log) as am, child_process(prometheus, prom_log) as prom:
            await wait_ready(f"http://127.0.0.1:{am_port}/-/ready", am, am_log)
            await wait_ready(f"http://127.0.0.1:{prom_port}/-/ready", prom, prom_log)

            metric.value = 7  # the service starts failing
            workflow_id = await find_postmortem(stack, service)
            status = await stack.wait(workflow_id, {"awaiting_resolution"}, within=30)
            assert status.incident.source == "alertmanager"
            assert status.severity == "SEV1" and status.incident.team == "payments"
            assert status.incident.title == f"{service} is failing requests"
            assert status.incident.payload_ref is not None

            metric.value = 0  # it recovers: Prometheus resolves, Alertmanager sends the resolved notification
            status = await stack.wait(workflow_id, {"drafting"}, within=60)
            assert status.incident.resolved_at is not None
            assert status.incident.resolved_at >= status.incident.started_at
            assert await find_postmortem(stack, service) == workflow_id  # still exactly one
