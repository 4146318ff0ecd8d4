"""The secret sweep: a lifecycle whose alert and draft carry planted secrets, on `python worker.py` as
people run it; then everything afterword wrote outside the evidence store is searched, and no secret is
found in clear: the archive (files and git history), the logs, the outbox, the draft working copies, the
search attributes, what the CLI prints, and the raw Temporal history as anyone reaching the server reads
it without the key (`temporal workflow show -o json`) — the server's database file included.

With the key, through the codec endpoint the worker serves, the same history reads in full.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from afterword.client import Postmortems, Rejected
from afterword.examples.demo import ROOT_CAUSE, written_draft
from afterword.runtime.connection import connect
from afterword.runtime.dev_server import find_temporal_binary, free_port
from afterword.settings import Settings
from afterword.store_client import WorkerStores
from afterword.workflows.models import Actor, ApproveRequest, AssignRequest, DraftSubmission, ResolveRequest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
AWS_KEY = "AKIA2E7XQ4HNB6TVK5LZ"
TOKEN = "ghp_R7cT2mV9xQ4bN8kL1pZ6wS3yH5dF0gJ2aE7u"
PASSWORD = "Sweep-Pa55w0rd-2026"
SECRETS = (AWS_KEY, TOKEN, PASSWORD)
MARKER = "ledger reconciliation stalled"  # the title's words around the key: readable with the key

POLICY = """org = "sweep"
name = "sweep"
extends = "default"

[deadlines.owner]  # breached at once: its escalation is a notification carrying the title
after = "triggered"
until = "owner_assigned"
within = "3s"
"""


def _readings(text: str) -> Iterator[str]:
    """`text`, and every base64 run in it decoded (payload data in history JSON is base64)."""
    yield text
    for blob in re.findall(r"[A-Za-z0-9+/]{16,}={0,2}", text):
        try:
            yield base64.b64decode(blob + "=" * (-len(blob) % 4)).decode("utf-8", "ignore")
        except ValueError:
            continue


def _found_in(text: str) -> list[str]:
    """The planted secrets in `text`, also where they hide inside base64."""
    return sorted({s for reading in _readings(text) for s in SECRETS if s in reading})


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[tuple[Settings, dict[str, str], Path, Path]]:
    data, policies = tmp_path / "data", tmp_path / "policies"
    policies.mkdir()
    (policies / "sweep.toml").write_text(POLICY)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AFTERWORD_", "TEMPORAL_"))}
    env.update(
        AFTERWORD_DATA_DIR=str(data), AFTERWORD_POLICY_DIR=str(policies), AFTERWORD_ORG="sweep",
        AFTERWORD_TEMPORAL_PORT=str(free_port()), AFTERWORD_UI_PORT=str(free_port()),
        AFTERWORD_EMBEDDED_METRICS_PORT=str(free_port()), AFTERWORD_INTAKE_PORT=str(free_port()),
        AFTERWORD_CODEC_PORT=str(free_port()), PYTHONUNBUFFERED="1",
    )
    stdout, stderr = tmp_path / "worker.out", tmp_path / "worker.err"
    with stdout.open("w") as out, stderr.open("w") as err:
        process = subprocess.Popen([sys.executable, str(ROOT / "worker.py"), "--headless"], env=env, stdout=out,
                                   stderr=err, cwd=tmp_path)
        try:
            deadline = datetime.now(UTC) + timedelta(seconds=90)
            while "afterword worker ready" not in stdout.read_text():
                assert process.poll() is None and datetime.now(UTC) < deadline, stderr.read_text()
                subprocess.run(["sleep", "0.2"], check=True)
            settings = Settings.from_env(env)
            yield settings, env, stdout, stderr
        finally:
            process.terminate()
            process.wait(timeout=30)


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-c", "from afterword.cli import entry; entry()", *args], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


def _temporal(settings: Settings, *args: str) -> str:
    done = subprocess.run([str(find_temporal_binary()), *args, "--address", f"127.0.0.1:{settings.embedded_port}",
                           "--namespace", settings.namespace], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


async def test_no_planted_secret_is_found_in_clear_outside_the_evidence_store(worker) -> None:
    settings, env, stdout, stderr = worker
    alert = {
        "schema": "afterword.alert/v1", "key": "sweep-1", "status": "firing", "severity": "SEV2",
        "title": f"Nightly {MARKER} (deploy key {AWS_KEY} rejected)", "service": "ledger",
        "annotations": {"runbook": f"re-run with GITHUB_TOKEN={TOKEN}"},
        "started_at": (datetime.now(UTC) - timedelta(minutes=30)).isoformat(),
        "description": "The reconciliation job exceeded its window.",
    }
    intake = f"http://127.0.0.1:{settings.intake_port}/v1/alerts/generic"
    async with httpx.AsyncClient() as http:
        accepted = await http.post(intake, json=alert)
    assert accepted.status_code in (200, 201, 202), accepted.text
    wid = accepted.json()["workflow_id"]

    client = await connect(settings)
    pm, stores = Postmortems(client, settings), WorkerStores(client, settings)
    outbox = settings.outbox_path
    await pm.wait_until(wid, lambda s: any(d.breached for d in s.deadlines), "the owner deadline's escalation")
    await pm.assign(wid, AssignRequest(by="sweep", owner="alice"))
    await pm.resolve(wid, ResolveRequest(by="sweep"))
    status = await pm.wait_until(wid, lambda s: s.state == "drafting" and s.draft_ref, "a rendered draft")
    rendered = (await stores.read(wid, ref=status.draft_ref)).decode()
    draft = written_draft(rendered, ROOT_CAUSE).replace(
        "## Resolution\n\n", f'## Resolution\n\nThe rollback job logged in with password = "{PASSWORD}". ', 1
    )
    draft = re.sub(r"(## Action items\n\n)(.*?)(?=\n## )",
                   r"\1None: the reconciliation window was raised in the same change.\n", draft, count=1, flags=re.S)
    assert PASSWORD in draft
    result = await pm.submit_draft(wid, DraftSubmission(by="alice", text=draft))
    assert result.state == "in_review", [f.message for f in result.findings]
    for reviewer in ("bob", "carol"):
        try:
            await pm.approve(wid, ApproveRequest(by=reviewer, comment="clear"))
        except Rejected:
            break
    await pm.wait_until(wid, lambda s: bool(s.redaction), "the redaction reports")
    await pm.accept_redaction(wid, Actor(by="bob"))
    status = await pm.wait_until(wid, lambda s: s.publication is not None, "publication")

    leaks: dict[str, list[str]] = {}

    def sweep(where: str, text: str) -> None:
        if found := _found_in(text):
            leaks[where] = found

    data = settings.data_dir
    archive = data / "archive"
    for path in archive.rglob("*"):
        if path.is_file() and ".git" not in path.parts:
            sweep(f"archive {path.relative_to(archive)}", path.read_text(errors="replace"))
    git_log = subprocess.run(["git", "-C", str(archive), "log", "--all", "-p", "--format=%H%n%B"],
                             capture_output=True, text=True, check=True).stdout
    assert MARKER in git_log  # the message is there, redacted, not dropped
    sweep("archive git history", git_log)
    assert outbox.is_file() and MARKER in outbox.read_text()
    sweep("outbox", outbox.read_text())
    for path in (data / "drafts").glob("*"):
        sweep(f"draft working copy {path.name}", path.read_text())
    sweep("worker stdout", stdout.read_text())
    sweep("worker log", stderr.read_text())
    sweep("embedded server log", (data / "temporal-server.log").read_text(errors="replace"))

    ids = [json.loads(line)["execution"]["workflowId"]
           for line in _temporal(settings, "workflow", "list", "-o", "jsonl").splitlines() if line.strip()]
    assert wid in ids
    sweep("search attributes (workflow list)", _temporal(settings, "workflow", "list", "-o", "jsonl"))
    async for listed_wf in client.list_workflows():
        sweep(f"search attributes of {listed_wf.id}", str(listed_wf.typed_search_attributes))
    for workflow_id in ids:
        sweep(f"history of {workflow_id} without the key",
              _temporal(settings, "workflow", "show", "-w", workflow_id, "-o", "json"))
    for name in ("temporal.db", "temporal.db-wal"):
        if (data / name).exists():
            sweep(f"server database {name}", (data / name).read_bytes().decode("latin-1"))

    sweep("afterword status", _cli(env, "status", wid, "--audit"))
    sweep("afterword status --json", _cli(env, "status", wid, "--json"))
    sweep("afterword list", _cli(env, "list"))
    sweep("afterword draft show", _cli(env, "draft", "show", wid))
    assert leaks == {}

    # with the key: the codec endpoint the worker serves opens the same history for the `temporal` CLI
    codec = f"http://127.0.0.1:{settings.codec_port}"
    readable = _temporal(settings, "workflow", "show", "-w", wid, "-o", "json", "--codec-endpoint", codec)
    assert any(MARKER in reading for reading in _readings(readable))
    assert AWS_KEY in _found_in(readable)
