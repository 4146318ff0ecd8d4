"""Complete postmortem lifecycles per second on the embedded dev server, against a bare Temporal baseline.

    python benchmarks/lifecycle.py [--lifecycles 30] [--concurrency 10] [--rounds 3]

Each lifecycle: open (resolved incident) -> owner -> three action items -> draft submitted and checked ->
approved -> redaction accepted -> published -> each item completed and validated -> closed.
The baseline, in the same run on the same server and worker process, is a bare workflow that performs
the same number of activities, timers, updates and child workflows (children that take two updates, keep
two timers and signal their parent after each update, as action items do), driven by the same client calls
and the same polling; its activities do nothing, and it keeps no search attributes. The ratio
lifecycles/s over baseline/s says what afterword's own work costs on top of Temporal.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio.client import Client

# The workflow sandbox re-imports workflow modules for every run; with bytecode writing off
# (PYTHONDONTWRITEBYTECODE) each run would compile them from source again, which no deployment does.
sys.dont_write_bytecode = False
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from baseline_workflows import BareChild, BareInput, BareParent, Step, bare_activity

from afterword.client import Postmortems
from afterword.evidence.blobs import ContentStore
from afterword.examples.demo import ROOT_CAUSE, written_draft
from afterword.runtime.connection import connect, prepare_namespace
from afterword.runtime.dev_server import EmbeddedServer
from afterword.runtime.payload_codec import ensure_payload_keys
from afterword.settings import Settings
from afterword.worker import run_worker
from afterword.workflows.models import (
    ActionItemSpec,
    ActionType,
    Actor,
    AddActionRequest,
    ApproveRequest,
    AssignRequest,
    CompleteRequest,
    DraftSubmission,
    Incident,
    PostmortemStatus,
    Progress,
    ValidateRequest,
)

ITEMS = 3


# ------------------------------------------------------------------------------------------- drivers


async def poll(check: Callable[[], Awaitable[bool]], within: float = 120.0) -> None:
    end = time.monotonic() + within
    while not await check():
        if time.monotonic() > end:
            raise TimeoutError("a benchmark run stalled")
        await asyncio.sleep(0.1)


async def one_lifecycle(pm: Postmortems, store: ContentStore, n: int) -> tuple[float, str]:
    started = time.perf_counter()
    now = datetime.now(UTC)
    from afterword.policies import load_org_policy, rules_for

    incident = Incident(org="bench", key=f"bench-{uuid.uuid4().hex[:10]}", title=f"Benchmark incident {n}",
                        severity="SEV2", service="checkout", started_at=now - timedelta(minutes=30),
                        resolved_at=now)
    wid = (await pm.open(incident, rules_for(load_org_policy("bench", None), incident))).workflow_id
    await pm.assign(wid, AssignRequest(by="bob", owner="alice"))

    async def status() -> Progress:
        return await pm.progress(wid)

    async def drafted() -> bool:
        return (await status()).draft_ref is not None

    await poll(drafted)
    for i in range(ITEMS):
        spec = ActionItemSpec(title=f"Fix number {i}", owner="alice", due=now + timedelta(days=14),
                              type=ActionType.PREVENT, success_criterion="the error rate stays under 0.1%")
        await pm.add_action(wid, AddActionRequest(by="alice", item=spec))
    current = await pm.status(wid)
    rendered = store.get_text(current.draft_ref or "")
    table = "\n".join(
        ["| Type | Action | Owner | Due | Success criterion | Ticket |", "|---|---|---|---|---|---|"]
        + [f"| prevent | {i.spec.title} | alice | {i.spec.due.date()} | {i.spec.success_criterion} | {i.item_id} |"
           for i in current.action_items])
    text = written_draft(rendered, ROOT_CAUSE).replace("| Type | Action | Owner | Due | Success criterion | Ticket |\n"
                                                       "|---|---|---|---|---|---|", table, 1)
    result = await pm.submit_draft(wid, DraftSubmission(by="alice", document_ref=store.put_bytes(text.encode())))
    if result.state != "in_review":
        raise RuntimeError(f"benchmark draft refused: {[f.message for f in result.findings]}")
    await pm.approve(wid, ApproveRequest(by="bob"))

    async def redacted() -> bool:
        return (await status()).redaction_ready

    await poll(redacted)
    await pm.accept_redaction(wid, Actor(by="bob"))
    for i in range(ITEMS):  # the items are their own workflows: they do not wait for the publication
        item = pm.action_workflow_id(wid, f"ai-{i + 1}")
        await pm.complete_action(item, CompleteRequest(by="alice"))
        await pm.validate_action(item, ValidateRequest(by="bob", evidence="dashboard shows the fix"))
    final = await pm.client.get_workflow_handle(wid, result_type=PostmortemStatus).result()
    if final.state != "closed":
        raise RuntimeError(f"benchmark lifecycle ended {final.state}")
    return time.perf_counter() - started, wid


async def one_bare(client: Client, task_queue: str, shape: BareInput) -> tuple[float, str]:
    started = time.perf_counter()
    wid = f"bare-{uuid.uuid4().hex[:10]}"
    handle = await client.start_workflow(BareParent.run, shape, id=wid, task_queue=task_queue)

    async def reached(prefix: str) -> bool:
        return (await handle.query(BareParent.status)).startswith(prefix)

    await handle.execute_update(BareParent.poke, Step())  # assign
    await poll(lambda: reached("activity-"))  # the first activities ran (the draft is rendered)
    for _ in range(ITEMS):
        await handle.execute_update(BareParent.poke, Step(n=1))  # add an item (starts a child)
    for _ in range(3):  # submit, approve, accept
        await handle.execute_update(BareParent.poke, Step())
    await poll(lambda: reached(f"activity-{shape.activities - 1}"))
    for c in range(ITEMS):
        child = client.get_workflow_handle(f"{wid}.c{c}")
        await child.execute_update(BareChild.poke, Step())
        await child.execute_update(BareChild.poke, Step())
    await handle.result()
    return time.perf_counter() - started, wid


async def history_events(client: Client, wid: str, children: list[str]) -> int:
    total = 0
    for workflow_id in [wid, *children]:
        total += len((await client.get_workflow_handle(workflow_id).fetch_history()).events)
    return total


async def run_batch(count: int, concurrency: int, make: Callable[[int], Awaitable[tuple[float, str]]],
                    ) -> tuple[float, list[float], list[str]]:
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    ids: list[str] = []

    async def guarded(i: int) -> None:
        async with gate:
            latency, wid = await make(i)
            latencies.append(latency)
            ids.append(wid)

    started = time.perf_counter()
    await asyncio.gather(*(guarded(i) for i in range(count)))
    return time.perf_counter() - started, latencies, ids


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def main(lifecycles: int, concurrency: int, rounds: int) -> None:
    from temporalio.worker import Worker

    with tempfile.TemporaryDirectory() as data:
        os.chdir(data)
        settings = Settings(data_dir=Path(".afterword"), embedded_port=_port(), embedded_ui_port=_port(),
                            intake_port=0)
        # the same lifecycles with the payload codec off, on a queue of their own: what encryption costs
        plain_settings = settings.model_copy(update={"payload_encryption": "off", "task_queue": "plain"})
        ensure_payload_keys(settings)
        async with EmbeddedServer(settings, headless=True) as address:
            client = await connect(settings, address)
            plain_client = await connect(plain_settings, address)
            await prepare_namespace(client, settings)
            pm = Postmortems(client, settings)
            plain_pm = Postmortems(plain_client, plain_settings)
            store = ContentStore(settings.store_dir)
            bare_queue = "bare"
            async with run_worker(client, settings), run_worker(plain_client, plain_settings), Worker(
                client, task_queue=bare_queue, workflows=[BareParent, BareChild], activities=[bare_activity]
            ):
                await one_lifecycle(plain_pm, store, -2)
                # warm up both paths (imports, sticky caches), then measure
                _, probe = await one_lifecycle(pm, store, -1)
                children = [pm.action_workflow_id(probe, f"ai-{i + 1}") for i in range(ITEMS)]
                events = await history_events(client, probe, children)
                parent_history = await client.get_workflow_handle(probe).fetch_history()
                kinds = [e.WhichOneof("attributes") for e in parent_history.events]
                shape = BareInput(
                    activities=sum(k == "activity_task_scheduled_event_attributes" for k in kinds),
                    # (each bare child also keeps a due timer and a validation-window timer, as an item does)
                    timers=sum(k == "timer_started_event_attributes" for k in kinds),
                    children=ITEMS,
                )
                _, bare_probe = await one_bare(client, bare_queue, shape)
                bare_events = await history_events(client, bare_probe, [f"{bare_probe}.c{c}" for c in range(ITEMS)])

                # alternate the two in rounds, so that load from anything else on the machine hits both alike
                rates: list[float] = []
                plain_rates: list[float] = []
                bare_rates: list[float] = []
                latencies: list[float] = []
                bare_latencies: list[float] = []
                for round_no in range(rounds):
                    elapsed, lat, _ = await run_batch(lifecycles, concurrency, lambda i: one_lifecycle(pm, store, i))
                    plain_elapsed, _, _ = await run_batch(
                        lifecycles, concurrency,
                        lambda i, r=round_no: one_lifecycle(plain_pm, store, 10_000 * (r + 1) + i))
                    bare_elapsed, bare_lat, _ = await run_batch(
                        lifecycles, concurrency, lambda i: one_bare(client, bare_queue, shape))
                    rates.append(lifecycles / elapsed)
                    plain_rates.append(lifecycles / plain_elapsed)
                    bare_rates.append(lifecycles / bare_elapsed)
                    latencies += lat
                    bare_latencies += bare_lat

    rate, bare_rate = statistics.median(rates), statistics.median(bare_rates)
    ratios = [a / b for a, b in zip(rates, bare_rates, strict=True)]
    print(f"afterword lifecycle benchmark: {rounds} rounds of {lifecycles} lifecycles x {ITEMS} action items, "
          f"concurrency {concurrency}")
    print(f"  shape of one lifecycle: {shape.activities} activities, {shape.timers} timers in the postmortem, "
          f"15 updates, {ITEMS} child workflows")
    print(f"  afterword: {rate:6.2f} lifecycles/s (median round)   p50 {statistics.median(latencies):.2f} s   "
          f"history events per lifecycle {events} (postmortem + {ITEMS} items)")
    print(f"  bare Temporal baseline: {bare_rate:6.2f} workflows/s   p50 {statistics.median(bare_latencies):.2f} s   "
          f"history events {bare_events}")
    print(f"  ratio afterword / baseline per round: {', '.join(f'{r:.2f}' for r in ratios)}; "
          f"median {statistics.median(ratios):.2f} (target >= 0.70)")
    sealed = [a / b for a, b in zip(rates, plain_rates, strict=True)]
    print(f"  payload codec: {rate:6.2f} lifecycles/s encrypted, {statistics.median(plain_rates):6.2f} in clear; "
          f"ratio per round {', '.join(f'{r:.2f}' for r in sealed)}, median {statistics.median(sealed):.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lifecycles", type=int, default=30)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.lifecycles, args.concurrency, args.rounds))
