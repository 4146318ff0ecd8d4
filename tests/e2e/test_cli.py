"""The `afterword` command as people use it: the installed console script against a running worker."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client

from afterword.settings import Settings
from tests.e2e.test_worker_restart import start_worker

pytestmark = pytest.mark.e2e
AFTERWORD = shutil.which("afterword", path=str(Path(sys.executable).parent)) or "afterword"


@pytest.fixture
def cli(e2e_settings: Settings, dev_server: str, dev_client: Client, tmp_path: Path) -> Iterator[Any]:
    worker = start_worker(e2e_settings, dev_server)
    env = {**os.environ, "TEMPORAL_ADDRESS": dev_server, "AFTERWORD_DATA_DIR": str(e2e_settings.data_dir),
           "AFTERWORD_TASK_QUEUE": e2e_settings.task_queue, "AFTERWORD_USER": "alice"}

    def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([AFTERWORD, *args], env=env, cwd=tmp_path, capture_output=True, text=True,
                                timeout=60)
        if ok:
            assert result.returncode == 0, f"afterword {' '.join(args)}: {result.stdout}{result.stderr}"
        return result

    yield run
    worker.terminate()
    worker.wait(timeout=20)


def wait_status(cli: Any, wid: str, check: Any, within: float = 30.0) -> dict[str, Any]:
    end = time.monotonic() + within
    while True:
        status: dict[str, Any] = json.loads(cli("status", wid, "--json").stdout)
        if check(status):
            return status
        if time.monotonic() > end:
            raise AssertionError(f"{wid} is {status['state']}: {status['open_gates']}")
        time.sleep(0.3)


def test_a_person_drives_a_postmortem_from_the_command_line(cli: Any, tmp_path: Path) -> None:
    key = f"cli-{uuid.uuid4().hex[:8]}"
    opened = json.loads(cli("start", "--title", "Disk full on db-3", "--service", "db", "--label", "severity=high",
                            "--key", key, "--json").stdout)
    wid = opened["workflow_id"]
    assert opened["created"] and opened["severity"] == "SEV2" and opened["requirement"] == "required"
    again = cli("start", "--title", "Disk full on db-3", "--label", "severity=high", "--key", key)
    assert f"already open: {wid}" in again.stdout

    none = cli("start", "--title", "A blip", "--label", "severity=low", ok=False)
    assert none.returncode == 1 and "needs no postmortem" in none.stderr and "--force" in none.stderr

    cli("assign", wid, "alice", "--by", "bob")
    refused = cli("approve", wid, "--by", "bob", ok=False)
    assert refused.returncode == 1
    assert "refused: cannot approve while the postmortem is awaiting_resolution" in refused.stderr

    cli("resolve", wid)
    status = wait_status(cli, wid, lambda s: s["state"] == "drafting" and s["draft_ref"])
    assert [d["name"] for d in status["deadlines"] if d["name"] == "draft"]

    cli("timeline", "add", wid, "--at", "2026-11-20T09:30:00Z", "--event", "Disk usage alert acknowledged")
    shown = cli("evidence", "timeline", wid)  # people's edits are applied to the reconstructed timeline
    assert "Disk usage alert acknowledged" in shown.stdout, shown.stdout + shown.stderr

    draft = tmp_path / "draft.md"
    cli("draft", "show", wid, "--out", str(draft))
    assert "## Root cause analysis" in draft.read_text()
    submitted = cli("draft", "submit", wid, str(draft), ok=False)  # the rendered prompts are not content
    assert submitted.returncode == 1 and "drafting" in submitted.stdout

    added = cli("action", "add", wid, "--title", "Alert on disk usage above 80%", "--owner", "alice", "--due", "14d",
                "--type", "prevent", "--criterion", "an alert fires in staging when the disk passes 80%")
    assert "ai-1 tracked" in added.stdout
    bad_type = cli("action", "add", wid, "--title", "x y z", "--owner", "alice", "--due", "14d", "--type", "blame",
                   "--criterion", "abc", ok=False)
    assert bad_type.returncode == 2 and "'blame' is not one of" in bad_type.stderr
    past = cli("action", "add", wid, "--title", "Too late", "--owner", "alice", "--due", "2020-01-01",
               "--type", "process", "--criterion", "something measurable", ok=False)
    assert "is in the past" in past.stderr

    listed = json.loads(cli("list", "--state", "drafting", "--severity", "SEV2", "--json").stdout)
    assert wid in [row["workflow_id"] for row in listed]

    not_allowed = cli("waive", wid, "--by", "carol", "--reason", "the disk alert covers it already", ok=False)
    assert "'carol' may not waive postmortems" in not_allowed.stderr
    cli("waive", wid, "--by", "bob", "--reason", "duplicate of the storage incident reviewed last week")
    wait_status(cli, wid, lambda s: s["state"] == "waived")

    alert = Path(__file__).resolve().parents[2] / "examples" / "alerts" / "alertmanager-firing.json"
    replayed = json.loads(cli("start", "--from-alert", str(alert), "--json").stdout)
    assert replayed["workflow_id"].startswith("pm-default-") and replayed["action"] in ("started", "matched")
    assert cli("start", ok=False).returncode == 2  # neither --title nor --from-alert

    missing = cli("status", "pm-default-no-such-incident", ok=False)
    assert missing.returncode == 1 and "afterword list" in missing.stderr


async def test_a_paced_resolution_says_when_its_draft_comes(cli: Any, e2e_settings: Settings, dev_client: Client) -> None:
    from afterword.client import Postmortems
    from afterword.workflows.models import ResolveRequest

    opened = json.loads(cli("start", "--title", "Queue backlog", "--service", "queue", "--label", "severity=high",
                            "--key", f"cli-{uuid.uuid4().hex[:8]}", "--json").stdout)
    wid = opened["workflow_id"]
    wait_status(cli, wid, lambda s: s["state"] == "awaiting_resolution")
    # as the intake resolves it in a storm: the draft clock runs, the capture and the draft wait 10 minutes
    paced = ResolveRequest(by="intake:alertmanager", steps_delay=timedelta(minutes=10))
    await Postmortems(dev_client, e2e_settings).record_resolution(wid, paced)
    status = wait_status(cli, wid, lambda s: s["state"] == "drafting")
    due = datetime.fromisoformat(status["resolution_steps_at"]).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    assert f"storm pacing: evidence capture and draft at {due}" in cli("status", wid).stdout
    shown = cli("draft", "show", wid, ok=False)
    assert shown.returncode == 1 and f"no draft yet (it is drafting; storm pacing renders it at {due})" in shown.stderr
    cli("waive", wid, "--by", "bob", "--reason", "a test of storm pacing; nothing happened to anyone")
