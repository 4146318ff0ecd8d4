"""A capture that dies half-way resumes where it stopped: nothing collected twice, nothing lost."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import web
from temporalio.testing import ActivityEnvironment

from afterword.activities.adapters.base import Collected, Window
from afterword.activities.capture import AttachRequest, EvidenceActivities, attach_file, capture
from afterword.evidence.blobs import ContentStore
from afterword.evidence.custody import EvidenceArchive, Manifest
from afterword.settings import Settings
from afterword.workflows.models import EvidenceRequest, Incident

from .helpers import make_request


class CountingSource:
    kind = "log-lines"
    instrument_hint = "instrument this"

    def __init__(self, name: str, crash_first: bool = False) -> None:
        self.name = name
        self.target = f"/var/log/{name}.log"
        self.calls = 0
        self.crash_first = crash_first

    async def collect(self, incident: Incident, window: Window) -> list[Collected]:
        self.calls += 1
        if self.crash_first and self.calls == 1:
            raise asyncio.CancelledError("worker shut down mid-capture")  # the activity dies, not the source
        line = f"{window.start.isoformat()} ERROR from {self.name} call {self.calls}\n"
        return [Collected(name="app.log", target=self.target, media_type="text/plain", data=line.encode())]


async def test_rerun_after_a_crash_collects_nothing_twice(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    store = ContentStore(settings.store_dir)
    req = make_request(store, datetime.now(UTC) - timedelta(minutes=3))
    first, second = CountingSource("first"), CountingSource("second", crash_first=True)

    with pytest.raises(asyncio.CancelledError):
        await capture(settings, req, sources=[first, second])
    summary = await capture(settings, req, sources=[first, second])
    again = await capture(settings, req, sources=[first, second])

    assert again == summary
    assert (first.calls, second.calls) == (1, 2)
    manifest = Manifest.model_validate_json(store.get(summary.manifest_ref))
    ids = [i.id for i in manifest.items]
    assert len(ids) == len(set(ids)) == 4
    assert b"call 1" in store.get(next(i.sha256 for i in manifest.items if i.source == "first"))
    archive = EvidenceArchive(settings.evidence_dir, store, req.postmortem_id)
    collected = Counter(e.item for e in archive.custody() if e.action == "collected")
    assert set(collected.values()) == {1}
    assert [e.action for e in archive.custody()].count("sealed") == 1


@pytest.fixture
async def slow_then_fast() -> AsyncIterator[tuple[str, dict[str, bool]]]:
    state = {"slow": True}

    async def handler(request: web.Request) -> web.Response:
        if state["slow"]:
            await asyncio.sleep(60)
        return web.json_response([{"timestamp": datetime.now(UTC).isoformat(), "message": "ERROR late"}])

    app = web.Application()
    app.router.add_get("/logs", handler)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}/logs", state
    await runner.cleanup()


CHILD = """
import asyncio, sys
from pathlib import Path
from afterword.activities.capture import capture
from afterword.settings import Settings
from afterword.workflows.models import EvidenceRequest
req = EvidenceRequest.model_validate_json(Path(sys.argv[2]).read_text())
asyncio.run(capture(Settings(data_dir=Path(sys.argv[1])), req))
"""


async def test_capture_killed_mid_way_completes_after_restart(
    tmp_path: Path, slow_then_fast: tuple[str, dict[str, bool]]
) -> None:
    url, state = slow_then_fast
    settings = Settings(data_dir=tmp_path / "data")
    store = ContentStore(settings.store_dir)
    log = tmp_path / "app.log"
    started = datetime.now(UTC) - timedelta(minutes=2)
    log.write_text(f"{datetime.now(UTC).isoformat()} ERROR disk full\n")
    policy = {
        "evidence": {
            "prometheus": None,
            "timeout": 120,
            "logs": [{"name": "app", "paths": [str(log)]}],
            "http_json": [{"name": "central", "url": url}],
        }
    }
    req = make_request(store, started, policy=policy, postmortem_id="pm-acme-kill")
    request_file = tmp_path / "req.json"
    request_file.write_text(req.model_dump_json())
    archive = EvidenceArchive(settings.evidence_dir, store, req.postmortem_id)

    child = await asyncio.create_subprocess_exec(sys.executable, "-c", CHILD, str(settings.data_dir), str(request_file))
    try:
        for _ in range(200):  # wait until the log file is in and the child hangs on the slow backend
            journal = archive.read_journal("trigger")
            if journal and "logs:app" in journal["done"]:
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("the capture never got past the log source")
        os.kill(child.pid, signal.SIGKILL)
    finally:
        await child.wait()
    assert archive.head() is None  # nothing was sealed before the kill
    created = archive.read_journal("trigger")["created_at"]  # type: ignore[index]

    state["slow"] = False
    summary = await capture(settings, EvidenceRequest.model_validate_json(request_file.read_text()))

    manifest = Manifest.model_validate_json(store.get(summary.manifest_ref))
    assert sorted(i.source for i in manifest.items) == ["alert", "http-json:central", "incident", "logs:app"]
    assert manifest.created_at.isoformat() == created  # the window fixed on the first attempt is kept
    collected = Counter(e.item for e in archive.custody() if e.action == "collected")
    assert set(collected.values()) == {1}


async def test_activity_runs_in_an_activity_context_with_heartbeats(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    store = ContentStore(settings.store_dir)
    log = tmp_path / "a.log"
    log.write_text(f"{datetime.now(UTC).isoformat()} ERROR x\n")
    policy = {"evidence": {"prometheus": None, "logs": [{"name": "a", "paths": [str(log)]}]}}
    req = make_request(store, datetime.now(UTC) - timedelta(minutes=1), policy=policy)
    env = ActivityEnvironment()
    beats: list[object] = []
    env.on_heartbeat = lambda *details: beats.extend(details)
    summary = await env.run(EvidenceActivities(settings).preserve_evidence, req)
    assert summary.items == 3 and summary.gaps == []
    assert beats == ["logs:a attempt 1"]


async def test_invalid_evidence_policy_is_a_non_retryable_error(tmp_path: Path) -> None:
    from temporalio.exceptions import ApplicationError

    settings = Settings(data_dir=tmp_path)
    req = make_request(ContentStore(settings.store_dir), datetime.now(UTC), policy={"evidence": {"atempts": 3}})
    with pytest.raises(ApplicationError) as caught:
        await EvidenceActivities(settings).preserve_evidence(req)
    assert caught.value.non_retryable and "atempts" in caught.value.message


class BrokenSource(CountingSource):
    async def collect(self, incident: Incident, window: Window) -> list[Collected]:
        self.calls += 1
        raise KeyError("unexpected shape")


async def test_a_source_that_breaks_becomes_a_gap_and_others_still_run(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    store = ContentStore(settings.store_dir)
    req = make_request(store, datetime.now(UTC), policy={"evidence": {"prometheus": None, "backoff": 0.01}})
    broken, fine = BrokenSource("broken"), CountingSource("fine")
    summary = await capture(settings, req, sources=[broken, fine])
    assert broken.calls == 3 and fine.calls == 1
    assert summary.items == 3
    (gap,) = summary.gaps
    assert gap.startswith("broken (/var/log/broken.log): source failed: KeyError")


async def test_concurrent_attempts_of_one_capture_do_not_interleave(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    store = ContentStore(settings.store_dir)
    req = make_request(store, datetime.now(UTC))
    source = CountingSource("only")
    one, two = await asyncio.gather(capture(settings, req, sources=[source]), capture(settings, req, sources=[source]))
    assert one == two and source.calls == 1


class AttachingSource(CountingSource):
    """A person attaches a file while this source is being collected."""

    def __init__(self, settings: Settings, postmortem_id: str, file: Path) -> None:
        super().__init__("slow")
        self.settings, self.postmortem_id, self.file = settings, postmortem_id, file

    async def collect(self, incident: Incident, window: Window) -> list[Collected]:
        attach = AttachRequest(postmortem_id=self.postmortem_id, name=self.file.name, data=self.file.read_bytes(),
                               note="bridge notes", by="alice")
        await asyncio.to_thread(attach_file, self.settings, attach)
        return await super().collect(incident, window)


async def test_attachment_added_during_a_capture_is_kept_and_the_chain_stays_linear(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    store = ContentStore(settings.store_dir)
    started = datetime.now(UTC) - timedelta(minutes=30)
    trigger = make_request(store, started)
    await capture(settings, trigger, sources=[])
    notes = tmp_path / "notes.txt"
    notes.write_text("bridge call notes")
    resolution = make_request(store, started, phase="resolution", resolved=started + timedelta(minutes=20))
    summary = await capture(settings, resolution, sources=[AttachingSource(settings, resolution.postmortem_id, notes)])

    archive = EvidenceArchive(settings.evidence_dir, store, resolution.postmortem_id)
    entries = archive.manifest_entries()
    assert [e.phase for e in entries] == ["trigger", "attachment", "resolution"]
    assert [e.supersedes for e in entries] == [None, entries[0].ref, entries[1].ref]
    manifest = Manifest.model_validate_json(store.get(summary.manifest_ref))
    assert any(i.source == "attachment" for i in manifest.items)
    assert archive.verify("test", record=False).ok


async def test_crash_between_sealing_and_journalling_does_not_seal_twice(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    store = ContentStore(settings.store_dir)
    req = make_request(store, datetime.now(UTC) - timedelta(minutes=3))
    first = await capture(settings, req, sources=[])
    archive = EvidenceArchive(settings.evidence_dir, store, req.postmortem_id)
    journal = archive.read_journal("trigger")
    assert journal is not None
    journal["manifest_ref"] = None  # as if the worker died right after appending to manifests.jsonl
    archive.write_journal("trigger", journal)
    again = await capture(settings, req, sources=[])
    assert again == first and len(archive.manifest_entries()) == 1
