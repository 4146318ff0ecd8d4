"""`afterword policy reapply`: a running postmortem keeps its recorded policy until someone moves it."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner
from temporalio.testing import WorkflowEnvironment

from afterword.cli import main
from afterword.client import Postmortems
from afterword.policies import load_org_policy, rules_for
from afterword.settings import Settings
from afterword.workflows.models import Incident


def policy_text(quorum: int) -> str:
    return f'extends = "default"\n[review]\nquorum = {quorum}\n'


async def test_reapply_moves_one_postmortem_to_the_current_policy(
        tmp_path: Path, ts_env: WorkflowEnvironment, postmortems: Postmortems, ts_settings: Settings) -> None:
    (tmp_path / "acme.toml").write_text(policy_text(1))
    incident = Incident(org="acme", key=f"reapply-{uuid.uuid4().hex[:8]}", title="Checkout errors",
                        severity="SEV2", started_at=datetime(2026, 11, 20, 9, 0, tzinfo=UTC))
    first = rules_for(load_org_policy("acme", tmp_path), incident)
    wid = (await postmortems.open(incident, first)).workflow_id

    (tmp_path / "acme.toml").write_text(policy_text(2))  # an edit: new postmortems only
    assert (await postmortems.status(wid)).policy_hash == first.policy_hash
    current = rules_for(load_org_policy("acme", tmp_path), incident)

    env = {
        "TEMPORAL_ADDRESS": ts_env.client.service_client.config.target_host,
        "TEMPORAL_NAMESPACE": ts_env.client.namespace,
        "AFTERWORD_TASK_QUEUE": ts_settings.task_queue,
        "AFTERWORD_POLICY_DIR": str(tmp_path),
        "AFTERWORD_DATA_DIR": str(ts_settings.data_dir),
        "AFTERWORD_PAYLOAD_ENCRYPTION": "off",  # the time-skipping environment's clients do not encrypt
    }

    def invoke(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(main, ["policy", "reapply", *args], env=env)
        return result.exit_code, result.output

    # the command runs its own event loop, as from a shell
    code, out = await asyncio.to_thread(invoke, wid, "--by", "mia", "--dry-run")
    assert code == 0, out
    assert f"would move {wid}" in out and current.policy_hash[:12] in out
    assert (await postmortems.status(wid)).policy_hash == first.policy_hash

    code, out = await asyncio.to_thread(invoke, wid, "--by", "mia")
    assert code == 0, out
    assert f"{first.policy_hash[:12]} -> {current.policy_hash[:12]}" in out
    status = await postmortems.status(wid)
    assert status.policy_hash == current.policy_hash
    assert any(entry.event == "policy reapplied" and entry.by == "mia" for entry in status.audit)

    code, out = await asyncio.to_thread(invoke, wid, "--by", "mia")
    assert code == 0 and "already runs under the current policy" in out

    code, out = await asyncio.to_thread(invoke, "pm-does-not-exist", "--by", "mia")
    assert code == 1 and "no postmortem 'pm-does-not-exist'" in out
