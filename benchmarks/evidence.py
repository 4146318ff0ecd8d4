"""Capture and seal ~100 MB of mixed evidence, then verify it; print MB/s against baselines.

    .venv/bin/python benchmarks/evidence.py [--mb 100]

Evidence mix (shares of the total): log files 50 % (timestamped lines, all inside the window, so
every line is parsed and kept), an HTTP JSON log backend on loopback 10 %, a Slack export 10 %,
attachments 30 % (binary files added the way `afterword evidence add` does).
Baselines measured in the same run over the same bytes:
- capture: copying the input files and hashing them with hashlib (what any capture must at least do);
- verify: `sha256sum` over every stored blob, and hashlib in one thread over the same blobs.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

from afterword.activities.capture import AttachRequest, attach_file, capture
from afterword.evidence.blobs import ContentStore
from afterword.evidence.custody import EvidenceArchive, Manifest
from afterword.evidence.timeline import reconstruct_timeline
from afterword.settings import Settings
from afterword.workflows.models import EvidenceRequest, EvidenceSummary, Incident

MB = 1024 * 1024
START = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)


def write_logs(folder: Path, total: int, files: int) -> list[Path]:
    folder.mkdir(parents=True)
    paths = []
    per_file = total // files
    for n in range(files):
        path = folder / f"service-{n}.log"
        with open(path, "w") as fh:
            written = 0
            i = 0
            while written < per_file:
                at = START + timedelta(milliseconds=i * 7 + n)
                level = "ERROR" if i % 997 == 0 else "INFO"
                path_part = f"path=/api/v1/items/{i % 5000}"
                line = f"{at.isoformat()} {level} request handled {path_part} status=200 dur={i % 90}ms\n"
                fh.write(line)
                written += len(line)
                i += 1
        paths.append(path)
    return paths


def write_slack(folder: Path, total: int) -> None:
    channel = folder / "inc-api"
    channel.mkdir(parents=True)
    (folder / "channels.json").write_text(json.dumps([{"id": "C1", "name": "inc-api"}]))
    messages: list[dict[str, Any]] = []
    size = 0
    i = 0
    while size < total:
        text = f"investigating shard {i % 64}: p99 latency {i % 900} ms, retrying upstream call " + "x" * 80
        messages.append({"type": "message", "user": f"U{i % 7}", "text": text, "ts": f"{START.timestamp() + i:.6f}"})
        size += len(text) + 60
        i += 1
    (channel / f"{START.date().isoformat()}.json").write_text(json.dumps(messages))
    # a window that crosses midnight reads the next day's file too
    (channel / f"{(START + timedelta(days=1)).date().isoformat()}.json").write_text("[]")


def json_records(total: int) -> bytes:
    records = []
    size = 0
    i = 0
    while size < total:
        message = f"upstream timeout after {i % 3000} ms on shard {i % 64}"
        records.append({"timestamp": (START + timedelta(milliseconds=i * 13)).isoformat(), "message": message})
        size += len(message) + 60
        i += 1
    return json.dumps({"data": {"records": records}}).encode()


async def serve(body: bytes) -> tuple[web.AppRunner, str]:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/logs", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}/logs"


def rate(nbytes: int, seconds: float) -> float:
    return nbytes / MB / seconds


async def capture_all(
    work: Path, settings: Settings, total: int, attachments: list[Path]
) -> tuple[EvidenceRequest, EvidenceSummary, float]:
    """Capture and seal everything; returns the request, the final summary and the seconds it took."""
    runner, url = await serve(json_records(total * 10 // 100))
    try:
        store = ContentStore(settings.store_dir)
        payload_ref = store.put_bytes(json.dumps({"alerts": []}).encode())
        incident = Incident(
            org="bench",
            key="k1",
            title="benchmark incident",
            severity="SEV2",
            service="api",
            started_at=START + timedelta(minutes=1),
            payload_ref=payload_ref,
        )
        policy = {
            "evidence": {
                "prometheus": None,
                "margin_before": "5m",
                "max_item_bytes": 4 * total,
                "timeout": 120,
                "logs": [{"name": "app", "paths": [str(work / "logs" / "*.log")]}],
                "http_json": [{"name": "central", "url": url, "records_path": "data.records"}],
                "slack": [{"path": str(work / "slack")}],
            }
        }
        req = EvidenceRequest(postmortem_id="pm-bench-1", incident=incident, policy=policy)
        began = time.perf_counter()
        summary = await capture(settings, req)
        for path in attachments:
            summary = await asyncio.to_thread(attach_path, settings, req.postmortem_id, path)
        return req, summary, time.perf_counter() - began
    finally:
        await runner.cleanup()


def attach_path(settings: Settings, postmortem_id: str, path: Path) -> EvidenceSummary:
    """What `afterword evidence add` has the worker do with the file's bytes."""
    attach = AttachRequest(postmortem_id=postmortem_id, name=path.name, data=path.read_bytes(), note="pcap", by="bench")
    return attach_file(settings, attach)


def sha256_of(path: str | Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=100, help="total evidence size in MB")
    args = parser.parse_args()
    total = args.mb * MB
    work = Path(tempfile.mkdtemp(prefix="afterword-bench-"))
    try:
        print(f"generating {args.mb} MB of evidence in {work} …", flush=True)
        logs = write_logs(work / "logs", total * 50 // 100, files=5)
        write_slack(work / "slack", total * 10 // 100)
        attachments = []
        for n in range(3):
            path = work / f"capture-{n}.pcap"
            path.write_bytes(os.urandom(total * 10 // 100))
            attachments.append(path)
        settings = Settings(data_dir=work / "data")
        store = ContentStore(settings.store_dir)
        req, summary, capture_s = asyncio.run(capture_all(work, settings, total, attachments))
        manifest = Manifest.model_validate_json(store.get(summary.manifest_ref))
        stored = sum(i.size for i in manifest.items)
        if summary.gaps:
            print("gaps:", summary.gaps, file=sys.stderr)

        inputs = [*logs, *attachments, *sorted((work / "slack").rglob("*.json"))]
        input_bytes = sum(p.stat().st_size for p in inputs)
        copy_dir = work / "copy"
        copy_dir.mkdir()
        began = time.perf_counter()
        for n, path in enumerate(inputs):
            shutil.copyfile(path, copy_dir / f"{n}")
            sha256_of(copy_dir / f"{n}")
        copy_s = time.perf_counter() - began

        archive = EvidenceArchive(settings.evidence_dir, store, req.postmortem_id)
        blobs = [str(store.path(i.sha256)) for i in manifest.items]
        os.sync()
        began = time.perf_counter()
        report = archive.verify("bench", record=False)
        verify_s = time.perf_counter() - began
        assert report.ok, report.problems

        began = time.perf_counter()
        timeline_rows = reconstruct_timeline(store, summary.manifest_ref, [])
        timeline_s = time.perf_counter() - began

        began = time.perf_counter()
        subprocess.run(["sha256sum", *blobs], check=True, stdout=subprocess.DEVNULL)
        sha256sum_s = time.perf_counter() - began
        began = time.perf_counter()
        for blob in blobs:
            sha256_of(blob)
        hashlib_s = time.perf_counter() - began

        print(
            f"items: {len(manifest.items)}  stored: {stored / MB:.1f} MB  gaps: {len(summary.gaps)}  "
            f"cores: {os.cpu_count()}"
        )
        print(f"{'measure':<46}{'MB/s':>10}{'seconds':>10}")
        rows = [
            ("capture + seal (afterword)", rate(stored, capture_s), capture_s),
            ("  baseline: copy + hashlib over the inputs", rate(input_bytes, copy_s), copy_s),
            ("verify (afterword, all hashes + custody)", rate(report.bytes_checked, verify_s), verify_s),
            ("  baseline: sha256sum over the same blobs", rate(report.bytes_checked, sha256sum_s), sha256sum_s),
            ("  baseline: hashlib, one thread", rate(report.bytes_checked, hashlib_s), hashlib_s),
        ]
        for name, mbps, seconds in rows:
            print(f"{name:<46}{mbps:>10.1f}{seconds:>10.2f}")
        print(f"timeline rebuilt from all {stored / MB:.0f} MB: {len(timeline_rows)} rows in {timeline_s:.2f} s")
        print(f"verify / sha256sum: {sha256sum_s / verify_s:.2f}x   capture / copy+hash: {copy_s / capture_s:.2f}x")
        print("target verify >= 200 MB/s:", "met" if rate(report.bytes_checked, verify_s) >= 200 else "NOT met")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
