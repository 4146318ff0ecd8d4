"""Chain of custody, attachments, verify, export, legal hold and purge, through the `afterword evidence` CLI."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tarfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from afterword.activities.capture import EvidenceActivities
from afterword.cli import main
from afterword.evidence.blobs import ContentStore
from afterword.evidence.custody import EvidenceArchive, Manifest, purge
from afterword.settings import Settings

from .helpers import make_request

PM = "pm-acme-cli"


@pytest.fixture
async def captured(tmp_path: Path) -> Settings:
    settings = Settings(data_dir=tmp_path / "data")
    req = make_request(ContentStore(settings.store_dir), datetime.now(UTC) - timedelta(minutes=5), postmortem_id=PM)
    await EvidenceActivities(settings).preserve_evidence(req)
    return settings


def run(settings: Settings, *args: str) -> Result:
    return CliRunner().invoke(main, ["evidence", *args], env={"AFTERWORD_DATA_DIR": str(settings.data_dir)})


def archive_of(settings: Settings, pm: str = PM) -> EvidenceArchive:
    return EvidenceArchive(settings.evidence_dir, ContentStore(settings.store_dir), pm)


async def test_add_attachment_supersedes_manifest_and_records_custody(captured: Settings, tmp_path: Path) -> None:
    shot = tmp_path / "dashboard.png"
    shot.write_bytes(os.urandom(3 * 1024 * 1024))  # several MB are fine
    result = run(
        captured, "add", PM, str(shot), "--note", "error-rate panel", "--at", "2026-03-01T12:04:00Z", "--by", "alice"
    )
    assert result.exit_code == 0, result.output
    listing = json.loads(run(captured, "list", PM, "--json").output)
    assert listing["version"] == 2
    (attachment,) = [i for i in listing["items"] if i["source"] == "attachment"]
    assert attachment["sha256"] == hashlib.sha256(shot.read_bytes()).hexdigest()
    assert attachment["collector"] == "alice" and attachment["note"] == "error-rate panel"
    archive = archive_of(captured)
    manifest = Manifest.model_validate_json(archive.store.get(listing["manifest_ref"]))
    assert manifest.supersedes == archive.manifest_entries()[0].ref
    last = archive.custody()[-2:]
    assert [(e.action, e.who) for e in last] == [("attached", "alice"), ("sealed", "alice")]
    assert last[0].at.utcoffset() is not None and last[0].where.startswith("file://")
    timeline = run(captured, "timeline", PM)
    assert "| 2026-03-01 12:04:00 | Attachment: error-rate panel |" in timeline.output
    # the same file again changes nothing
    again = run(captured, "add", PM, str(shot), "--note", "again", "--by", "alice")
    assert again.exit_code == 0 and json.loads(run(captured, "list", PM, "--json").output)["version"] == 2


def test_add_rejects_bad_input_with_a_reason(captured: Settings, tmp_path: Path) -> None:
    f = tmp_path / "f.txt"
    f.write_text("x")
    bad_time = run(captured, "add", PM, str(f), "--note", "n", "--at", "yesterday-ish")
    assert bad_time.exit_code == 2 and "ISO 8601" in bad_time.output
    unknown = run(captured, "add", "pm-nope", str(f), "--note", "n")
    assert unknown.exit_code == 1 and "no evidence for postmortem 'pm-nope'" in unknown.output


def test_verify_show_and_custody_tamper(captured: Settings) -> None:
    assert run(captured, "verify", PM).exit_code == 0
    item = json.loads(run(captured, "list", PM, "--json").output)["items"][0]
    shown = run(captured, "show", PM, item["id"], "--raw", "--by", "bob")
    assert shown.exit_code == 0 and hashlib.sha256(shown.stdout_bytes).hexdigest() == item["sha256"]
    custody = json.loads(run(captured, "show", PM, "--custody", "--json").output)
    assert [c["action"] for c in custody][-2:] == ["verified", "viewed"] and custody[-1]["who"] == "bob"

    archive = archive_of(captured)
    lines = archive.custody_path.read_text().splitlines()
    lines[1] = lines[1].replace('"collected"', '"deleted"')
    archive.custody_path.write_text("\n".join(lines) + "\n")
    failed = run(captured, "verify", PM)
    assert failed.exit_code == 1 and "custody-broken: custody line 3" in failed.output


def test_tampered_manifest_is_named(captured: Settings) -> None:
    archive = archive_of(captured)
    ref = archive.manifest_entries()[0].ref
    path = archive.store.path(ref)
    os.chmod(path, 0o644)
    path.write_text(path.read_text().replace('"size":', '"size": 1 ,"x":', 1))
    failed = run(captured, "verify", PM)
    assert failed.exit_code == 1 and f"manifest-changed: {ref}" in failed.output


def test_export_directory_checks_with_sha256sum(captured: Settings, tmp_path: Path) -> None:
    out = tmp_path / "handover"
    result = run(captured, "export", PM, str(out), "--by", "legal@acme")
    assert result.exit_code == 0, result.output
    check = subprocess.run(["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=out, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    custody = [json.loads(line) for line in (out / "custody.jsonl").read_text().splitlines()]
    assert custody[-1]["action"] == "exported" and custody[-1]["where"] == f"file://{out.resolve()}"
    tar = tmp_path / "handover.tar.gz"
    assert run(captured, "export", PM, str(tar)).exit_code == 0
    with tarfile.open(tar) as archive:
        assert "handover/SHA256SUMS" in archive.getnames()
    assert run(captured, "export", PM, str(out)).exit_code == 1  # never overwrite an earlier copy


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
    assert archive_of(settings, "pm-old").custody()[-1].action == "purged"
    again = purge(settings.evidence_dir, store, timedelta(days=2), "ops", now=later)
    assert [o.postmortem_id for o in again] == ["pm-held"]  # purged ones are not purged twice
    env = {"AFTERWORD_DATA_DIR": str(settings.data_dir)}
    listed = CliRunner().invoke(main, ["evidence", "list", "pm-old"], env=env)
    assert listed.exit_code == 1 and "was purged at" in listed.output
    custody = CliRunner().invoke(main, ["evidence", "show", "pm-old", "--custody", "--json"], env=env)
    assert json.loads(custody.output)[-1]["action"] == "purged"


async def test_purge_respects_retention_and_cli_reports(captured: Settings) -> None:
    result = run(captured, "purge", "--older-than", "0s")
    assert result.exit_code == 0 and "kept pm-acme-cli: retention runs until" in result.output
    assert run(captured, "purge", "--older-than", "soon").exit_code == 2
    assert run(captured, "hold", PM, "--reason", "audit").exit_code == 0
    assert "legal hold" in run(captured, "list", PM).output
    assert run(captured, "hold", PM, "--reason", "done", "--release").exit_code == 0
    assert run(captured, "hold", PM, "--reason", "twice", "--release").exit_code == 1


async def test_removing_a_manifest_version_from_the_log_is_caught(captured: Settings, tmp_path: Path) -> None:
    note = tmp_path / "note.txt"
    note.write_text("bridge call notes")
    assert run(captured, "add", PM, str(note), "--note", "bridge notes").exit_code == 0
    archive = archive_of(captured)
    first, second = archive.manifests_path.read_text().splitlines()
    archive.manifests_path.write_text(second + "\n")  # drop v1: the record of what was captured first
    failed = run(captured, "verify", PM)
    assert failed.exit_code == 1
    assert "manifest-missing" in failed.output and "a version was removed or reordered" in failed.output
    assert json.loads(first)["ref"] in failed.output
