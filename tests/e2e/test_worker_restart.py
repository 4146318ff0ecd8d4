"""End to end on the dev server: a worker process killed mid-lifecycle, started again, finishes the
postmortem with its deadlines still firing; refused updates leave no trace in history; list filters."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.client import Client

from afterword.client import Postmortems, Rejected
from afterword.evidence.blobs import ContentStore
from afterword.settings import Settings
from afterword.workflows.models import (
    ActionItemSpec,
    ActionType,
    Actor,
    AddActionRequest,
    ApproveRequest,
    AssignRequest,
    CompleteRequest,
    DraftSubmission,
    Milestone,
    ValidateRequest,
)
from tests.helpers import complete_draft, deadline, make_incident, make_rules, outbox, until

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio]
ROOT = Path(__file__).resolve().parents[2]


def start_worker(settings: Settings, address: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": address,
        "AFTERWORD_DATA_DIR": str(settings.data_dir),
        "AFTERWORD_TASK_QUEUE": settings.task_queue,
        "AFTERWORD_INTAKE_PORT": "0",
        "AFTERWORD_PAYLOAD_KEYS": settings.payload_keys or "",  # the deployment's key, whatever the data dir
    }
    return subprocess.Popen([sys.executable, str(ROOT / "worker.py"), "--no-intake"], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=open(settings.data_dir / "worker.log", "ab"))


@pytest.fixture
def worker_process(e2e_settings: Settings, dev_server: str) -> Iterator[list[subprocess.Popen[bytes]]]:
    processes: list[subprocess.Popen[bytes]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=20)


async def test_killed_worker_resumes_and_deadlines_still_fire(
    dev_server: str, dev_client: Client, e2e_settings: Settings, worker_process: list[subprocess.Popen[bytes]]
) -> None:
    pm = Postmortems(dev_client, e2e_settings)
    worker_process.append(start_worker(e2e_settings, dev_server))
    rules = make_rules(deadlines=[
        deadline("draft", Milestone.RESOLVED, Milestone.DRAFT_SUBMITTED, 12 / 3600),   # 12 s
        deadline("publish", Milestone.RESOLVED, Milestone.PUBLISHED, 3600),
    ])
    incident = make_incident(f"e2e-{uuid.uuid4().hex[:8]}", resolved=True, started=datetime.now(UTC))
    wid = (await pm.open(incident, rules)).workflow_id
    await pm.assign(wid, AssignRequest(by="mia", owner="olivia"))
    await until(pm, wid, lambda s: s.state == "drafting" and s.draft_ref is not None)
    await pm.add_action(wid, AddActionRequest(by="olivia", item=ActionItemSpec(
        title="Bound the pool size", owner="olivia", due=datetime.now(UTC) + timedelta(days=3),
        type=ActionType.PREVENT, success_criterion="CI rejects pool sizes below 10")))

    worker_process[0].send_signal(signal.SIGKILL)  # no clean shutdown: the process is gone
    worker_process[0].wait(timeout=10)
    await asyncio.sleep(14)  # the draft deadline passes while no worker is running

    worker_process.append(start_worker(e2e_settings, dev_server))
    status = await until(pm, wid, lambda s: any(d.name == "draft" and d.breached for d in s.deadlines))
    assert status.overdue

    def escalations() -> list[dict[str, object]]:
        return [n for n in outbox(e2e_settings.outbox_path) if n["postmortem_id"] == wid
                and n["kind"] == "escalation" and n["deadline"] == "draft"]

    for _ in range(100):
        if escalations():
            break
        await asyncio.sleep(0.1)
    assert len(escalations()) == 1

    ref = ContentStore(e2e_settings.store_dir).put_bytes(complete_draft().encode())
    await pm.submit_draft(wid, DraftSubmission(by="olivia", document_ref=ref))
    await pm.approve(wid, ApproveRequest(by="rita"))
    await pm.approve(wid, ApproveRequest(by="ravi"))
    await until(pm, wid, lambda s: bool(s.redaction))
    await pm.accept_redaction(wid, Actor(by="rita"))
    await until(pm, wid, lambda s: s.state == "tracking")
    item = pm.action_workflow_id(wid, "ai-1")
    await pm.complete_action(item, CompleteRequest(by="olivia"))
    await pm.validate_action(item, ValidateRequest(by="rita", evidence="CI run 42 rejects pool size 2"))
    status = await until(pm, wid, lambda s: s.state == "closed")
    assert not status.overdue


async def test_refused_update_writes_nothing_and_list_filters(
    dev_server: str, dev_client: Client, e2e_settings: Settings, worker_process: list[subprocess.Popen[bytes]]
) -> None:
    pm = Postmortems(dev_client, e2e_settings)
    worker_process.append(start_worker(e2e_settings, dev_server))
    # resolved an hour ago (make_incident's default): the 72 h draft deadline is ahead, so the overdue filter
    # must not list it
    wid = (await pm.open(make_incident(f"e2e-{uuid.uuid4().hex[:8]}", resolved=True), make_rules())).workflow_id
    await until(pm, wid, lambda s: s.state == "drafting" and s.draft_ref is not None)
    handle = dev_client.get_workflow_handle(wid)
    before = len((await handle.fetch_history()).events)
    with pytest.raises(Rejected, match="cannot approve while the postmortem is drafting"):
        await pm.approve(wid, ApproveRequest(by="rita"))
    with pytest.raises(Rejected, match="not in the policy's roster"):
        await pm.assign(wid, AssignRequest(by="mia", owner="mallory"))
    assert len((await handle.fetch_history()).events) == before

    query = "AfterwordState = 'drafting' AND AfterwordSeverity = 'SEV2' AND AfterwordService = 'checkout'"
    for _ in range(50):  # visibility is eventually consistent
        rows = await pm.list(query)
        if any(r.workflow_id == wid for r in rows):
            break
        await asyncio.sleep(0.2)
    assert any(r.workflow_id == wid and r.state == "drafting" for r in rows)
    assert not any(r.workflow_id == wid for r in await pm.list("AfterwordOverdue = true"))
    with pytest.raises(Rejected, match="list query is not valid"):
        await pm.list("AfterwordState = ")
