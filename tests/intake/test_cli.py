"""`afterword replay-alert` and `afterword intake`: what a person sees, and a replay on real Temporal."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from afterword.cli import main
from afterword.commands.intake_cli import replay

from .conftest import Stack
from .fakes import EXAMPLES, example


def test_replay_refuses_a_payload_of_another_source() -> None:
    result = CliRunner().invoke(main, ["replay-alert", str(EXAMPLES / "generic-firing.json"), "--source", "pagerduty"])
    assert result.exit_code != 0
    assert "pagerduty payload refused" in result.output and "event" in result.output


def test_replay_refuses_an_unknown_org(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["replay-alert", str(EXAMPLES / "generic-firing.json"), "--org", "initech"],
        env={"AFTERWORD_DATA_DIR": str(tmp_path)},
    )
    assert result.exit_code != 0 and "unknown org 'initech'" in result.output


def test_replay_needs_a_source_it_can_tell(tmp_path: Path) -> None:
    odd = tmp_path / "odd.json"
    odd.write_text('{"hello": "world"}')
    result = CliRunner().invoke(main, ["replay-alert", str(odd)])
    assert result.exit_code == 2 and "--source" in result.output


def test_intake_refuses_an_inline_secret(tmp_path: Path) -> None:
    config = tmp_path / "intake.toml"
    config.write_text('[intake.sources.generic]\nbearer_tokens = ["hunter2"]\n')
    result = CliRunner().invoke(main, ["intake", "--config", str(config)])
    assert result.exit_code != 0 and "never written inline" in result.output


@pytest.mark.e2e
async def test_replay_starts_then_matches_then_resolves(stack: Stack) -> None:
    body = example("opsgenie-create.json").replace(b"payments-db-replication-lag", b"replay-cli-test")
    first = await replay(stack.settings, "opsgenie", "e2e", body)
    again = await replay(stack.settings, "opsgenie", "e2e", body)
    assert (first["action"], again["action"]) == ("started", "matched")  # each replay asks Temporal afresh
    closed = example("opsgenie-close.json").replace(b"payments-db-replication-lag", b"replay-cli-test")
    resolved = await replay(stack.settings, "opsgenie", "e2e", closed)
    assert resolved["action"] == "resolved" and resolved["workflow_id"] == first["workflow_id"]
    await stack.wait(first["workflow_id"], {"drafting"})
