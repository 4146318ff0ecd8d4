"""Sampling checks against the real Debian Prometheus and Alertmanager, and a loopback HTTP service."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from afterword.activities.adapters.check_probes import AlertmanagerApi, PrometheusApi, promtool_problem
from afterword.activities.fix_validation import (
    CheckEvidenceRequest,
    CheckSampler,
    SharedAnswers,
    ValidationActivities,
    ValidationTargets,
    examine,
)
from afterword.evidence.blobs import ContentStore
from afterword.evidence.custody import EvidenceArchive
from afterword.gates.check_syntax import parse_check
from afterword.workflows.fix_checks import (
    CheckProgress,
    SampleRequest,
    advance,
    grid_floor,
)

from .conftest import Alertmanager, Exporter, Prometheus, wait_for

pytestmark = pytest.mark.prometheus
SECOND = timedelta(seconds=1)


def targets(prometheus: Prometheus, alertmanager: Alertmanager | None = None, hosts: tuple[str, ...] = ()) -> \
        ValidationTargets:
    return ValidationTargets(
        prometheus=PrometheusApi(prometheus.url, timeout=5),
        alertmanager=AlertmanagerApi(alertmanager.url, timeout=5) if alertmanager else None,
        allow_hosts=hosts,
    )


def request(text: str, start: datetime, end: datetime) -> SampleRequest:
    return SampleRequest(org="acme", postmortem_id="pm-acme-1", item_id="ai-1", check=parse_check(text),
                         start=start, end=end)


def now_on_grid() -> datetime:
    return grid_floor(datetime.now(UTC), SECOND) - SECOND  # a second back: Prometheus has scraped it


async def test_a_threshold_check_reads_each_instant(prometheus: Prometheus, exporter: Exporter,
                                                    tmp_path: Path) -> None:
    exporter.set(checkout_latency_p99_seconds=0.3)
    wait_for("count_over_time(checkout_latency_p99_seconds[6s]) >= 5", prometheus.url)  # scraped for a while
    sampler = CheckSampler(ContentStore(tmp_path / "store"), lambda org: targets(prometheus))
    end = now_on_grid()
    text = "prometheus expr=`max(checkout_latency_p99_seconds)` below=0.8 holds_for=2s interval=1s"
    batch = await sampler.sample("acme", request(text, end - 2 * SECOND, end))
    assert [p.ok for p in batch.points] == [True, True, True] and batch.points[0].value == "0.3", batch.points
    stored = json.loads(ContentStore(tmp_path / "store").get(batch.answer_ref or ""))
    assert stored["query"] == "max(checkout_latency_p99_seconds)" and stored["source"] == prometheus.url
    assert stored["answer"]["status"] == "success"

    exporter.set(checkout_latency_p99_seconds=0.95)  # the fix regresses
    wait_for("checkout_latency_p99_seconds == 0.95", prometheus.url)
    await asyncio.sleep(2)  # the instant sampled lies after the change
    later = now_on_grid()
    batch = await sampler.sample("acme", request(text, later, later))
    assert [(p.ok, p.value) for p in batch.points] == [(False, "0.95")]


async def test_a_missing_metric_never_holds(prometheus: Prometheus, tmp_path: Path) -> None:
    sampler = CheckSampler(ContentStore(tmp_path), lambda org: targets(prometheus))
    end = now_on_grid()
    batch = await sampler.sample("acme", request("prometheus expr=`absent_metric_xyz` holds_for=2s interval=1s",
                                                 end - 2 * SECOND, end))
    assert [p.value for p in batch.points] == ["no data"] * 3 and not any(p.ok for p in batch.points)


async def test_a_query_prometheus_refuses_is_refused_not_retried(prometheus: Prometheus, tmp_path: Path) -> None:
    activities = ValidationActivities(ContentStore(tmp_path), tmp_path / "evidence", lambda org: targets(prometheus))
    end = now_on_grid()
    batch = await activities.sample_check(request("prometheus expr=`rate(x[5m]` holds_for=2s interval=1s", end, end))
    assert batch.refused is not None and "parse error" in batch.refused


async def test_adding_a_check_asks_prometheuss_own_parser(prometheus: Prometheus) -> None:
    found = await examine(targets(prometheus), parse_check("prometheus expr=`sum(rate(x[5m])` holds_for=1h"))
    assert found.problem is not None and found.problem.startswith("check.expr: Prometheus cannot parse")
    assert "unclosed left parenthesis" in found.problem or "parse error" in found.problem
    assert (await examine(targets(prometheus), parse_check("prometheus expr=`sum(rate(x[5m]))` holds_for=1h"))
            ).problem is None
    assert await promtool_problem("sum(rate(x[5m]))") is None
    assert "parse error" in (await promtool_problem("sum(rate(x[5m])") or "")


async def test_adding_refuses_what_the_policy_does_not_allow() -> None:
    none = ValidationTargets()
    found = await examine(none, parse_check("prometheus expr=up holds_for=1h"))
    assert found.problem is not None and "[integrations.metrics]" in found.problem
    found = await examine(ValidationTargets(allow_hosts=("status.example.com",)),
                          parse_check("http url=http://169.254.169.254/latest/meta-data"))
    assert found.problem is not None and "not on the policy's allow-list" in found.problem
    assert (await examine(ValidationTargets(allow_hosts=("*.example.com",)),
                          parse_check("http url=https://status.example.com/health"))).problem is None
    assert (await examine(none, parse_check("manual"))).problem is None


async def test_an_unreachable_prometheus_is_retried_not_failed(tmp_path: Path) -> None:
    from temporalio.exceptions import ApplicationError

    from afterword.runtime.dev_server import free_port

    gone = ValidationTargets(prometheus=PrometheusApi(f"http://127.0.0.1:{free_port()}", timeout=2))
    activities = ValidationActivities(ContentStore(tmp_path), tmp_path / "evidence", lambda org: gone)
    end = now_on_grid()
    with pytest.raises(ApplicationError) as raised:
        await activities.sample_check(request("prometheus expr=up holds_for=2s interval=1s", end, end))
    assert raised.value.type == "CheckSourceUnavailable" and not raised.value.non_retryable


async def test_the_new_alert_rule_exists_and_fires(prometheus: Prometheus, exporter: Exporter,
                                                   tmp_path: Path) -> None:
    sampler = CheckSampler(ContentStore(tmp_path), lambda org: targets(prometheus))
    exporter.set(checkout_latency_p99_seconds=0.3)
    wait_for('ALERTS{alertname="CheckoutLatencyHigh"}', prometheus.url, present=False)
    await asyncio.sleep(2)
    end = now_on_grid()
    check = 'alert_rule name=CheckoutLatencyHigh labels=`{severity="page"}` fired=yes interval=1s'
    quiet = await sampler.sample("acme", request(check, end, end))
    assert quiet.points[0].ok and not quiet.points[0].firing
    wrong = await sampler.sample("acme", request('alert_rule name=CheckoutLatencyHigh labels=`{severity="info"}`',
                                                 end, end))
    assert not wrong.points[0].ok and wrong.points[0].value == "no such rule"

    exporter.set(checkout_latency_p99_seconds=0.95)  # a staging test drives latency up: the alert fires
    wait_for('ALERTS{alertname="CheckoutLatencyHigh", alertstate="firing"}', prometheus.url)
    exporter.set(checkout_latency_p99_seconds=0.3)
    wait_for('ALERTS{alertname="CheckoutLatencyHigh"}', prometheus.url, present=False)
    await asyncio.sleep(2)
    later = now_on_grid()
    batch = await sampler.sample("acme", request(check, end + SECOND, later))  # the range since: it fired then
    assert any(p.firing for p in batch.points) and not batch.points[-1].firing
    progress = advance(CheckProgress(started_at=end, window_end=later + timedelta(hours=1)),
                       parse_check(check), batch)  # type: ignore[arg-type]
    assert progress.verdict == "passed" and "fired at" in progress.reason


async def test_alert_silent_through_prometheus_and_alertmanager(prometheus: Prometheus, exporter: Exporter,
                                                                alertmanager: Alertmanager, tmp_path: Path) -> None:
    sampler = CheckSampler(ContentStore(tmp_path), lambda org: targets(prometheus, alertmanager))
    via_prometheus = 'alert_silent alertname=CheckoutErrors labels=`{severity="page"}` silent_for=2s interval=1s'
    via_alertmanager = via_prometheus + " source=alertmanager"
    exporter.set(checkout_errors_ratio=0.0)
    wait_for('ALERTS{alertname="CheckoutErrors"}', prometheus.url, present=False)
    await asyncio.sleep(2)
    end = now_on_grid()
    assert all(p.ok for p in (await sampler.sample("acme", request(via_prometheus, end - 2 * SECOND, end))).points)

    exporter.set(checkout_errors_ratio=0.2)  # the incident comes back
    wait_for('ALERTS{alertname="CheckoutErrors", alertstate="firing"}', prometheus.url)
    await asyncio.sleep(2)
    end = now_on_grid()
    seen = await sampler.sample("acme", request(via_prometheus, end, end))
    assert [(p.ok, p.value) for p in seen.points] == [(False, "firing")]
    deadline = asyncio.get_running_loop().time() + 30
    while True:  # Prometheus sends the alert on to Alertmanager within its evaluation and send intervals
        now = now_on_grid()
        batch = await sampler.sample("acme", request(via_alertmanager, now, now))
        if not batch.points[0].ok:
            break
        assert asyncio.get_running_loop().time() < deadline, "Alertmanager never showed the firing alert"
        await asyncio.sleep(0.5)
    assert batch.points[0].value == "1 firing" and batch.source == alertmanager.url
    fingerprint = json.loads(ContentStore(tmp_path).get(batch.answer_ref or ""))["answer"][0]["fingerprint"]
    other = await sampler.sample("acme", request("alert_silent alertname=CheckoutErrors fingerprint=0000000000000000 "
                                                 "silent_for=2s interval=1s source=alertmanager", now, now))
    assert other.points[0].ok  # another alert's fingerprint is silent
    same = await sampler.sample("acme", request(f"alert_silent alertname=CheckoutErrors fingerprint={fingerprint} "
                                                "silent_for=2s interval=1s source=alertmanager", now, now))
    assert not same.points[0].ok
    exporter.set(checkout_errors_ratio=0.0)


async def test_identical_questions_are_asked_once(prometheus: Prometheus, tmp_path: Path) -> None:
    shared = SharedAnswers()
    sampler = CheckSampler(ContentStore(tmp_path), lambda org: targets(prometheus), shared)
    end = now_on_grid()
    text = "prometheus expr=`max(checkout_latency_p99_seconds)` below=0.8 holds_for=2s interval=1s"
    batches = await asyncio.gather(*[sampler.sample("acme", request(text, end - SECOND, end)) for _ in range(50)])
    assert shared.asked == 50 and shared.fetched == 1
    assert len({b.answer_ref for b in batches}) == 1


@pytest.fixture
def status_page() -> Iterator[dict[str, object]]:
    state: dict[str, object] = {"status": 200, "body": b'{"status": "ok"}', "delay": 0.0, "hits": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            import time

            state["hits"] = int(state["hits"]) + 1  # type: ignore[call-overload]
            time.sleep(float(state["delay"]))  # type: ignore[arg-type]
            body = state["body"]
            assert isinstance(body, bytes)
            self.send_response(int(state["status"]))  # type: ignore[call-overload]
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state["port"] = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield state
    server.shutdown()
    server.server_close()


async def test_http_probe_checks_status_body_and_latency(status_page: dict[str, object], tmp_path: Path) -> None:
    sampler = CheckSampler(ContentStore(tmp_path), lambda org: ValidationTargets(allow_hosts=("127.0.0.1",)))
    url = f"http://127.0.0.1:{status_page['port']}/healthz"
    text = f'http url={url} body=`"status": "ok"` within=0.5s times=2 interval=1s'
    at = now_on_grid()
    good = await sampler.sample("acme", request(text, at, at))
    assert good.points[0].ok and good.points[0].value.startswith("HTTP 200 in ")
    status_page.update(status=503, body=b"down")
    bad = await sampler.sample("acme", request(text, at + SECOND, at + SECOND))
    assert not bad.points[0].ok and "HTTP 503, expected 200" in bad.points[0].value
    assert "body did not match" in bad.points[0].value
    status_page.update(status=200, body=b'{"status": "ok"}', delay=0.8)
    slow = await sampler.sample("acme", request(text, at + 2 * SECOND, at + 2 * SECOND))
    assert not slow.points[0].ok and "no answer within 0.5 s" in slow.points[0].value


async def test_http_probe_never_leaves_the_allow_list(status_page: dict[str, object], tmp_path: Path) -> None:
    activities = ValidationActivities(ContentStore(tmp_path), tmp_path / "evidence",
                                      lambda org: ValidationTargets(allow_hosts=("status.example.com",)))
    at = now_on_grid()
    batch = await activities.sample_check(request(f"http url=http://127.0.0.1:{status_page['port']}/", at, at))
    assert batch.refused is not None and "not on the policy's allow-list" in batch.refused
    assert status_page["hits"] == 0


async def test_the_deciding_samples_become_evidence_with_custody(prometheus: Prometheus, tmp_path: Path) -> None:
    from afterword.activities.capture import capture
    from afterword.settings import Settings
    from tests.evidence.helpers import make_request

    settings = Settings(data_dir=tmp_path)
    store = ContentStore(settings.store_dir)
    started = datetime.now(UTC) - timedelta(minutes=5)
    await capture(settings, make_request(store, started, postmortem_id="pm-acme-1"))  # the trigger-time capture
    activities = ValidationActivities(store, settings.evidence_dir, lambda org: targets(prometheus))
    text = "prometheus expr=`max(checkout_latency_p99_seconds)` below=0.8 holds_for=2s interval=1s"
    end = now_on_grid()
    req = request(text, end - 2 * SECOND, end)
    batch = await activities.sample_check(req)
    progress = advance(CheckProgress(started_at=end - 2 * SECOND, window_end=end + timedelta(minutes=1)),
                       req.check, batch)  # type: ignore[arg-type]
    assert progress.verdict == "passed"
    evidence = await activities.record_check_evidence(
        CheckEvidenceRequest(postmortem_id="pm-acme-1", item_id="ai-1", check=req.check, progress=progress))
    archive = EvidenceArchive(settings.evidence_dir, store, "pm-acme-1")
    manifest = archive.load_manifest(archive.require_head().ref)
    assert evidence.manifest_ref == archive.require_head().ref and manifest.phase == "validation"
    items = {i.id: i for i in manifest.items if i.source == "validation"}
    record = next(i for name, i in items.items() if name.endswith("record.json"))
    body = json.loads(store.get(record.sha256))
    assert body["verdict"] == "passed" and body["check"] == text and body["answers"] == [batch.answer_ref]
    assert any(i.sha256 == batch.answer_ref for i in items.values())
    assert [e.action for e in archive.custody()][-2:] == ["check-recorded", "sealed"]
    assert archive.verify("auditor", record=False).ok
    again = await activities.record_check_evidence(  # a retried activity adds nothing
        CheckEvidenceRequest(postmortem_id="pm-acme-1", item_id="ai-1", check=req.check, progress=progress))
    assert again.manifest_ref == evidence.manifest_ref
