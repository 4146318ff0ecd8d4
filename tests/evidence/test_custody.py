"""Legal hold and purge on the evidence store itself (the `afterword evidence` commands run them on the
worker: tests/e2e/test_evidence_cli.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from afterword.activities.capture import EvidenceActivities
from afterword.evidence.blobs import ContentStore
from afterword.evidence.custody import EvidenceArchive, purge
from afterword.settings import Settings

from .helpers import make_request


def archive_of(settings: Settings, pm: str) -> EvidenceArchive:
    return EvidenceArchive(settings.evidence_dir, ContentStore(settings.store_dir), pm)


async def test_hold_blocks_purge_and_shared_blobs_survive(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, retention_days=1)
    store = ContentStore(settings.store_dir)
    started = datetime.now(UTC) - timedelta(minutes=5)
    acts = EvidenceActivities(settings)
    for pm in ("pm-old", "pm-held", "pm-keep"):
        await acts.preserve_evidence(make_request(store, started, postmortem_id=pm))
    archive_of(settings, "pm-held").set_hold("legal@acme", "matter 2026-17")
    held = archive_of(settings, "pm-held").referenced_refs()
    later = datetime.now(UTC) + timedelta(days=3)

    outcomes = purge(settings.evidence_dir, store, timedelta(days=2), "ops", now=later, dry_run=True)
    assert {o.postmortem_id: o.action for o in outcomes} == {"pm-old": "purged", "pm-held": "kept", "pm-keep": "purged"}
    assert all(store.exists(r) for r in archive_of(settings, "pm-old").referenced_refs())  # dry run

    outcomes = purge(settings.evidence_dir, store, timedelta(days=2), "ops", now=later)
    held_outcome = next(o for o in outcomes if o.postmortem_id == "pm-held")
    assert held_outcome.action == "kept" and "matter 2026-17" in held_outcome.reason
    assert all(store.exists(r) for r in held)  # the payload blob is shared with the purged ones: still there
    gone = archive_of(settings, "pm-old").referenced_refs() - held
    assert gone and not any(store.exists(r) for r in gone)
    old = archive_of(settings, "pm-old")
    assert old.custody()[-1].action == "purged"
    mark = old.purged()
    assert mark is not None and mark.by == "ops" and mark.blobs > 0
    again = purge(settings.evidence_dir, store, timedelta(days=2), "ops", now=later)
    assert [o.postmortem_id for o in again] == ["pm-held"]  # purged ones are not purged twice
