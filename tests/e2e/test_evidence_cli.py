"""Chain of custody, verify, export, legal hold and purge through the `afterword evidence` CLI, run as a
person runs it on another machine: the evidence is on the worker's disk, the CLI reaches it through Temporal.
(Attachments need a running postmortem: tests/e2e/test_cli.py.)"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import tarfile
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client

from afterword.activities.capture import EvidenceActivities
from afterword.evidence.blobs import ContentStore
from afterword.evidence.custody import EvidenceArchive, purge
from afterword.settings import Settings
from tests.e2e.test_cli import cli_runner
from tests.e2e.test_worker_restart import start_worker
from tests.evidence.helpers import make_request

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory, dev_server: str, dev_client: Client,
           e2e_settings: Settings) -> Iterator[Settings]:
    """A worker of its own (data directory, task queue): the purge below must not reach other tests' evidence."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("evidence-worker"), task_queue=f"ev-{uuid.uuid4().hex[:8]}",
                        payload_keys=e2e_settings.payload_keys)
    process = start_worker(settings, dev_server)
    yield settings
    process.terminate()
    process.wait(timeout=20)


@pytest.fixture
async def captured(worker: Settings) -> str:
    """A postmortem id whose evidence the worker's store holds (captured there, as its worker would)."""
    pm = f"pm-acme-cli-{uuid.uuid4().hex[:8]}"
    req = make_request(ContentStore(worker.store_dir), datetime.now(UTC) - timedelta(minutes=5), postmortem_id=pm)
    await EvidenceActivities(worker).preserve_evidence(req)
    return pm


@pytest.fixture
def cli(worker: Settings, dev_server: str, tmp_path: Path) -> Iterator[Any]:
    yield cli_runner(worker, dev_server, tmp_path)
    assert not (tmp_path / "cli-data").exists(), "the CLI wrote to a data directory of its own"


def archive_of(settings: Settings, pm: str) -> EvidenceArchive:
    return EvidenceArchive(settings.evidence_dir, ContentStore(settings.store_dir), pm)


def test_list_show_and_custody_from_afar(cli: Any, captured: str, worker: Settings) -> None:
    listing = json.loads(cli("evidence", "list", captured, "--json").stdout)
    assert listing["version"] == 1 and listing["manifest_ref"] == archive_of(worker, captured).head().ref  # type: ignore[union-attr]
    item = listing["items"][0]
    shown = cli("evidence", "show", captured, item["id"], "--raw", "--by", "bob", binary=True)
    assert hashlib.sha256(shown.stdout).hexdigest() == item["sha256"]
    metadata = cli("evidence", "show", captured, item["sha256"][:10]).stdout
    assert f"sha256: {item['sha256']}" in metadata and "(on the worker)" in metadata
    custody = json.loads(cli("evidence", "show", captured, "--custody", "--json").stdout)
    assert [c["action"] for c in custody][-2:] == ["viewed", "viewed"] and custody[-2]["who"] == "bob"
    assert custody[-2]["detail"] == "raw"

    unknown = cli("evidence", "list", "pm-nope", ok=False)
    assert unknown.returncode == 1 and "no evidence for postmortem 'pm-nope'" in unknown.stderr
    no_item = cli("evidence", "show", captured, "no-such-item", ok=False)
    assert no_item.returncode == 1 and "`afterword evidence list ID` shows the item ids" in no_item.stderr


def test_verify_names_a_tampered_custody_line_and_manifest(cli: Any, captured: str, worker: Settings) -> None:
    assert "OK: " in cli("evidence", "verify", captured).stdout
    archive = archive_of(worker, captured)
    lines = archive.custody_path.read_text().splitlines()
    lines[1] = lines[1].replace('"collected"', '"deleted"')
    archive.custody_path.write_text("\n".join(lines) + "\n")
    failed = cli("evidence", "verify", captured, ok=False)
    assert failed.returncode == 1 and "custody-broken: custody line 3" in failed.stderr

    ref = archive.manifest_entries()[0].ref
    path = archive.store.path(ref)
    os.chmod(path, 0o644)
    path.write_text(path.read_text().replace('"size":', '"size": 1 ,"x":', 1))
    failed = cli("evidence", "verify", captured, ok=False)
    assert failed.returncode == 1 and f"manifest-changed: {ref}" in failed.stderr


def test_export_lands_on_this_machine_and_checks_with_sha256sum(cli: Any, captured: str, tmp_path: Path) -> None:
    out = tmp_path / "handover"
    cli("evidence", "export", captured, str(out), "--by", "legal@acme")
    check = subprocess.run(["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=out, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    custody = [json.loads(line) for line in (out / "custody.jsonl").read_text().splitlines()]
    assert custody[-1]["action"] == "exported" and custody[-1]["who"] == "legal@acme"
    assert custody[-1]["where"] == f"file://{socket.gethostname()}{out.resolve()}"
    assert (out / "manifests.jsonl").read_text().count("\n") == 1
    tar = tmp_path / "handover.tar.gz"
    cli("evidence", "export", captured, str(tar))
    with tarfile.open(tar) as archive:
        assert "handover/SHA256SUMS" in archive.getnames()
    assert cli("evidence", "export", captured, str(out), ok=False).returncode == 1  # never overwrite a copy


def test_export_refuses_evidence_that_does_not_verify(cli: Any, captured: str, worker: Settings,
                                                      tmp_path: Path) -> None:
    archive = archive_of(worker, captured)
    item = archive.load_manifest(archive.manifest_entries()[0].ref).items[0]
    path = archive.store.path(item.sha256)
    os.chmod(path, 0o644)
    path.write_bytes(b"not what was collected")
    refused = cli("evidence", "export", captured, str(tmp_path / "copy"), ok=False)
    assert refused.returncode == 1 and "refusing to export evidence that does not verify" in refused.stderr
    assert f"{item.id}" in refused.stderr


def test_hold_and_purge_run_on_the_worker(cli: Any, captured: str, worker: Settings) -> None:
    result = cli("evidence", "purge", "--older-than", "0s", "--dry-run")
    assert f"kept {captured}: retention runs until" in result.stdout
    assert cli("evidence", "purge", "--older-than", "soon", ok=False).returncode == 2
    cli("evidence", "hold", captured, "--reason", "matter 2026-17", "--by", "legal@acme")
    assert "legal hold" in cli("evidence", "list", captured).stdout
    assert archive_of(worker, captured).hold() is not None
    cli("evidence", "hold", captured, "--reason", "matter closed", "--release")
    again = cli("evidence", "hold", captured, "--reason", "twice", "--release", ok=False)
    assert again.returncode == 1 and "has no legal hold" in again.stderr

    # purged evidence: the commands say when and by whom, and its custody stays readable
    store = ContentStore(worker.store_dir)
    purge(worker.evidence_dir, store, timedelta(days=2), "ops", now=datetime.now(UTC) + timedelta(days=800))
    listed = cli("evidence", "list", captured, ok=False)
    assert listed.returncode == 1 and "was purged at" in listed.stderr and "by ops" in listed.stderr
    custody = json.loads(cli("evidence", "show", captured, "--custody", "--json").stdout)
    assert custody[-1]["action"] == "purged"


def test_timeline_without_its_workflow_notes_that_edits_are_not_applied(cli: Any, captured: str) -> None:
    shown = cli("evidence", "timeline", captured)
    assert "| Time (UTC) |" in shown.stdout and "people's timeline edits not applied" in shown.stderr
