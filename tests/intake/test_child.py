"""The worker's intake process: started until it listens, restarted with growing pauses while it keeps
dying, refused with its exit code when it cannot start (stand-in commands, no Temporal needed)."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

import pytest

from afterword.intake import child
from afterword.intake.child import LISTENING, IntakeChild, IntakeChildError
from afterword.settings import Settings


def stand_in(monkeypatch: pytest.MonkeyPatch, script: str) -> None:
    monkeypatch.setattr(child, "command", lambda level: [sys.executable, "-c", script])


async def test_an_intake_that_keeps_dying_is_restarted_after_growing_pauses(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    listens = f"print({LISTENING + 'http://127.0.0.1:9/v1/alerts/<source> (Ctrl-C stops)'!r}, flush=True)"
    stand_in(monkeypatch, f"import sys, time; {listens}; time.sleep(0.05); sys.exit(3)")
    caplog.set_level(logging.WARNING, logger="afterword.intake")
    async with IntakeChild(
        Settings(data_dir=tmp_path), "127.0.0.1:9", first_restart_pause=0.05, max_restart_pause=0.2
    ) as intake:
        assert intake.url == "http://127.0.0.1:9/v1/alerts/<source>"
        await asyncio.sleep(2.0)
    pauses = [r.getMessage().rsplit(" in ", 1)[1] for r in caplog.records if "restarting it in" in r.getMessage()]
    assert pauses[:4] == ["0.05 s", "0.1 s", "0.2 s", "0.2 s"]
    assert all("exited with code 3" in r.getMessage() for r in caplog.records if "restarting" in r.getMessage())
    assert any("is back at http://127.0.0.1:9" in r.getMessage() for r in caplog.records)


async def test_an_intake_that_cannot_start_is_refused_with_its_exit_code(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    stand_in(monkeypatch, "import sys; print('cannot listen: address in use', file=sys.stderr); sys.exit(2)")
    with pytest.raises(IntakeChildError, match="exited with code 2 while starting"):
        async with IntakeChild(Settings(data_dir=tmp_path), "127.0.0.1:9"):
            pass


async def test_an_intake_that_never_listens_is_stopped_and_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    stand_in(monkeypatch, "import time; time.sleep(30)")
    started = asyncio.get_running_loop().time()
    with pytest.raises(IntakeChildError, match="did not listen within"):
        async with IntakeChild(Settings(data_dir=tmp_path), "127.0.0.1:9", ready_timeout=0.5, stop_timeout=2):
            pass
    assert asyncio.get_running_loop().time() - started < 5  # stopped, not waited out
