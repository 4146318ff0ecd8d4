"""Alert-storm benchmark for the intake.

An alert storm of N notifications (default 10,000) over K incidents (default 100), sent by concurrent
senders over loopback HTTP at a fixed rate (default 200/s), into the intake running beside a real
worker on the embedded Temporal dev server (SQLite file, as `python worker.py` runs it). Every
notification is a distinct Alertmanager group payload (the alert list changes), so none is answered
from the intake's duplicate memory; the last notification of each incident resolves it. Incidents are
drawn at random, so the storm opens with a burst of new ones (about 60 in its first half second).

The intake paces the steps of a storm's postmortems (`pace_steps_per_second`, `--pace`): the first
steps of new ones, the resolution steps (evidence capture, draft) of resolved ones. What that defers is
printed: the time from each postmortem's start to its sealed trigger-time evidence, and the delays the
intake gave the resolution steps.
The CPU each process spent per notification is printed too (server, worker, intake, sender), and in
the first second of sending (the opening burst) with the whole machine's busy CPU and how long the
server's threads waited for a core then, and the server's own latency histograms for the start and
signal (resolve) calls (its /metrics), which tell a queue inside the server from one in front of it.

Baseline, measured in the same run on the same server at the same rate and concurrency: bare
`client.start_workflow` of a trivial workflow with `USE_EXISTING` over the same number of ids — the
cheapest possible idempotent start, with no HTTP, parsing, storage or policy (and, like afterword's own
clients of a server on this machine, no gRPC compression).

Checks: no 5xx (no non-2xx at all), exactly K postmortems exist, every one is resolved (nothing lost).

    .venv/bin/python benchmarks/intake.py [--count 10000] [--incidents 100] [--rate 200] [--concurrency 50]

The senders run in a child process (`--sender`), so load generation does not share the event loop
(or the GIL) with the intake and worker it measures; they speak HTTP/1.1 with keep-alive through h11,
which costs a fifth less CPU than aiohttp's client on the cores they share with the system under test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import h11

# The workflow sandbox re-imports workflow modules for every run; with bytecode writing off
# (PYTHONDONTWRITEBYTECODE) each run would compile them from source again, which no deployment does.
sys.dont_write_bytecode = False
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # nor in the intake and sender processes

HERE = Path(__file__).resolve()


def cpu_seconds(pid: int) -> float:
    """User + system CPU a live process has used (Linux /proc; 0 elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_queue_wait(pid: int) -> float:
    """Seconds the threads of a live process spent ready to run but waiting for a CPU (Linux schedstat;
    0 elsewhere): what contention for the cores costs it, whoever the other processes are."""
    total_ns = 0
    with contextlib.suppress(OSError):
        for thread in os.listdir(f"/proc/{pid}/task"):
            schedstat = f"/proc/{pid}/task/{thread}/schedstat"
            with contextlib.suppress(OSError, IndexError, ValueError), open(schedstat) as f:
                total_ns += int(f.read().split()[1])
    return total_ns / 1e9


def machine_cpu() -> dict[str, float]:
    """CPU seconds the whole machine has been busy (every process, this benchmark's or not) and stolen by
    the hypervisor (Linux /proc/stat; 0 elsewhere)."""
    try:
        with open("/proc/stat") as stat:
            user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in stat.readline().split()[1:9])
    except (OSError, ValueError):
        return {"busy": 0.0, "steal": 0.0}
    tick = os.sysconf("SC_CLK_TCK")
    return {"busy": (user + nice + system + irq + softirq + steal) / tick, "steal": steal / tick}


def children_cpu() -> float:
    """CPU of the finished children this process waited for (the senders)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# --------------------------------------------------------------------------- the storm (child process)


def payload(incident: int, seq: int, resolved: bool, t0: datetime, run: str) -> bytes:
    group = f'{{}}:{{alertname="Storm{incident}", run="{run}"}}'
    starts = t0 + timedelta(seconds=incident)
    ends = t0 + timedelta(hours=1)
    status = "resolved" if resolved else "firing"
    alerts = [
        {
            "status": status,
            "labels": {
                "alertname": f"Storm{incident}",
                "service": f"svc-{incident}",
                "severity": "critical",
                "instance": f"node-{i}:9100",
            },
            "annotations": {"summary": f"Storm incident {incident}"},
            "startsAt": starts.isoformat(),
            "endsAt": ends.isoformat() if resolved else "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.example:9090/graph",
            "fingerprint": f"{incident:08x}{i:08x}",
        }
        for i in range(1 + seq % 7)
    ]
    body = {
        "version": "4",
        "groupKey": group,
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "afterword",
        "groupLabels": {"alertname": f"Storm{incident}"},
        "commonLabels": {"alertname": f"Storm{incident}", "service": f"svc-{incident}", "severity": "critical"},
        "commonAnnotations": {"summary": f"Storm incident {incident}", "seq": str(seq)},
        "externalURL": "http://alertmanager.example:9093",
        "alerts": alerts,
    }
    return json.dumps(body).encode()


def schedule(count: int, incidents: int, seed: int = 7) -> list[tuple[int, bool]]:
    """(incident, resolved) per notification. Firings of random incidents throughout; each incident's
    resolve falls at a random point of the last fifth, and its group keeps re-sending old firings
    after it (as Alertmanager does until the group flushes), which must not reopen anything."""
    rng = random.Random(seed)
    plan: list[tuple[int, bool]] = [(rng.randrange(incidents), False) for _ in range(count - incidents)]
    tail = max(incidents, count // 5)
    for incident in range(incidents):
        plan.insert(len(plan) - rng.randrange(tail - incidents + 1), (incident, True))
    return plan


SENDING = "sending"


@dataclass
class Connection:
    """One sender's keep-alive HTTP/1.1 connection (h11 over asyncio streams). The senders share the 2 cores
    with the system they measure, and aiohttp's client spends 1.0 to 1.1 ms of CPU per request here; this one
    about a fifth less, which leaves the intake and the server more of what a remote Alertmanager would."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    http: h11.Connection

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer, h11.Connection(our_role=h11.CLIENT))

    @property
    def reusable(self) -> bool:
        """Whether the last exchange left the connection open for the next (no `Connection: close`)."""
        return self.http.our_state is h11.DONE and self.http.their_state is h11.DONE

    async def post(self, path: str, host: str, body: bytes) -> tuple[int, str]:
        """POST a JSON body; the answer's status and text."""
        if self.http.our_state is h11.DONE:
            self.http.start_next_cycle()
        headers = [("Host", host), ("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        self.writer.write(
            self.http.send(h11.Request(method="POST", target=path, headers=headers))
            + self.http.send(h11.Data(data=body))
            + self.http.send(h11.EndOfMessage())
        )
        status, chunks = 0, []
        while True:
            event = self.http.next_event()
            if event is h11.NEED_DATA:
                self.http.receive_data(await self.reader.read(65536))
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                return status, b"".join(chunks).decode()
            elif isinstance(event, h11.ConnectionClosed):
                raise ConnectionError("the intake closed the connection mid-answer")


async def paced(count: int, rate: float, concurrency: int, send: Any) -> tuple[list[float], float]:
    """Call `send(i)` for i in range(count) at `rate`/s from `concurrency` senders; latencies in ms."""
    latencies: list[float] = [0.0] * count
    start = time.perf_counter() + 0.2
    sys.stdout.write(f"{SENDING}\n")  # tells the parent's CPU meter that the burst begins
    sys.stdout.flush()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)

    async def sender() -> None:
        while not queue.empty():
            i = queue.get_nowait()
            due = start + i / rate if rate > 0 else 0
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            began = time.perf_counter()
            await send(i)
            latencies[i] = (time.perf_counter() - began) * 1000

    await asyncio.gather(*(sender() for _ in range(concurrency)))
    return latencies, time.perf_counter() - start


async def storm(args: argparse.Namespace) -> dict[str, Any]:
    plan = schedule(args.count, args.incidents)
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    statuses: dict[int, int] = {}
    kinds: list[str] = ["error"] * args.count
    workflows: set[str] = set()
    actions: dict[str, int] = {}
    errors: list[str] = []
    resolution_delays: list[float] = []  # what the intake answered: "storm pacing: ... in 12.5 s"
    url = urlsplit(f"{args.url}/v1/orgs/{args.org}/alerts/alertmanager")
    bodies = [payload(inc, seq, resolved, t0, args.run) for seq, (inc, resolved) in enumerate(plan)]
    idle: list[Connection] = []

    async def send(i: int) -> None:
        conn = idle.pop() if idle else await Connection.open(url.hostname or "127.0.0.1", url.port or 80)
        status, text = await conn.post(url.path, url.netloc, bodies[i])
        if conn.reusable:
            idle.append(conn)
        else:
            conn.writer.close()
        statuses[status] = statuses.get(status, 0) + 1
        if status >= 300 and len(errors) < 5:
            errors.append(f"{status}: {text[:300]}")
        if status < 300:
            answer = json.loads(text)
            kinds[i] = answer["action"]
            workflows.add(answer["workflow_id"])
            actions[answer["action"]] = actions.get(answer["action"], 0) + 1
            if answer["action"] == "resolved":
                paced = answer["note"].rpartition(" in ")[2].removesuffix(" s")
                resolution_delays.append(float(paced) if answer["note"].startswith("storm pacing") else 0.0)

    latencies, elapsed = await paced(args.count, args.rate, args.concurrency, send)
    for conn in idle:
        conn.writer.close()
    return {
        "latencies": latencies,
        "elapsed": elapsed,
        "statuses": statuses,
        "workflows": sorted(workflows),
        "actions": actions,
        "errors": errors,
        "kinds": kinds,
        "resolution_delays": resolution_delays,
    }


async def baseline(args: argparse.Namespace) -> dict[str, Any]:
    from temporalio.client import Client
    from temporalio.common import WorkflowIDConflictPolicy
    from temporalio.service import GrpcCompression

    # uncompressed, as afterword's own clients talk to a server on this machine
    client = await Client.connect(args.address, grpc_compression=GrpcCompression.NONE)
    plan = schedule(args.count, args.incidents)
    errors = 0

    async def send(i: int) -> None:
        nonlocal errors
        try:
            await client.start_workflow(
                "BenchNoop",
                id=f"bench-noop-{args.run}-{plan[i][0]}",
                task_queue=f"bench-noop-{args.run}",
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            )
        except Exception:
            errors += 1

    latencies, elapsed = await paced(args.count, args.rate, args.concurrency, send)
    return {"latencies": latencies, "elapsed": elapsed, "errors": errors}


async def facade(args: argparse.Namespace) -> dict[str, Any]:
    """The same schedule straight through the client facade: every firing an idempotent start, every
    resolve an update — what an intake without its duplicate memory would ask of Temporal."""
    from afterword.client import Postmortems
    from afterword.intake.policy_view import OrgPolicies
    from afterword.intake.sources import PARSERS
    from afterword.runtime.connection import connect
    from afterword.settings import Settings
    from afterword.workflows.identity import postmortem_id
    from afterword.workflows.models import ResolveRequest

    settings = Settings(policy_dir=Path(args.policy_dir), temporal_address=args.address, task_queue=args.task_queue)
    client = await connect(settings)
    postmortems = Postmortems(client, settings)
    policies = OrgPolicies(settings)
    plan = schedule(args.count, args.incidents)
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    bodies = [payload(inc, seq, resolved, t0, args.run) for seq, (inc, resolved) in enumerate(plan)]
    errors = 0

    async def send(i: int) -> None:
        nonlocal errors
        notification = PARSERS["alertmanager"](bodies[i], {})
        assessment = policies.assess(args.org, notification, None)
        try:
            if plan[i][1]:
                workflow_id = postmortem_id(args.org, notification.key)
                await postmortems.resolve(workflow_id, ResolveRequest(by="bench", resolved_at=notification.resolved_at))
            else:
                incident = assessment.incident
                await postmortems.open(incident, assessment.rules(incident), "bench")
        except Exception:
            errors += 1

    latencies, elapsed = await paced(args.count, args.rate, args.concurrency, send)
    return {"latencies": latencies, "elapsed": elapsed, "errors": errors}


def sender_main(args: argparse.Namespace) -> None:
    runners = {"storm": storm, "baseline": baseline, "facade": facade}
    result = asyncio.run(runners[args.sender](args))
    sys.stdout.write(json.dumps(result))
    sys.stdout.flush()
    os._exit(0)  # the SDK's interpreter-exit race (sdk-python issue 300)


# --------------------------------------------------------------------------- the system under test


async def settled_status(postmortems: Any, workflow_id: str) -> Any:
    """The status once the postmortem answers: a short run ends before pacing ran every first step."""
    from afterword.client import NotReady

    while True:
        try:
            return await postmortems.status(workflow_id)
        except NotReady as err:
            wait = (err.ready_at - datetime.now(UTC)).total_seconds() if err.ready_at else 1.0
            await asyncio.sleep(min(max(wait, 0.1), 5.0))


async def first_steps_lag(client: Any, status: Any) -> float:
    """Seconds from a postmortem's start until its trigger-time evidence was sealed (what pacing defers)."""
    described = await client.get_workflow_handle(status.postmortem_id).describe()
    sealed = next(e.at for e in status.audit if e.event.startswith("preserving ->"))
    lag: float = (sealed - described.start_time).total_seconds()
    return lag


@dataclass
class CpuMeter:
    """CPU seconds each process of the system spent during one sender run (the intake and the worker
    are one process in the `together` layout; the sender is the finished child)."""

    server: int
    worker: int
    intake: int

    def _now(self) -> dict[str, float]:
        return {
            "server": cpu_seconds(self.server),
            "worker": cpu_seconds(self.worker),
            "intake": cpu_seconds(self.intake) if self.intake != self.worker else 0.0,
            "sender": children_cpu(),
        }

    async def measure(self, running: Any, sending: asyncio.Event) -> dict[str, Any]:
        """`running`'s result, with the CPU of the whole run and of the first second after `sending` (the
        opening burst of new incidents, when the server's creates compete with everything else)."""
        before = self._now()
        task = asyncio.ensure_future(running)
        began = asyncio.ensure_future(sending.wait())
        await asyncio.wait([task, began], return_when=asyncio.FIRST_COMPLETED)
        began.cancel()
        burst, host_burst = self._now(), self._host()
        await asyncio.wait([task], timeout=1.0)
        first, host_first = self._now(), self._host()
        result: dict[str, Any] = await task
        after = self._now()
        result["cpu"] = {k: after[k] - before[k] for k in before}
        # the sender's CPU is known only once it exits (RUSAGE_CHILDREN): the first second shows the rest
        result["cpu_first_second"] = {k: first[k] - burst[k] for k in before if k != "sender"}
        result["host_first_second"] = {k: host_first[k] - host_burst[k] for k in host_first}
        return result

    def _host(self) -> dict[str, float]:
        return {**machine_cpu(), "server_waiting": run_queue_wait(self.server)}


SERVER_OPERATIONS = ("StartWorkflowExecution", "SignalWorkflowExecution")  # a new incident; a resolve


@dataclass
class ServerCalls:
    """The embedded server's own view of the calls an alert makes (its frontend's `service_latency`
    histogram, read from /metrics before and after a run): how many start and signal calls it served
    and how long they took inside the server, whatever the caller did around them."""

    url: str
    namespace: str

    async def _read(self) -> dict[str, dict[float, float]]:
        from prometheus_client.parser import text_string_to_metric_families

        async with aiohttp.ClientSession() as http, http.get(self.url) as response:
            text = await response.text()
        buckets: dict[str, dict[float, float]] = {operation: {} for operation in SERVER_OPERATIONS}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                labels = sample.labels
                if (
                    sample.name == "service_latency_bucket"
                    and labels.get("operation") in buckets
                    and labels.get("service_name") == "frontend"
                    and labels.get("namespace") == self.namespace
                ):
                    buckets[labels["operation"]][float(labels["le"])] = sample.value
        return buckets

    async def measure(self, running: Any) -> dict[str, Any]:
        before = await self._read()
        result: dict[str, Any] = await running
        after = await self._read()
        # cumulative counts per upper bound (seconds), this run only
        result["server_calls"] = {
            operation: {le: n - before[operation].get(le, 0.0) for le, n in sorted(after[operation].items())}
            for operation in SERVER_OPERATIONS
        }
        return result


def server_summary(cumulative: dict[float, float]) -> str:
    """Count, the share above 50 ms and the bucket holding the p99, from a cumulative histogram that
    holds at least one call (operations without calls are not printed)."""
    total = cumulative[float("inf")]
    within_50ms = max((n for le, n in cumulative.items() if le <= 0.05), default=0.0)
    p99 = next(le for le, n in sorted(cumulative.items()) if n >= 0.99 * total)
    return f"{total:6.0f} calls, {total - within_50ms:5.0f} over 50 ms, p99 <= {p99 * 1000:g} ms"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def report(name: str, result: dict[str, Any], count: int) -> str:
    lat = result["latencies"]
    return (
        f"{name:<34} p50 {percentile(lat, 50):6.1f} ms   p99 {percentile(lat, 99):6.1f} ms   "
        f"max {max(lat):6.1f} ms   mean {statistics.fmean(lat):5.1f} ms   {count / result['elapsed']:6.0f}/s"
    )


async def run_sender(kind: str, args: argparse.Namespace, sending: asyncio.Event, **extra: str) -> dict[str, Any]:
    command = [
        sys.executable,
        str(HERE),
        "--sender",
        kind,
        "--count",
        str(args.count),
        "--incidents",
        str(args.incidents),
        "--rate",
        str(args.rate),
        "--concurrency",
        str(args.concurrency),
    ]
    for key, value in extra.items():
        command += [f"--{key}", value]
    child = await asyncio.create_subprocess_exec(*command, stdout=subprocess.PIPE)
    assert child.stdout is not None
    if (await child.stdout.readline()).decode().strip() == SENDING:
        sending.set()
    out, _ = await child.communicate()
    if child.returncode != 0:
        raise SystemExit(f"sender {kind} failed ({child.returncode})")
    result: dict[str, Any] = json.loads(out)
    return result


@contextlib.asynccontextmanager
async def intake_process(settings: Any, address: str) -> AsyncIterator[tuple[str, int]]:
    """`afterword intake` as its own process against the benchmark's Temporal."""
    from afterword.runtime.dev_server import free_port

    port = free_port()
    env = dict(
        os.environ,
        TEMPORAL_ADDRESS=address,
        AFTERWORD_DATA_DIR=str(settings.data_dir),
        AFTERWORD_POLICY_DIR=str(settings.policy_dir),
        AFTERWORD_INTAKE_PORT=str(port),
        AFTERWORD_TASK_QUEUE=settings.task_queue,
    )
    # warnings only: its INFO line per start and resolve would bury the figures
    command = [sys.executable, "-c", "from afterword.cli import main; main()", "intake", "--log-level", "warning"]
    child = await asyncio.create_subprocess_exec(*command, env=env, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(100):
                try:
                    async with http.get(f"{url}/healthz") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.1)
            else:
                raise SystemExit("the intake process did not come up")
        yield url, child.pid
    finally:
        child.terminate()
        await child.wait()


async def main(args: argparse.Namespace) -> int:
    from afterword.client import Postmortems
    from afterword.intake.configuration import load_config
    from afterword.intake.server import serve
    from afterword.runtime.connection import connect, prepare_namespace
    from afterword.runtime.dev_server import EmbeddedServer, free_port
    from afterword.runtime.heap import freeze_startup_heap
    from afterword.settings import Settings
    from afterword.worker import run_worker

    run = uuid.uuid4().hex[:6]
    with tempfile.TemporaryDirectory(prefix="afterword-bench-") as tmp:
        data = Path(tmp)
        (data / "policies").mkdir()
        for org in ("bench", "direct"):
            (data / "policies" / f"{org}.toml").write_text(f'org = "{org}"\nname = "{org}"\nextends = "default"\n')
        settings = Settings(
            data_dir=data,
            policy_dir=data / "policies",
            embedded_port=free_port(),
            embedded_ui_port=free_port(),
            task_queue=f"bench-{run}",
        )
        server = EmbeddedServer(settings, headless=True)
        async with server as address:
            client = await connect(settings)
            await prepare_namespace(client, settings)
            # the intake reads <data_dir>/intake.toml in either layout
            pacing = "" if args.pace is None else f"pace_steps_per_second = {args.pace}\n"
            pacing += "" if args.pace_burst is None else f"pace_burst = {args.pace_burst}\n"
            (data / "intake.toml").write_text(f"[intake]\nallow_unauthenticated = true\n{pacing}")
            config = load_config(data / "intake.toml")
            async with run_worker(client, settings), contextlib.AsyncExitStack() as stack:
                if args.layout == "together":  # embedded: `serve()` in the worker's own process and event loop
                    running = await stack.enter_async_context(
                        serve(client, settings, port=0, announce=False, config=config)
                    )
                    assert running is not None
                    url, intake_pid = running.url, os.getpid()
                else:  # `afterword intake` in its own process, as `python worker.py` runs it; the worker in this one
                    url, intake_pid = await stack.enter_async_context(intake_process(settings, address))
                freeze_startup_heap()  # as worker.py does once it serves (the intake process does the same)
                cpu = CpuMeter(server=server.pid or 0, worker=os.getpid(), intake=intake_pid)
                calls = ServerCalls(server.metrics_url, settings.namespace)

                async def measured(kind: str, **extra: str) -> dict[str, Any]:
                    sending = asyncio.Event()
                    return await calls.measure(cpu.measure(run_sender(kind, args, sending, **extra), sending))

                print(
                    f"intake {url} ({args.layout}), Temporal {address} (embedded dev server, SQLite), "
                    f"{args.count} notifications over {args.incidents} incidents at {args.rate:g}/s, "
                    f"{args.concurrency} concurrent senders, {os.cpu_count()} CPUs, "
                    f"load average before: {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
                base = await measured("baseline", address=address, run=run)
                intake = await measured("storm", url=url, org="bench", run=run)
                direct = None
                if not args.no_facade:
                    direct = await measured(
                        "facade",
                        address=address,
                        run=run,
                        org="direct",
                        **{"policy-dir": str(settings.policy_dir), "task-queue": settings.task_queue},
                    )

                print(f"load average after: {os.getloadavg()[0]:.1f} (other processes on this machine skew both rows)")
                print(report("baseline: start_workflow USE_EXISTING", base, args.count))
                print(report("intake: HTTP -> postmortem", intake, args.count))
                if direct is not None:
                    print(
                        report("facade only: open/resolve per notif.", direct, args.count)
                        + f"   errors {direct['errors']}"
                    )
                ratio = percentile(intake["latencies"], 99) / max(percentile(base["latencies"], 99), 0.001)
                print(f"p99 intake / baseline: {ratio:.2f}x; baseline errors: {base['errors']}")
                print(f"CPU ms per notification, by process ({os.cpu_count()} CPUs):")
                for name, row in (("baseline", base), ("intake", intake), ("facade only", direct)):
                    if row is not None:
                        shares = "  ".join(f"{k} {v / args.count * 1000:5.2f}" for k, v in row["cpu"].items())
                        print(f"  {name:<12} {shares}")
                print("CPU cores busy in the first second (the opening burst of new incidents), by process:")
                for name, row in (("baseline", base), ("intake", intake)):
                    shares = "  ".join(f"{k} {v:4.2f}" for k, v in row["cpu_first_second"].items())
                    host = row["host_first_second"]
                    print(
                        f"  {name:<12} {shares}   | whole machine {host['busy']:4.2f} (stolen {host['steal']:4.2f}); "
                        f"the server's threads waited {host['server_waiting']:4.2f} s for a CPU"
                    )
                print("Start and signal (resolve) calls inside the server (its own latency histogram, /metrics):")
                for name, row in (("baseline", base), ("intake", intake), ("facade only", direct)):
                    for operation, cumulative in ([] if row is None else row["server_calls"].items()):
                        if cumulative.get(float("inf")):
                            print(f"  {name:<12} {operation:<24} {server_summary(cumulative)}")
                print(f"answers: {intake['statuses']}  actions: {intake['actions']}")
                by_kind: dict[str, list[float]] = {}
                for kind, ms in zip(intake["kinds"], intake["latencies"], strict=True):
                    by_kind.setdefault(kind, []).append(ms)
                for kind, values in sorted(by_kind.items()):
                    print(
                        f"  {kind:<9} {len(values):6d}   p50 {percentile(values, 50):6.1f} ms   "
                        f"p99 {percentile(values, 99):6.1f} ms   max {max(values):6.1f} ms"
                    )
                print("intake p99 by tenth of the run (the first holds most starts, the last fifth the resolves):")
                tenth = max(1, args.count // 10)
                lat = intake["latencies"]
                print(
                    "  " + "  ".join(f"{percentile(lat[i : i + tenth], 99):.0f}" for i in range(0, args.count, tenth))
                )
                print("baseline p99 by tenth:")
                print(
                    "  "
                    + "  ".join(
                        f"{percentile(base['latencies'][i : i + tenth], 99):.0f}" for i in range(0, args.count, tenth)
                    )
                )
                for error in intake["errors"]:
                    print(f"  refused: {error}")

                postmortems = Postmortems(client, settings)
                ids = intake["workflows"]
                count = 0
                for _ in range(50):  # visibility is eventually consistent
                    count = (
                        await client.count_workflows("AfterwordOrg = 'bench' AND AfterwordKind = 'postmortem'")
                    ).count
                    if count >= args.incidents:
                        break
                    await asyncio.sleep(0.2)
                statuses = [await settled_status(postmortems, wf) for wf in ids]
                unresolved = [s.postmortem_id for s in statuses if s.state != "drafting"]
                lags = [await first_steps_lag(client, s) for s in statuses]
                print(
                    f"first steps (trigger evidence sealed) after the start, paced at "
                    f"{config.pace_steps_per_second:g}/s after a burst of {config.pace_burst}: "
                    f"p50 {percentile(lags, 50):.1f} s, max {max(lags):.1f} s"
                )
                deferred = intake["resolution_delays"] or [0.0]
                print(
                    f"resolution steps (evidence capture, draft) deferred by the same pacer, as the intake answered: "
                    f"{sum(d > 0 for d in deferred)} of {len(deferred)}, p50 {percentile(deferred, 50):.1f} s, "
                    f"max {max(deferred):.1f} s"
                )
                non_2xx = sum(n for code, n in intake["statuses"].items() if not 200 <= int(code) < 300)
                fivexx = sum(n for code, n in intake["statuses"].items() if int(code) >= 500)
                checks = {
                    "no 5xx": fivexx == 0,
                    "every notification answered 2xx": non_2xx == 0,
                    f"exactly {args.incidents} postmortems (visibility: {count}, answers: {len(ids)})": count
                    == len(ids)
                    == args.incidents,
                    "every incident resolved (nothing lost)": not unresolved,
                    f"p99 < 50 ms at {args.rate:g}/s": percentile(intake["latencies"], 99) < 50,
                }
                for name, ok in checks.items():
                    print(f"  [{'ok' if ok else 'FAIL'}] {name}")
                return 0 if all(checks.values()) else 1


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--incidents", type=int, default=100)
    parser.add_argument("--rate", type=float, default=200.0, help="notifications per second (0: as fast as possible)")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument(
        "--layout",
        choices=["separate", "together"],
        default="separate",
        help="intake in its own process (afterword intake, as worker.py runs it) or in the worker's (serve())",
    )
    parser.add_argument(
        "--pace", type=float, help="the intake's pace_steps_per_second (default: its own default; 0: off)"
    )
    parser.add_argument("--pace-burst", type=int, help="the intake's pace_burst (default: its own default)")
    parser.add_argument("--sender", choices=["storm", "baseline", "facade"], help=argparse.SUPPRESS)
    parser.add_argument("--policy-dir", help=argparse.SUPPRESS)
    parser.add_argument("--task-queue", help=argparse.SUPPRESS)
    parser.add_argument("--no-facade", action="store_true", help="skip the facade-only comparison row")
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--org", help=argparse.SUPPRESS)
    parser.add_argument("--run", help=argparse.SUPPRESS)
    parser.add_argument("--address", help=argparse.SUPPRESS)
    return parser.parse_args()


if __name__ == "__main__":
    arguments = parse()
    if arguments.sender:
        sender_main(arguments)
    code = asyncio.run(main(arguments))
    sys.stdout.flush()
    os._exit(code)
