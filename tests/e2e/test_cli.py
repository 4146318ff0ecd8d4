"""The `afterword` command as people use it: the installed console script against a running worker, from a
machine whose data directory is empty and not the worker's (the CLI needs only Temporal)."""

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


def cli_runner(settings: Settings, address: str, cwd: Path) -> Any:
    """`afterword ARGS...` as a person runs it on another machine: an empty data directory of its own
    (AFTERWORD_DATA_DIR under `cwd`; the fixtures check it is never created), Temporal's address, the
    worker's task queue and payload key. `binary`: stdout as bytes."""
    env = {**os.environ, "TEMPORAL_ADDRESS": address, "AFTERWORD_DATA_DIR": str(cwd / "cli-data"),
           "AFTERWORD_TASK_QUEUE": settings.task_queue, "AFTERWORD_USER": "alice",
           "AFTERWORD_PAYLOAD_KEYS": settings.payload_keys or ""}  # the deployment's key, handed over

    def run(*args: str, ok: bool = True, binary: bool = False) -> subprocess.CompletedProcess[Any]:
        result = subprocess.run([AFTERWORD, *args], env=env, cwd=cwd, capture_output=True, text=not binary,
                                timeout=90)
        if ok:
            assert result.returncode == 0, f"afterword {' '.join(args)}: {result.stdout!r}{result.stderr!r}"
        return result

    return run


@pytest.fixture
def cli(e2e_settings: Settings, dev_server: str, dev_client: Client, tmp_path: Path) -> Iterator[Any]:
    worker = start_worker(e2e_settings, dev_server)
    yield cli_runner(e2e_settings, dev_server, tmp_path)
    worker.terminate()
    worker.wait(timeout=20)
    assert not (tmp_path / "cli-data").exists(), "the CLI wrote to a data directory of its own"


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


WRITTEN = {
    "what happened": "Disk usage on db-3 reached 100% during the nightly compaction and writes failed for 25 minutes.",
    "who was affected": "About 1,200 order writes failed and were retried by the clients; no data was lost.",
    "contributing factors": "Compaction needs twice the table size in free space, and the disk alert only "
    "fired at 95%, which left less headroom than one compaction takes.",
    "how and when": "The disk-full alert fired at 09:30 UTC, six minutes after writes started to fail.",
    "what restored": "Removing expired WAL segments freed 40% of the disk and writes resumed at once.",
}


def written(draft: str, item_row: str) -> str:
    """The owner's edit of the rendered draft: every prompt replaced by text, the action item listed."""
    lines = []
    for line in draft.splitlines():
        if line.startswith("<fill in"):
            line = next((text for cue, text in WRITTEN.items() if cue in line),
                        "The on-call engineers followed the storage runbook; it held up well.")
        lines.append(line)
        if line.startswith("|---|---|---|---|---|---|"):
            lines.append(item_row)
    return "\n".join(lines) + "\n"


def test_a_postmortem_goes_from_start_to_closed_from_a_machine_without_the_workers_disk(
    cli: Any, tmp_path: Path, e2e_settings: Settings
) -> None:
    wid = json.loads(cli("start", "--title", "Disk full on db-3", "--service", "db", "--label", "severity=high",
                         "--key", f"far-{uuid.uuid4().hex[:8]}", "--json").stdout)["workflow_id"]
    cli("assign", wid, "alice", "--by", "bob")
    wait_status(cli, wid, lambda s: s["state"] == "awaiting_resolution")

    # evidence from this machine travels to the worker, and the postmortem's own summary follows at once
    notes = tmp_path / "bridge-notes.txt"
    notes.write_text("09:31 compaction paused; 09:44 WAL segments removed\n")
    added = json.loads(cli("evidence", "add", wid, str(notes), "--note", "bridge call notes",
                           "--at", "2026-11-20T09:44:00Z", "--json").stdout)
    status = json.loads(cli("status", wid, "--json").stdout)
    assert status["evidence"]["manifest_ref"] == added["manifest_ref"] and status["evidence"]["items"] == added["items"]
    listing = json.loads(cli("evidence", "list", wid, "--json").stdout)
    assert listing["manifest_ref"] == added["manifest_ref"]
    (item,) = [i for i in listing["items"] if i["source"] == "attachment"]
    raw = cli("evidence", "show", wid, item["id"], "--raw", binary=True).stdout
    assert raw == notes.read_bytes()
    assert "OK:" in cli("evidence", "verify", wid).stdout

    cli("resolve", wid)
    wait_status(cli, wid, lambda s: s["state"] == "drafting" and s["draft_ref"])
    due = (datetime.now(UTC) + timedelta(days=14)).date().isoformat()
    cli("action", "add", wid, "--title", "Alert on disk usage above 80%", "--owner", "alice", "--due", due,
        "--type", "prevent", "--criterion", "the staging disk alert fires when usage passes 80%")

    draft = tmp_path / "draft.md"
    cli("draft", "show", wid, "--out", str(draft))
    rendered = draft.read_text()
    assert "## Root cause analysis" in rendered and "<fill in" in rendered
    row = (f"| prevent | Alert on disk usage above 80% | alice | {due} | the staging disk alert fires when usage "
           "passes 80% | ai-1 |")
    draft.write_text(written(rendered, row))
    submitted = cli("draft", "submit", wid, str(draft), "--json")
    assert json.loads(submitted.stdout)["state"] == "in_review", submitted.stdout
    assert cli("draft", "show", wid).stdout == draft.read_text()  # the worker holds what this machine sent

    cli("approve", wid, "--by", "bob", "--comment", "clear and blameless")
    wait_status(cli, wid, lambda s: bool(s["redaction"]))
    cli("accept-redaction", wid, "--by", "bob")
    wait_status(cli, wid, lambda s: s["state"] == "tracking")
    cli("action", "complete", wid, "ai-1", "--by", "alice")
    cli("action", "validate", wid, "ai-1", "--by", "bob", "--evidence", "staging alert fired at 81%")
    closed = wait_status(cli, wid, lambda s: s["state"] == "closed")
    assert closed["publication"]
    final = json.loads(cli("evidence", "list", wid, "--json").stdout)  # the resolution capture sealed one more
    assert closed["evidence"]["manifest_ref"] == final["manifest_ref"] and final["version"] > listing["version"]
    assert item["sha256"] in {i["sha256"] for i in final["items"]}

    # a closed postmortem's evidence is still read and exported from here
    export = tmp_path / "handover"
    cli("evidence", "export", wid, str(export), "--by", "legal@acme")
    check = subprocess.run(["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=export, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    custody = [json.loads(line) for line in (export / "custody.jsonl").read_text().splitlines()]
    assert custody[-1]["action"] == "exported" and custody[-1]["where"].endswith(str(export.resolve()))


def test_what_travels_is_capped_with_a_reason(cli: Any, tmp_path: Path) -> None:
    big = tmp_path / "capture.pcap"
    big.write_bytes(b"\0" * (1024 * 1024 + 1))
    refused = cli("evidence", "add", "pm-default-anything", str(big), "--note", "packet capture", ok=False)
    assert refused.returncode == 1
    assert "is 1.0 MiB; an attachment may be at most 1.0 MiB" in refused.stderr and "sha256" in refused.stderr
    long = tmp_path / "draft.md"
    long.write_text("# Postmortem\n\n" + "A sentence of the timeline, written out at length.\n" * 11_000)
    refused = cli("draft", "submit", "pm-default-anything", str(long), ok=False)
    assert refused.returncode == 1 and "a draft may be at most 512 KiB" in refused.stderr
