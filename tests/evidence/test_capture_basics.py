"""Capture of the built-in items: idempotent, sealed, chained at resolution."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from afterword.activities.capture import EvidenceActivities, TimelineRequest
from afterword.evidence.blobs import ContentStore
from afterword.evidence.custody import EvidenceArchive, Manifest
from afterword.evidence.timeline import reconstruct_timeline
from afterword.settings import Settings

from .helpers import make_request


async def test_trigger_capture_is_idempotent_and_lists_incident_and_payload(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    store = ContentStore(settings.store_dir)
    started = datetime.now(UTC) - timedelta(minutes=10)
    req = make_request(store, started)
    acts = EvidenceActivities(settings)

    first = await acts.preserve_evidence(req)
    again = await acts.preserve_evidence(req)

    assert first == again
    manifest = Manifest.model_validate_json(store.get(first.manifest_ref))
    assert sorted(i.kind for i in manifest.items) == ["alert-payload", "incident"]
    payload_item = next(i for i in manifest.items if i.kind == "alert-payload")
    assert payload_item.sha256 == req.incident.payload_ref
    incident_item = next(i for i in manifest.items if i.kind == "incident")
    assert json.loads(store.get(incident_item.sha256))["title"] == "API error rate high"
    assert all(i.collected_at.tzinfo is not None for i in manifest.items)
    archive = EvidenceArchive(settings.evidence_dir, store, req.postmortem_id)
    assert [e.ref for e in archive.manifest_entries()] == [first.manifest_ref]


async def test_resolution_supersedes_trigger_and_timeline_links_items(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    store = ContentStore(settings.store_dir)
    started = datetime.now(UTC) - timedelta(minutes=30)
    acts = EvidenceActivities(settings)
    trigger = await acts.preserve_evidence(make_request(store, started))
    resolved = started + timedelta(minutes=20)
    resolution = await acts.preserve_evidence(make_request(store, started, phase="resolution", resolved=resolved))

    manifest = Manifest.model_validate_json(store.get(resolution.manifest_ref))
    assert manifest.supersedes == trigger.manifest_ref
    assert manifest.version == 2
    assert manifest.window_end >= resolved

    result = await acts.build_timeline(TimelineRequest(manifest_ref=resolution.manifest_ref))
    events = [r.event for r in result.rows]
    assert events[0].startswith("Incident started")
    assert any(e.startswith("Alert HighErrors firing") for e in events)
    assert events[-1].startswith("Incident resolved")
    refs = {i.sha256 for i in manifest.items}
    assert all(r.evidence_ref in refs for r in result.rows)
    assert result.rows == reconstruct_timeline(store, resolution.manifest_ref, [])


def test_documented_example_policy_is_valid_and_selects_sources_per_service() -> None:
    import re
    import tomllib

    from afterword.activities.adapters.registry import select_sources
    from afterword.activities.capture import EvidencePolicy
    from afterword.workflows.models import Incident

    docs = Path(__file__).resolve().parents[2] / "docs" / "evidence.md"
    example = re.search(r"### Example\n\n```toml\n(.*?)```", docs.read_text(), re.S)
    assert example is not None
    policy = EvidencePolicy.from_policy(tomllib.loads(example.group(1)))
    started = datetime(2026, 3, 1, tzinfo=UTC)
    checkout = Incident(org="a", key="k", title="t", severity="SEV1", service="checkout", started_at=started)
    other = checkout.model_copy(update={"service": "search"})

    def names(incident: Incident) -> list[str]:
        return [re.sub(r"-[0-9a-f]{10}$", "", s.name) for s in select_sources(policy, incident, None)]

    assert names(checkout) == [
        "prometheus:query",
        "prometheus:errors",
        "logs:checkout",
        "http-json:elasticsearch",
        "git:git",
        "slack:slack",
    ]
    assert names(other) == [
        "prometheus:query",
        "http-json:elasticsearch",
        "slack:slack",
    ]


def test_postmortem_ids_map_to_distinct_safe_directories() -> None:
    from afterword.evidence.custody import safe_id

    assert safe_id("pm-acme-3f2a9c") == "pm-acme-3f2a9c"
    odd = ["pm/acme:1", "pm_acme_1", "pm acme 1", "../../etc", "x" * 400]
    names = [safe_id(i) for i in odd]
    assert len(set(names)) == len(names)
    assert all("/" not in n and not n.startswith(".") and len(n) <= 150 for n in names)


async def test_a_reopened_incident_resolving_again_is_captured_again(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    store = ContentStore(settings.store_dir)
    started = datetime.now(UTC) - timedelta(hours=1)
    acts = EvidenceActivities(settings)
    await acts.preserve_evidence(make_request(store, started))
    first_end = started + timedelta(minutes=20)
    first = await acts.preserve_evidence(make_request(store, started, phase="resolution", resolved=first_end))
    retried = await acts.preserve_evidence(make_request(store, started, phase="resolution", resolved=first_end))
    assert retried == first
    second_end = started + timedelta(minutes=50)
    second = await acts.preserve_evidence(make_request(store, started, phase="resolution", resolved=second_end))

    manifest = Manifest.model_validate_json(store.get(second.manifest_ref))
    assert manifest.version == 3 and manifest.supersedes == first.manifest_ref
    ids = [i.id for i in manifest.items]
    assert len(ids) == len(set(ids))
    assert "resolution-2/incident/incident.json" in ids and "resolution/incident/incident.json" in ids
    rows = reconstruct_timeline(store, second.manifest_ref, [])
    resolved = [r.at for r in rows if r.event.startswith("Incident resolved")]
    assert resolved == [first_end, second_end]


def test_timeline_models_cross_the_temporal_boundary() -> None:
    from temporalio.contrib.pydantic import pydantic_data_converter

    from afterword.activities.capture import TimelineResult
    from afterword.workflows.models import TimelineEdit, TimelineRow

    at = datetime(2026, 3, 1, 12, tzinfo=UTC)
    request = TimelineRequest(
        manifest_ref="a" * 64, edits=[TimelineEdit(by="alice", action="add", at=at, event="paged")]
    )
    result = TimelineResult(rows=[TimelineRow(at=at, event="x", source="logs:a", evidence_ref="b" * 64)])
    converter = pydantic_data_converter.payload_converter
    for value in (request, result):
        (back,) = converter.from_payloads(converter.to_payloads([value]), [type(value)])
        assert back == value


async def test_a_payload_that_came_with_the_start_is_stored_by_the_capture_and_a_forged_one_is_not(
    tmp_path: Path,
) -> None:
    settings = Settings(data_dir=tmp_path)
    store = ContentStore(settings.store_dir)
    started = datetime.now(UTC) - timedelta(minutes=10)
    built = make_request(ContentStore(tmp_path / "elsewhere"), started)  # the intake wrote no file here
    body = ContentStore(tmp_path / "elsewhere").get(built.incident.payload_ref or "")
    acts = EvidenceActivities(settings)

    carried = built.model_copy(update={"alert_payload": body})
    summary = await acts.preserve_evidence(carried)
    assert summary.sealed and not summary.gaps
    assert store.get(built.incident.payload_ref or "") == body  # under its own sha256: the incident's ref

    forged = built.model_copy(update={"postmortem_id": "pm-acme-forged", "alert_payload": body + b" "})
    forged = forged.model_copy(update={"incident": forged.incident.model_copy(update={"payload_ref": "0" * 64})})
    summary = await acts.preserve_evidence(forged)
    # bytes that do not match their ref are not kept, and the capture says the payload is missing
    assert not store.exists("0" * 64) and any("raw alert payload" in gap for gap in summary.gaps)
