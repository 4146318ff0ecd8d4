"""Record the histories the replay test replays: `python tests/histories/record.py [VERSION]`.

Runs the demo postmortem (every stage, two action items) and a waived one on a throwaway embedded
server with an in-process worker, then writes each workflow's history as JSON beside this file.
VERSION (default v1) names the files: `record.py v2` writes `v2-*` files.

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
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from afterword.client import Postmortems  # noqa: E402
from afterword.connection import connect, prepare_namespace  # noqa: E402
from afterword.examples.demo import run_demo  # noqa: E402
from afterword.server import EmbeddedServer  # noqa: E402
from afterword.settings import Settings  # noqa: E402
from afterword.worker import run_worker  # noqa: E402
from afterword.workflows.models import Incident, WaiveRequest  # noqa: E402


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def main(version: str) -> None:
    from afterword.policies import load_org_policy, rules_for

    with tempfile.TemporaryDirectory() as data:
        # a relative data directory keeps this machine's paths out of the recorded histories
        os.chdir(data)
        settings = Settings(data_dir=Path(".afterword"), embedded_port=_port(), embedded_ui_port=_port(), intake_port=0,
                            task_queue=f"record-{uuid.uuid4().hex[:6]}")
        async with EmbeddedServer(settings, headless=True) as address:
            client = await connect(settings, address)
            await prepare_namespace(client, settings)
            async with run_worker(client, settings):
                status = await run_demo(client, settings, org="record")
                ids = [status.postmortem_id] + [i.workflow_id for i in status.action_items]
                pm = Postmortems(client, settings)
                incident = Incident(org="record", key=f"waived-{uuid.uuid4().hex[:6]}", title="Brief cache miss spike",
                                    severity="SEV3", service="cache", started_at=datetime.now(UTC))
                rules = rules_for(load_org_policy("record", None), incident)
                waived = (await pm.open(incident, rules)).workflow_id
                await pm.wait_for_state(waived, {"awaiting_resolution"})
                await pm.waive(waived, WaiveRequest(by="bob", reason="covered by the cache runbook; no user impact"))
                ids.append(waived)
                for wid in ids:
                    history = await client.get_workflow_handle(wid).fetch_history()
                    kind = "action-item" if ".ai-" in wid else ("waived" if wid == waived else "postmortem")
                    suffix = wid.rsplit(".", 1)[1] if kind == "action-item" else ""
                    # the file name carries the workflow id, which replay needs (child ids derive from it)
                    name = f"{version}-{kind}{'-' + suffix if suffix else ''}--{wid}.json"
                    (HERE / name).write_text(history.to_json())
                    print(f"recorded {name} ({len(history.events)} events)")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "v1"))
