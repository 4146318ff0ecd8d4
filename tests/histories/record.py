"""Record the histories the replay test replays: `python tests/histories/record.py [VERSION [SCENARIO ...]]`.

Runs, on a throwaway embedded server with an in-process worker, the scenarios: `demo` (a postmortem
through every stage, with two action items), `waived` (one waived before resolution) and
`paced-resolution` (one resolved by the intake in a storm, its resolution steps given a delay, waived
once its draft is rendered) and `remote-client` (what a CLI far from the worker's disk does: attach
evidence, read the draft, submit one as text, and one store request of each kind); then writes each workflow's history as JSON beside this file. VERSION
(default v1) names the files: `record.py v2` writes `v2-*` files. Without SCENARIOs, all of them.

Until the first release, nothing runs these workflows anywhere, so `v1` is re-recorded (old `v1` files
deleted first) whenever workflow commands change. From the first release on, never delete a stored
history: guard each command change with `workflow.patched`, record the new behaviour as the next
version beside the old files, and let the replay test prove that both still replay.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio.client import Client

HERE = Path(__file__).resolve().parent
KEYRING = HERE / "payload-keys"
sys.path.insert(0, str(HERE.parents[1]))

from afterword.client import Postmortems, Rejected  # noqa: E402
from afterword.examples.demo import run_demo  # noqa: E402
from afterword.runtime.connection import connect, prepare_namespace  # noqa: E402
from afterword.runtime.dev_server import EmbeddedServer  # noqa: E402
from afterword.settings import Settings  # noqa: E402
from afterword.store_client import WorkerStores  # noqa: E402
from afterword.worker import run_worker  # noqa: E402
from afterword.workflows.models import (  # noqa: E402
    AssignRequest,
    DraftSubmission,
    EvidenceAttachment,
    Incident,
    PostmortemRules,
    ResolveRequest,
    WaiveRequest,
)
from afterword.workflows.store_requests import (  # noqa: E402
    BuildTimeline,
    EvidenceListing,
    EvidenceShown,
    ExportPlan,
    ExportRecorded,
    HoldChanged,
    HoldEvidence,
    ListEvidence,
    PlanExport,
    PurgeEvidence,
    PurgeReport,
    RecordExport,
    ShowEvidence,
    Timeline,
    Verified,
    VerifyEvidence,
)


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def demo(client: Client, settings: Settings) -> list[tuple[str, str]]:
    status = await run_demo(client, settings, org="record")
    items = [(i.workflow_id, "action-item-" + i.workflow_id.rsplit(".", 1)[1]) for i in status.action_items]
    return [(status.postmortem_id, "postmortem"), *items]


def _incident(key: str) -> tuple[Incident, PostmortemRules]:
    from afterword.policies import load_org_policy, rules_for

    incident = Incident(org="record", key=f"{key}-{uuid.uuid4().hex[:6]}", title="Brief cache miss spike",
                        severity="SEV3", service="cache", started_at=datetime.now(UTC))
    return incident, rules_for(load_org_policy("record", None), incident)


async def waived(client: Client, settings: Settings) -> list[tuple[str, str]]:
    pm = Postmortems(client, settings)
    wid = (await pm.open(*_incident("waived"))).workflow_id
    await pm.wait_for_state(wid, {"awaiting_resolution"})
    await pm.waive(wid, WaiveRequest(by="bob", reason="covered by the cache runbook; no user impact"))
    return [(wid, "waived")]


async def paced_resolution(client: Client, settings: Settings) -> list[tuple[str, str]]:
    pm = Postmortems(client, settings)
    wid = (await pm.open(*_incident("paced"))).workflow_id
    await pm.wait_for_state(wid, {"awaiting_resolution"})
    await pm.record_resolution(wid, ResolveRequest(by="intake:alertmanager", steps_delay=timedelta(seconds=2)))
    await pm.wait_until(wid, lambda s: s.draft_ref is not None, "the draft, after the paced resolution steps")
    await pm.waive(wid, WaiveRequest(by="bob", reason="covered by the cache runbook; no user impact"))
    await pm.wait_for_state(wid, {"waived"})
    return [(wid, "paced-resolution")]


async def remote_client(client: Client, settings: Settings) -> list[tuple[str, str]]:
    pm, stores = Postmortems(client, settings), WorkerStores(client, settings)
    wid = (await pm.open(*_incident("remote"))).workflow_id
    await pm.wait_for_state(wid, {"awaiting_resolution"})
    await pm.assign(wid, AssignRequest(by="bob", owner="alice"))
    await pm.add_evidence(wid, EvidenceAttachment(by="alice", name="notes.txt", data=b"bridge call notes",
                                                  note="the bridge call's notes"))
    await pm.resolve(wid, ResolveRequest(by="alice"))
    status = await pm.wait_until(wid, lambda s: s.draft_ref is not None, "the rendered draft")
    draft = await stores.read(wid, ref=status.draft_ref)
    await pm.submit_draft(wid, DraftSubmission(by="alice", text=draft.decode()))  # refused: prompts unfilled
    listing = await stores.call(ListEvidence(postmortem_id=wid), EvidenceListing)
    await stores.call(ShowEvidence(postmortem_id=wid, item=listing.manifest.items[0].id, by="bob"), EvidenceShown)
    await stores.call(BuildTimeline(postmortem_id=wid), Timeline)
    await stores.call(VerifyEvidence(postmortem_id=wid, by="bob"), Verified)
    plan = await stores.call(PlanExport(postmortem_id=wid, by="bob"), ExportPlan)
    await stores.call(RecordExport(postmortem_id=wid, by="bob", manifest_ref=plan.manifest_ref,
                                   where="file://laptop/tmp/export", detail="recorded for replay"), ExportRecorded)
    await stores.call(HoldEvidence(postmortem_id=wid, by="legal", reason="matter 1"), HoldChanged)
    await stores.call(PurgeEvidence(older_than=timedelta(days=400), by="ops", dry_run=True), PurgeReport)
    refused = ShowEvidence(postmortem_id=wid, item="no-such-item", by="bob")
    with contextlib.suppress(Rejected):  # a refusal is an answer too: the run completes
        await stores.call(refused, EvidenceShown)
    await pm.waive(wid, WaiveRequest(by="bob", reason="recorded to replay; no user impact"))
    await pm.wait_for_state(wid, {"waived"})
    runs = [(wid, "remote-client")]
    stored = []
    for _ in range(100):  # visibility lags behind the runs a little
        stored = [run.id async for run in client.list_workflows("WorkflowType = 'StoreAccessWorkflow'")]
        if len(stored) >= 10:
            break
        await asyncio.sleep(0.2)
    for run_id in sorted(stored):
        op = run_id.split(".store-", 1)[1].rsplit("-", 1)[0]
        runs.append((run_id, "store-" + op.replace("_", "-")))
    return runs


RECORDERS: dict[str, Callable[[Client, Settings], Awaitable[list[tuple[str, str]]]]] = {
    "demo": demo, "waived": waived, "paced-resolution": paced_resolution, "remote-client": remote_client,
}


async def main(version: str, scenarios: list[str]) -> None:
    with tempfile.TemporaryDirectory() as data:
        # a relative data directory keeps this machine's paths out of the recorded histories
        os.chdir(data)
        # histories are recorded as a worker writes them, sealed by the payload codec (with the test keyring)
        settings = Settings(data_dir=Path(".afterword"), embedded_port=_port(), embedded_ui_port=_port(), intake_port=0,
                            task_queue=f"record-{uuid.uuid4().hex[:6]}", payload_keys=f"file:{KEYRING}")
        async with EmbeddedServer(settings, headless=True) as address:
            client = await connect(settings, address)
            await prepare_namespace(client, settings)
            async with run_worker(client, settings):
                recorded = [run for scenario in scenarios for run in await RECORDERS[scenario](client, settings)]
                for wid, kind in recorded:
                    history = await client.get_workflow_handle(wid).fetch_history()
                    # the file name carries the workflow id, which replay needs (child ids derive from it)
                    name = f"{version}-{kind}--{wid}.json"
                    (HERE / name).write_text(history.to_json())
                    print(f"recorded {name} ({len(history.events)} events)")


if __name__ == "__main__":
    chosen = sys.argv[2:] or list(RECORDERS)
    unknown = [name for name in chosen if name not in RECORDERS]
    if unknown:
        sys.exit(f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(RECORDERS)}")
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "v1", chosen))
