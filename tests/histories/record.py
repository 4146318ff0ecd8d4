"""Record the histories the replay test replays: `python tests/histories/record.py [VERSION [SCENARIO ...]]`.

Runs, on a throwaway embedded server with an in-process worker, the scenarios: `demo` (a postmortem
through every stage, with two action items), `waived` (one waived before resolution) and
`paced-resolution` (one resolved by the intake in a storm, its resolution steps given a delay, waived
once its draft is rendered); then writes each workflow's history as JSON beside this file. VERSION
(default v1) names the files: `record.py v2` writes `v2-*` files. Without SCENARIOs, all of them.

Until the first release, nothing runs these workflows anywhere, so `v1` is re-recorded (old `v1` files
deleted first) whenever workflow commands change. From the first release on, never delete a stored
history: guard each command change with `workflow.patched`, record the new behaviour as the next
version beside the old files, and let the replay test prove that both still replay.
"""

from __future__ import annotations

import asyncio
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
sys.path.insert(0, str(HERE.parents[1]))

from afterword.client import Postmortems  # noqa: E402
from afterword.connection import connect, prepare_namespace  # noqa: E402
from afterword.examples.demo import run_demo  # noqa: E402
from afterword.server import EmbeddedServer  # noqa: E402
from afterword.settings import Settings  # noqa: E402
from afterword.worker import run_worker  # noqa: E402
from afterword.workflows.models import Incident, PostmortemRules, ResolveRequest, WaiveRequest  # noqa: E402


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


RECORDERS: dict[str, Callable[[Client, Settings], Awaitable[list[tuple[str, str]]]]] = {
    "demo": demo, "waived": waived, "paced-resolution": paced_resolution,
}


async def main(version: str, scenarios: list[str]) -> None:
    with tempfile.TemporaryDirectory() as data:
        # a relative data directory keeps this machine's paths out of the recorded histories
        os.chdir(data)
        settings = Settings(data_dir=Path(".afterword"), embedded_port=_port(), embedded_ui_port=_port(), intake_port=0,
                            task_queue=f"record-{uuid.uuid4().hex[:6]}")
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
