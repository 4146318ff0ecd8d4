"""PolicyStore: an invalid edit keeps the last good version in force; a valid edit serves new postmortems."""

from __future__ import annotations

import asyncio
import logging
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from afterword.policies import PolicyError
from afterword.policies.store import PolicyStore
from afterword.workflows.models import Incident


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def write(path: Path, text: str, stamp: int) -> None:
    path.write_text(text)
    os.utime(path, (stamp, stamp))  # distinct modification times, however fast the test runs


def quorum_policy(quorum: int) -> str:
    return f'extends = "default"\n[review]\nquorum = {quorum}\n'


def test_edits(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    store = PolicyStore(tmp_path, recheck=5, clock=clock)
    policy_file = tmp_path / "acme.toml"
    write(policy_file, quorum_policy(1), 1000)
    assert store.get("acme").review.quorum == 1

    write(policy_file, quorum_policy(2), 2000)
    assert store.get("acme").review.quorum == 1  # not re-checked before `recheck` seconds
    clock.now = 6
    assert store.get("acme").review.quorum == 2

    caplog.set_level(logging.ERROR, logger="afterword.policies")
    write(policy_file, quorum_policy(2) + "quorom = 3\n", 3000)
    clock.now = 12
    assert store.get("acme").review.quorum == 2  # the last good version stays in force
    assert "keeping the last good version" in caplog.text
    assert f"{policy_file}:4: review.quorom" in caplog.text
    error = store.error("acme")
    assert error is not None and error.problems[0].line == 4

    write(policy_file, quorum_policy(3), 4000)
    clock.now = 18
    assert store.get("acme").review.quorum == 3
    assert store.error("acme") is None


def test_edit_to_an_extended_file_is_noticed(tmp_path: Path) -> None:
    clock = Clock()
    store = PolicyStore(tmp_path, recheck=1, clock=clock)
    base = tmp_path / "shared" / "base.toml"
    base.parent.mkdir()
    write(base, quorum_policy(1), 1000)
    write(tmp_path / "acme.toml", 'extends = "shared/base.toml"\n', 1000)
    assert store.get("acme").review.quorum == 1
    write(base, quorum_policy(2), 2000)
    clock.now = 2
    assert store.get("acme").review.quorum == 2


def test_first_load_must_succeed(tmp_path: Path) -> None:
    write(tmp_path / "acme.toml", "[review\n", 1000)
    store = PolicyStore(tmp_path)
    with pytest.raises(PolicyError, match=r"acme\.toml:1"):
        store.get("acme")
    with pytest.raises(PolicyError):
        store.check_all()


def test_org_without_file_gets_default_and_new_file_is_picked_up(tmp_path: Path) -> None:
    clock = Clock()
    store = PolicyStore(tmp_path, recheck=1, clock=clock)
    assert store.get("beta").org == "beta"
    assert store.get("beta").review.quorum == 1
    write(tmp_path / "beta.toml", quorum_policy(2), 1000)
    clock.now = 2
    assert store.get("beta").review.quorum == 2


def test_rules_use_the_version_in_force(tmp_path: Path) -> None:
    clock = Clock()
    store = PolicyStore(tmp_path, recheck=1, clock=clock)
    write(tmp_path / "acme.toml", quorum_policy(1), 1000)
    incident = Incident(org="acme", key="k", title="t", severity="SEV2", started_at=datetime(2026, 1, 5, tzinfo=UTC))
    first = store.rules_for(incident)
    write(tmp_path / "acme.toml", quorum_policy(2), 2000)
    clock.now = 2
    second = store.rules_for(incident)
    assert (first.review.quorum, second.review.quorum) == (1, 2)
    assert first.policy_hash != second.policy_hash
    assert store.decide(incident).requirement.value == "required"


async def test_watch_reloads_in_the_background(tmp_path: Path) -> None:
    store = PolicyStore(tmp_path, recheck=3600)
    write(tmp_path / "acme.toml", quorum_policy(1), 1000)
    assert store.get("acme").review.quorum == 1
    write(tmp_path / "acme.toml", quorum_policy(2), 2000)
    stop = asyncio.Event()
    task = asyncio.create_task(store.watch(interval=0.01, stop=stop))
    for _ in range(200):
        await asyncio.sleep(0.01)
        if store.get("acme").review.quorum == 2:  # served from memory: recheck is an hour
            break
    stop.set()
    await task
    assert store.get("acme").review.quorum == 2
