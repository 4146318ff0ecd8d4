"""Webhooks into the intake, postmortems on real Temporal (embedded dev server + real worker)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import signal
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from afterword.client import Postmortems
from afterword.evidence.blobs import ContentStore
from afterword.intake.api import open_postmortem, resolve_postmortem
from afterword.intake.configuration import IntakeConfig
from afterword.intake.server import build_app, run_app
from afterword.runtime.connection import connect
from afterword.runtime.dev_server import EmbeddedServer, free_port
from afterword.runtime.payload_codec import ensure_payload_keys
from afterword.workflows.models import Incident

from .conftest import AM_TOKEN, PD_SECRET, Stack
from .fakes import example_json, over_caps, recent_pagerduty

pytestmark = pytest.mark.e2e
AM_HEADERS = {"Authorization": f"Bearer {AM_TOKEN}"}


def am_payload(group: str, status: str, starts: datetime, ends: datetime | None = None, n: int = 1) -> dict[str, Any]:
    data = example_json("alertmanager-grouped.json")
    data["groupKey"] = group
    data["status"] = status
    alert = data["alerts"][0]
    data["alerts"] = []
    for i in range(n):
        one = json.loads(json.dumps(alert))
        one["status"] = status
        one["labels"]["instance"] = f"checkout-{i}:8080"
        one["startsAt"] = starts.isoformat()
        one["endsAt"] = (ends or datetime(1, 1, 1, tzinfo=UTC)).isoformat()
        data["alerts"].append(one)
    return data


async def post(url: str, payload: dict[str, Any], headers: dict[str, str] | None = None) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as http:
        return await http.post(url, json=payload, headers=headers or {})


async def postmortem_count(client: Client, workflow_prefix: str, expect: int = 1) -> int:
    """How many workflows have ids starting with the prefix (waiting a little for visibility to catch up)."""
    count = 0
    for _ in range(20):
        count = 0
        async for wf in client.list_workflows(f"WorkflowId STARTS_WITH '{workflow_prefix}'"):
            count += wf.id.startswith(workflow_prefix)
        if count >= expect:
            return count
        await asyncio.sleep(0.1)
    return count


async def test_alert_group_lifecycle_storm_flap_and_recurrence(stack: Stack) -> None:
    group = f'{{}}/{{}}:{{alertname="E2E-{uuid.uuid4().hex[:8]}"}}'
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    url = stack.alerts("alertmanager")

    first = await post(url, am_payload(group, "firing", t0), AM_HEADERS)
    assert first.status_code == 202, first.text
    answer = first.json()
    assert answer["action"] == "started" and answer["requirement"] == "required" and answer["severity"] == "SEV1"
    workflow_id = answer["workflow_id"]
    status = await stack.wait(workflow_id, {"awaiting_resolution"})
    assert status.incident.payload_ref == answer["payload_ref"]
    assert status.incident.source == "alertmanager" and status.incident.service == "checkout"
    # the raw payload travelled with the start; the trigger-time capture put it in the content store
    assert status.evidence is not None and status.evidence.sealed
    assert not [gap for gap in status.evidence.gaps if "alert payload" in gap]
    kept = ContentStore(stack.settings.store_dir).get(answer["payload_ref"])
    assert json.loads(kept)["groupKey"] == group

    # a storm: 40 concurrent re-sends of the group (growing alert lists), all reach the same postmortem
    storm = await asyncio.gather(
        *(post(url, am_payload(group, "firing", t0, n=1 + i % 5), AM_HEADERS) for i in range(40))
    )
    assert {r.status_code for r in storm} == {202}
    assert {r.json()["workflow_id"] for r in storm} == {workflow_id}
    # copies identical to the first delivery get its answer again (duplicate); the others match
    assert all(r.json()["action"] == "matched" or r.json()["duplicate"] for r in storm)
    assert await postmortem_count(stack.client, workflow_id) == 1

    resolved = await post(url, am_payload(group, "resolved", t0, t0 + timedelta(minutes=40)), AM_HEADERS)
    assert resolved.json()["action"] == "resolved"
    status = await stack.wait(workflow_id, {"drafting"})
    assert status.incident.resolved_at == t0 + timedelta(minutes=40)

    # the same group fires again 5 minutes after it resolved: within the 10 min flap window -> reopened
    flap = await post(url, am_payload(group, "firing", t0 + timedelta(minutes=45)), AM_HEADERS)
    assert (flap.json()["action"], flap.json()["workflow_id"]) == ("reopened", workflow_id)
    await stack.wait(workflow_id, {"awaiting_resolution"})
    again = await post(
        url, am_payload(group, "resolved", t0 + timedelta(minutes=45), t0 + timedelta(minutes=50)), AM_HEADERS
    )
    assert again.json()["action"] == "resolved"
    await stack.wait(workflow_id, {"drafting"})

    # two hours later it fires again: a recurrence, with a postmortem of its own
    later = await post(url, am_payload(group, "firing", t0 + timedelta(hours=2, minutes=50)), AM_HEADERS)
    assert later.json()["action"] == "started"
    assert later.json()["workflow_id"] != workflow_id
    recurrence = await stack.wait(later.json()["workflow_id"], {"awaiting_resolution"})
    assert recurrence.incident.key == f"{group}#2"
    assert (await stack.postmortems.status(workflow_id)).state == "drafting"  # the first one carries on


async def test_pagerduty_signed_deliveries_retries_and_resolution(stack: Stack) -> None:
    incident_id = f"P{uuid.uuid4().hex[:6].upper()}"
    url = stack.alerts("pagerduty")

    async def deliver(name: str, webhook_id: str, secret: str = PD_SECRET) -> httpx.Response:
        payload = recent_pagerduty(name)
        payload["event"]["data"]["id"] = incident_id
        payload["event"]["id"] = f"{incident_id}-{name}"
        body = json.dumps(payload).encode()
        signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        headers = {
            "Content-Type": "application/json",
            "X-Webhook-Id": webhook_id,
            "X-PagerDuty-Signature": f"v1=deadbeef,v1={signature}",
        }
        async with httpx.AsyncClient(timeout=10) as http:
            return await http.post(url, content=body, headers=headers)

    forged = await deliver("triggered", "w-0", secret="not-the-secret")
    assert forged.status_code == 401
    first, retry = await asyncio.gather(deliver("triggered", "w-1"), deliver("triggered", "w-1"))
    assert first.status_code == retry.status_code == 202
    assert sorted([first.json()["duplicate"], retry.json()["duplicate"]]) == [False, True]
    workflow_id = first.json()["workflow_id"]
    assert workflow_id == f"pm-e2e-{incident_id}"
    assert (await deliver("acknowledged", "w-2")).json()["action"] == "matched"
    assert (await deliver("resolved", "w-3")).json()["action"] == "resolved"
    status = await stack.wait(workflow_id, {"drafting"})
    assert status.severity == "SEV1"
    assert await postmortem_count(stack.client, workflow_id) == 1


async def test_policy_none_starts_nothing(stack: Stack) -> None:
    key = f"low-{uuid.uuid4().hex[:8]}"
    alert = example_json("generic-firing.json") | {"key": key, "severity": "SEV5"}
    response = await post(stack.alerts("generic"), alert)
    answer = response.json()
    assert response.status_code == 202 and answer["requirement"] == "none" and answer["action"] == "ignored"
    assert answer["reasons"]
    assert await postmortem_count(stack.client, f"pm-e2e-{key}", expect=0) == 0


async def test_refused_input_starts_nothing_on_real_temporal(stack: Stack) -> None:
    key = f"bad-{uuid.uuid4().hex[:8]}"
    bad = example_json("generic-firing.json") | {"key": key, "status": "exploding"}
    assert (await post(stack.alerts("generic"), bad)).status_code == 400
    unsigned = am_payload(key, "firing", datetime.now(UTC))
    assert (await post(stack.alerts("alertmanager"), unsigned)).status_code == 401
    assert await postmortem_count(stack.client, f"pm-e2e-{key}", expect=0) == 0


async def test_temporal_gone_answers_503_with_retry_after(stack: Stack, tmp_path: Path) -> None:
    settings = stack.settings.model_copy(
        update={"data_dir": tmp_path, "embedded_port": free_port(), "embedded_ui_port": free_port()}
    )
    config = IntakeConfig(allow_unauthenticated=True, temporal_timeout=timedelta(seconds=2))
    alert = example_json("generic-firing.json") | {"key": f"gone-{uuid.uuid4().hex[:8]}"}
    server = EmbeddedServer(settings, headless=True)
    await server.start()
    ensure_payload_keys(settings)
    client = await connect(settings)
    app = build_app(Postmortems(client, settings), settings, config=config)
    async with run_app(app, "127.0.0.1", 0) as running:
        await server.stop()  # Temporal goes away under a running intake
        refused = await post(f"{running.url}/v1/alerts/generic", alert)
        assert refused.status_code == 503, refused.text
        assert int(refused.headers["Retry-After"]) > 0
        assert "retry later" in refused.json()["reason"]


async def test_python_api_opens_through_the_policy(stack: Stack) -> None:
    key = f"api-{uuid.uuid4().hex[:8]}"
    incident = Incident(
        org="e2e",
        key=key,
        source="api",
        title="Ledger job stuck",
        severity="SEV2",
        service="ledger",
        started_at=datetime.now(UTC),
    )
    opened = await open_postmortem(stack.client, stack.settings, incident)
    assert opened.created and opened.requirement == "required" and opened.workflow_id == f"pm-e2e-{key}"
    assert not (await open_postmortem(stack.client, stack.settings, incident)).created
    low = incident.model_copy(update={"key": f"{key}-low", "severity": "SEV5"})
    skipped = await open_postmortem(stack.client, stack.settings, low)
    assert skipped.workflow_id is None and skipped.requirement == "none" and skipped.reasons
    await resolve_postmortem(stack.client, stack.settings, "e2e", key)
    await stack.wait(opened.workflow_id, {"drafting"})


async def test_a_storm_of_new_incidents_exists_at_once_and_its_paced_first_steps_follow(stack: Stack) -> None:
    run = uuid.uuid4().hex[:8]
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    url = stack.alerts("alertmanager")
    groups = [f'{{}}:{{alertname="Paced-{run}-{i}"}}' for i in range(4)]
    answers = await asyncio.gather(*(post(url, am_payload(g, "firing", t0), AM_HEADERS) for g in groups))
    assert {a.status_code for a in answers} == {202}
    assert {a.json()["action"] for a in answers} == {"started"}
    paced = [a.json() for a in answers if a.json()["note"].startswith("storm pacing: first steps in")]
    assert len(paced) >= 2  # the intake's burst is 1 new postmortem; the others wait 0.5 s apart
    for answer in paced:  # each exists (listed) before its first steps ran ...
        assert await postmortem_count(stack.client, answer["workflow_id"]) == 1
    for answer in paced:  # ... and its first steps do run: the trigger-time evidence is sealed
        status = await stack.wait(answer["workflow_id"], {"awaiting_resolution"})
        assert status.evidence is not None and status.evidence.sealed


async def test_a_paced_postmortem_says_when_it_answers_and_a_restarted_intake_still_matches_it(
    stack: Stack,
) -> None:
    from afterword.client import NotReady
    from afterword.intake.dispatch import Dispatcher
    from afterword.intake.pacing import StepPacer
    from afterword.intake.policy_view import OrgPolicies
    from afterword.intake.sources import alertmanager

    run = uuid.uuid4().hex[:8]
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    bodies = [json.dumps(am_payload(f'{{}}:{{alertname="Held-{run}-{i}"}}', "firing", t0)).encode() for i in range(2)]

    def intake() -> Dispatcher:  # a fresh one knows nothing: as after a restart
        pacer = StepPacer(per_second=1 / 3600, burst=1, max_delay=timedelta(hours=1))
        return Dispatcher(
            stack.postmortems, OrgPolicies(stack.settings), ContentStore(stack.settings.store_dir), pacer=pacer
        )

    first = intake()
    answers = [await first.accept("e2e", alertmanager.parse(body), body) for body in bodies]
    held = answers[1]
    assert held.action == "started" and held.note.startswith("storm pacing: first steps in ")
    assert float(held.note.split(" in ")[1].removesuffix(" s")) > 3500
    assert held.workflow_id is not None

    with pytest.raises(NotReady) as raised:  # it exists, but cannot answer before its first steps
        await stack.postmortems.status(held.workflow_id)
    assert raised.value.ready_at is not None
    assert timedelta(minutes=59) < raised.value.ready_at - datetime.now(UTC) <= timedelta(hours=1)
    assert "has not run its first steps yet" in str(raised.value)

    again = await intake().accept("e2e", alertmanager.parse(bodies[1]), bodies[1])
    assert (again.action, again.workflow_id) == ("matched", held.workflow_id)


async def test_an_opsgenie_team_of_200000_characters_reaches_history_cut_to_its_cap(stack: Stack) -> None:
    alias = f"huge-team-{uuid.uuid4().hex[:8]}"
    payload = example_json("opsgenie-create.json")
    payload["alert"] |= {"alias": alias, "team": "t" * 200_000, "message": "m" * 50_000}
    response = await post(stack.alerts("opsgenie"), payload)
    assert response.status_code == 202, response.text
    status = await stack.wait(response.json()["workflow_id"], {"awaiting_resolution"})  # read back from Temporal
    assert len(status.incident.team or "") == 200 and len(status.incident.title) == 300
    assert over_caps(status.incident) == []


async def test_the_python_api_refuses_a_time_no_incident_has_and_starts_nothing(stack: Stack) -> None:
    key = f"api-year1-{uuid.uuid4().hex[:8]}"
    future = Incident(
        org="e2e", key=key, title="Ledger job stuck", severity="SEV2", started_at=datetime.now(UTC) + timedelta(days=9)
    )
    with pytest.raises(ValueError, match=r"started_at: .* ahead of this host"):
        await open_postmortem(stack.client, stack.settings, future)
    with pytest.raises(ValueError, match="resolved_at"):
        await resolve_postmortem(stack.client, stack.settings, "e2e", key, resolved_at=datetime(1, 1, 1, tzinfo=UTC))
    assert await postmortem_count(stack.client, f"pm-e2e-{key}", expect=0) == 0


async def test_a_newline_in_an_incident_key_cannot_forge_an_intake_log_line(stack: Stack, tmp_path: Path) -> None:
    """`afterword intake` (the process the worker runs) writes what a sender chose as one escaped line."""
    port = free_port()
    env = {
        **os.environ,
        **stack.settings.to_env(),
        "AFTERWORD_DATA_DIR": str(tmp_path),
        "AFTERWORD_INTAKE_PORT": str(port),
        "TEMPORAL_ADDRESS": f"127.0.0.1:{stack.settings.embedded_port}",
        # a data directory of its own: the workers' key comes by reference
        "AFTERWORD_PAYLOAD_KEYS": f"file:{stack.settings.data_dir.resolve() / 'payload-keys'}",
    }
    command = [sys.executable, "-c", "from afterword.cli import entry; entry()", "intake"]
    process = await asyncio.create_subprocess_exec(
        *command, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    assert process.stdout is not None and process.stderr is not None
    try:
        async with asyncio.timeout(60):
            while b"listening on" not in await process.stdout.readline():
                pass
        forged = "k1\n2026-12-03 15:00:00,000 INFO afterword.intake: generic firing k2 -> started pm-e2e-k2"
        alert = example_json("generic-firing.json") | {"key": forged, "severity": "SEV5"}  # policy: none
        response = await post(f"http://127.0.0.1:{port}/v1/orgs/e2e/alerts/generic", alert)
        assert response.status_code == 202 and response.json()["action"] == "ignored", response.text
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = await asyncio.wait_for(process.communicate(), 30)
    lines = [line for line in stderr.decode().splitlines() if "generic firing" in line]
    assert len(lines) == 1, stderr.decode()
    assert "generic firing k1\\n2026-12-03 15:00:00,000 INFO" in lines[0] and "-> ignored" in lines[0]
