"""Stored histories of every workflow version replay against today's code (determinism guard)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from afterword.runtime.payload_codec import MissingPayloadKey, data_converter, new_key_line
from afterword.settings import Settings
from afterword.worker import workflow_runner
from afterword.workflows.worker_workflows import WORKFLOWS

STORED = Path(__file__).resolve().parents[1] / "histories"
HISTORIES = sorted(STORED.glob("*.json"))
# what every worker, client and Replayer uses: the payload codec, here with the keyring the histories were
# recorded with (tests/histories/record.py); histories from before encryption pass through it as they are
CONVERTER = data_converter(Settings(payload_keys=f"file:{STORED / 'payload-keys'}"))


def test_histories_are_stored_for_every_workflow_type() -> None:
    types = {json.loads(p.read_text())["events"][0]["workflowExecutionStartedEventAttributes"]["workflowType"]["name"]
             for p in HISTORIES}
    assert types == {w.__name__ for w in WORKFLOWS}


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_history_replays(path: Path) -> None:
    workflow_id = path.stem.split("--", 1)[1]  # <version>-<kind>--<workflow id>.json
    history = WorkflowHistory.from_json(workflow_id, path.read_text())
    replayer = Replayer(workflows=WORKFLOWS, data_converter=CONVERTER, workflow_runner=workflow_runner())
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None


def _sealed(path: Path) -> bool:
    return "YmluYXJ5L2VuY3J5cHRlZA==" in path.read_text()  # base64 of the codec's encoding, binary/encrypted


def test_histories_written_before_and_after_encryption_are_both_stored() -> None:
    assert [p.name for p in HISTORIES if _sealed(p)], "no history recorded through the payload codec"
    assert [p.name for p in HISTORIES if not _sealed(p)], "no history from before encryption"


async def test_a_sealed_history_does_not_replay_without_its_key(tmp_path: Path) -> None:
    path = next(p for p in HISTORIES if _sealed(p))
    history = WorkflowHistory.from_json(path.stem.split("--", 1)[1], path.read_text())
    replayer = Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter, workflow_runner=workflow_runner())
    with pytest.raises(Exception):  # noqa: B017 - the converter cannot read the sealed input
        await replayer.replay_workflow(history, raise_on_replay_failure=True)
    (tmp_path / "keys").write_text(new_key_line("another") + "\n")
    elsewhere = data_converter(Settings(payload_keys=f"file:{tmp_path / 'keys'}"))
    with pytest.raises(MissingPayloadKey, match="test-histories"):
        await elsewhere.decode(list(history.events[0].workflow_execution_started_event_attributes.input.payloads))
