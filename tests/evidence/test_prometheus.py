"""Against the real Debian Prometheus: capture a range, check values and hashes, catch tampering."""

from __future__ import annotations

import asyncio
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from afterword.activities.capture import EvidenceActivities, TimelineRequest
from afterword.activities.store_activities import StoreActivities
from afterword.evidence.blobs import ContentStore
from afterword.evidence.custody import Manifest, hash_file
from afterword.settings import Settings
from afterword.workflows.store_requests import VerifyEvidence

from .conftest import MetricEndpoint, PrometheusServer
from .helpers import alertmanager_payload, make_request

pytestmark = pytest.mark.prometheus


async def wait_for_samples(url: str, query: str, minimum: float, within: float = 20) -> None:
    deadline = asyncio.get_running_loop().time() + within
    async with httpx.AsyncClient() as client:
        while True:
            body = (await client.get(f"{url}/api/v1/query", params={"query": query})).json()
            result = body["data"]["result"]
            if result and float(result[0]["value"][1]) >= minimum:
                return
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"prometheus never reported {query} >= {minimum}: {body}")
            await asyncio.sleep(0.25)


async def test_capture_range_values_hashes_timeline_and_tamper(
    prometheus: PrometheusServer, metric_endpoint: MetricEndpoint, tmp_path: Path
) -> None:
    started = datetime.now(UTC)
    metric_endpoint.value = 1
    await wait_for_samples(prometheus.url, 'count_over_time(demo_value{service="api"}[1m])', 3)
    switch = datetime.now(UTC)
    metric_endpoint.value = 10
    await wait_for_samples(prometheus.url, 'count_over_time((demo_value{service="api"} > 5)[1m:1s])', 3)

    settings = Settings(data_dir=tmp_path)
    store = ContentStore(settings.store_dir)
    generator = f"{prometheus.url}/graph?g0.expr={quote('demo_value > 5')}&g0.tab=1"
    policy = {
        "evidence": {
            "margin_before": "0s",
            "prometheus": {"queries": {"api": [{"expr": "demo_value", "name": "demo", "above": 5}]}},
        }
    }
    req = make_request(
        store, started, payload=alertmanager_payload(started, generator), policy=policy, postmortem_id="pm-acme-prom"
    )
    acts = EvidenceActivities(settings)
    summary = await acts.preserve_evidence(req)

    assert summary.gaps == []
    manifest = Manifest.model_validate_json(store.get(summary.manifest_ref))
    ranges = {i.target: i for i in manifest.items if i.kind == "prometheus-range"}
    assert set(ranges) == {f"{prometheus.url} demo_value > 5", f"{prometheus.url} demo_value"}

    demo = ranges[f"{prometheus.url} demo_value"]
    body = json.loads(store.get(demo.sha256))
    assert body["status"] == "success"
    (series,) = body["data"]["result"]
    assert series["metric"]["service"] == "api"
    values = [float(v) for _, v in series["values"]]
    assert set(values) == {1.0, 10.0}
    assert values == sorted(values)  # 1 until the switch, 10 after: what the endpoint served
    stamps = [float(t) for t, _ in series["values"]]
    assert demo.start is not None and demo.end is not None
    assert demo.start.timestamp() - 0.001 <= stamps[0] and stamps[-1] <= demo.end.timestamp() + 0.001
    for item in manifest.items:
        assert hash_file(store.path(item.sha256)) == item.sha256
        assert store.path(item.sha256).stat().st_size == item.size

    rows = (await acts.build_timeline(TimelineRequest(manifest_ref=summary.manifest_ref))).rows
    rose = [r for r in rows if "rose above 5" in r.event]
    assert len(rose) == 1 and rose[0].evidence_ref == demo.sha256
    assert switch - timedelta(seconds=2) <= rose[0].at <= switch + timedelta(seconds=4)
    alert_rows = [r for r in rows if r.event.startswith("Alert expression `demo_value > 5` true")]
    assert len(alert_rows) == 1
    assert abs((alert_rows[0].at - rose[0].at).total_seconds()) < 1.5

    # what `afterword evidence verify` has the worker run
    stores = StoreActivities(settings)
    ok = (await stores.verify_evidence(VerifyEvidence(postmortem_id="pm-acme-prom", by="ops"))).report
    assert ok.ok, ok.problems

    blob = store.path(demo.sha256)
    os.chmod(blob, 0o644)
    blob.write_bytes(blob.read_bytes().replace(b'"10"', b'"9"', 1))
    bad = (await stores.verify_evidence(VerifyEvidence(postmortem_id="pm-acme-prom", by="ops"))).report
    assert [(p.kind, p.subject) for p in bad.problems] == [("item-changed", demo.id)]


async def test_unreachable_prometheus_becomes_a_gap_not_a_failure(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    store = ContentStore(settings.store_dir)
    started = datetime.now(UTC) - timedelta(minutes=5)
    dead = "http://127.0.0.1:9/graph?g0.expr=up+%3D%3D+0"
    policy = {"evidence": {"attempts": 2, "backoff": 0.05, "timeout": 1}}
    req = make_request(store, started, payload=alertmanager_payload(started, dead), policy=policy)
    summary = await EvidenceActivities(settings).preserve_evidence(req)
    assert summary.items == 2  # incident and payload are still preserved
    (gap,) = summary.gaps
    assert "127.0.0.1:9" in gap and "after 2 attempts" in gap and "instrument this" in gap
    manifest = Manifest.model_validate_json(store.get(summary.manifest_ref))
    assert manifest.gaps[0].attempts == 2
