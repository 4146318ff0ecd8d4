"""Each source against real things on this machine: files, a loopback HTTP log API, git, a Slack export."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from afterword.activities.adapters.base import Window
from afterword.activities.adapters.logs import line_time
from afterword.activities.capture import EvidenceActivities
from afterword.evidence.blobs import ContentStore
from afterword.evidence.custody import Manifest
from afterword.evidence.timeline import reconstruct_timeline
from afterword.settings import Settings

from .helpers import make_request

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)  # the incident starts; margin 10 min either side


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


async def capture(tmp_path: Path, evidence: dict[str, Any], pm: str = "pm-src") -> tuple[Manifest, ContentStore, str]:
    settings = Settings(data_dir=tmp_path)
    store = ContentStore(settings.store_dir)
    policy = {"evidence": {"margin_before": "10m", "margin_after": "10m", "prometheus": None, **evidence}}
    req = make_request(
        store,
        T0,
        payload={"note": "no alerts"},
        policy=policy,
        postmortem_id=pm,
        phase="resolution",
        resolved=T0 + timedelta(minutes=20),
    )
    summary = await EvidenceActivities(settings).preserve_evidence(req)
    return Manifest.model_validate_json(store.get(summary.manifest_ref)), store, summary.manifest_ref


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("2026-03-01T12:05:00Z ERROR boom", datetime(2026, 3, 1, 12, 5, tzinfo=UTC)),
        ("2026-03-01 13:05:00,250 +01:00 ERROR boom", datetime(2026, 3, 1, 12, 5, 0, 250000, tzinfo=UTC)),
        ('{"ts": 1772366700.5, "msg": "ERROR boom"}', datetime(2026, 3, 1, 12, 5, 0, 500000, tzinfo=UTC)),
        ('{"time": "2026-03-01T12:05:00+00:00", "message": "x"}', datetime(2026, 3, 1, 12, 5, tzinfo=UTC)),
        ("Mar  1 12:05:00 host app[1]: ERROR boom", datetime(2026, 3, 1, 12, 5, tzinfo=UTC)),
        ('1.2.3.4 - - [01/Mar/2026:12:05:00 +0000] "GET / HTTP/1.1" 500', datetime(2026, 3, 1, 12, 5, tzinfo=UTC)),
        ("    at com.example.Foo(Foo.java:12)", None),
    ],
)
def test_log_timestamps_in_common_formats(line: str, expected: datetime | None) -> None:
    assert line_time(line, 2026)[0] == expected


async def test_log_files_are_filtered_to_the_window(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    lines = [
        f"{iso(T0 - timedelta(hours=1))} INFO long before\n",
        f"{iso(T0 + timedelta(minutes=1))} ERROR db connection refused\n",
        "Traceback (most recent call last):\n",
        "  File app.py, line 3\n",
        f"{iso(T0 + timedelta(minutes=2))} ERROR db connection refused\n",
        f"{iso(T0 + timedelta(minutes=3))} INFO deployed v2.3.1\n",
        f"{iso(T0 + timedelta(hours=2))} ERROR long after\n",
    ]
    (logs / "app.log").write_text("".join(lines))
    with gzip.open(logs / "app.log.1.gz", "wt") as fh:
        fh.write(f"{iso(T0 - timedelta(minutes=5))} WARN restarting worker pool\n")
    (logs / "old.log").write_text(f"{iso(T0 - timedelta(days=3))} ERROR ancient\n")
    os.utime(logs / "old.log", (T0.timestamp() - 86400 * 3,) * 2)

    manifest, store, ref = await capture(tmp_path, {"logs": [{"name": "app", "paths": [str(logs / "*.log*")]}]})

    by_target = {i.target: i for i in manifest.items if i.kind == "log-lines"}
    assert set(by_target) == {str(logs / "app.log"), str(logs / "app.log.1.gz")}  # old.log predates the window
    kept = store.get_text(by_target[str(logs / "app.log")].sha256)
    assert kept == "".join(lines[1:6])  # in-window lines and the traceback that follows one of them
    rows = reconstruct_timeline(store, ref, [])
    texts = [r.event for r in rows]
    assert "ERROR db connection refused (x2 until 12:02:00)" in texts
    assert "INFO deployed v2.3.1" in texts
    assert "WARN restarting worker pool" in texts
    assert not any("long" in t for t in texts)


@pytest.fixture
async def log_api() -> AsyncIterator[tuple[str, list[dict[str, str]]]]:
    seen: list[dict[str, str]] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(dict(request.query))
        if request.query.get("fail"):
            return web.Response(status=503, text="backend overloaded")
        records = [
            {"ts": iso(T0 + timedelta(minutes=1, seconds=40)), "log": {"msg": "ERROR db connection refused"}},
            {"ts": iso(T0 + timedelta(minutes=4)), "log": {"msg": "ERROR cache timeout"}},
        ]
        return web.json_response({"data": {"hits": records}})

    app = web.Application()
    app.router.add_get("/search", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}", seen
    await runner.cleanup()


async def test_http_json_logs_and_clock_skew_against_the_file(
    tmp_path: Path, log_api: tuple[str, list[dict[str, str]]]
) -> None:
    base, seen = log_api
    log = tmp_path / "app.log"
    log.write_text(f"{iso(T0 + timedelta(minutes=1))} ERROR db connection refused\n")
    evidence = {
        "logs": [{"name": "host", "paths": [str(log)]}],
        "http_json": [
            {
                "name": "central",
                "url": base + "/search?from={start}&to={end}&svc={service}",
                "records_path": "data.hits",
                "time_field": "ts",
                "message_field": "log.msg",
            }
        ],
    }
    _, store, ref = await capture(tmp_path, evidence)
    assert seen[0]["svc"] == "api"
    assert seen[0]["from"] == "2026-03-01T11:50:00.000000Z"
    assert seen[0]["to"] == "2026-03-01T12:30:00.000000Z"
    rows = reconstruct_timeline(store, ref, [])
    refused = [r for r in rows if "connection refused" in r.event]
    assert len(refused) == 1, "one event seen by two sources is one row"
    assert refused[0].source == "logs:host"
    assert refused[0].skew_flag is not None and "http-json:central" in refused[0].skew_flag
    assert "+40.0 s" in refused[0].skew_flag
    assert any(r.event == "ERROR cache timeout" and r.source == "http-json:central" for r in rows)

    # a policy that tolerates a minute of skew merges the two sightings without a flag
    _, store, ref = await capture(tmp_path, {**evidence, "skew_tolerance": "60s"}, pm="pm-tolerant")
    (refused,) = [r for r in reconstruct_timeline(store, ref, []) if "connection refused" in r.event]
    assert refused.skew_flag is None


async def test_http_json_server_errors_are_retried_then_become_a_gap(
    tmp_path: Path, log_api: tuple[str, list[dict[str, str]]]
) -> None:
    base, seen = log_api
    evidence = {
        "attempts": 3,
        "backoff": 0.01,
        "http_json": [{"name": "central", "url": base + "/search?fail=1", "records_path": "data.hits"}],
    }
    manifest, _, _ = await capture(tmp_path, evidence)
    assert len(seen) == 3
    (gap,) = manifest.gaps
    assert gap.source == "http-json:central" and "503" in gap.reason and gap.attempts == 3


def git(repo: Path, *args: str, when: datetime | None = None) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Dev",
        "GIT_AUTHOR_EMAIL": "dev@example.com",
        "GIT_COMMITTER_NAME": "Dev",
        "GIT_COMMITTER_EMAIL": "dev@example.com",
    }
    if when is not None:
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = when.isoformat()
    subprocess.run(["git", "-C", str(repo), *args], check=True, env=env, capture_output=True)


async def test_git_commits_and_tags_in_the_window(tmp_path: Path) -> None:
    repo = tmp_path / "service"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    for minutes, subject in [(-120, "old change"), (2, "raise pool size"), (5, "revert pool size")]:
        (repo / "f.txt").write_text(subject)
        git(repo, "add", "f.txt")
        git(repo, "commit", "-q", "-m", subject, when=T0 + timedelta(minutes=minutes))
    git(repo, "tag", "-a", "v1.4.0", "-m", "release", when=T0 + timedelta(minutes=6))

    manifest, store, ref = await capture(tmp_path, {"git": [{"repo": str(repo)}]})
    (item,) = [i for i in manifest.items if i.kind == "git-changes"]
    document = json.loads(store.get(item.sha256))
    assert [c["subject"] for c in document["commits"]] == ["revert pool size", "raise pool size"]
    assert [t["tag"] for t in document["tags"]] == ["v1.4.0"]
    rows = reconstruct_timeline(store, ref, [])
    changes = [r.event for r in rows if r.source == "git:git"]
    assert changes[0].endswith("in service: raise pool size") and changes[1].endswith("revert pool size")
    assert changes[2].startswith("Tag v1.4.0 in service")
    assert not any("Dev" in r.event for r in rows), "timeline rows describe changes, not people"


async def test_missing_repository_is_a_gap(tmp_path: Path) -> None:
    manifest, _, _ = await capture(tmp_path, {"git": [{"repo": str(tmp_path / "nope")}]})
    (gap,) = manifest.gaps
    assert gap.attempts == 1 and "does not exist" in gap.reason  # a refusal is not retried


async def test_slack_export_transcript(tmp_path: Path) -> None:
    export = tmp_path / "export"
    (export / "inc-api").mkdir(parents=True)
    (export / "random").mkdir()
    (export / "channels.json").write_text(json.dumps([{"id": "C1", "name": "inc-api"}, {"id": "C2", "name": "random"}]))
    (export / "users.json").write_text(json.dumps([{"id": "U1", "name": "alice"}]))
    messages = [
        {
            "type": "message",
            "user": "U1",
            "text": "seeing 500s on checkout",
            "ts": f"{(T0 + timedelta(minutes=3)).timestamp():.6f}",
        },
        {
            "type": "message",
            "user": "U1",
            "text": "rolling back",
            "ts": f"{(T0 + timedelta(minutes=9)).timestamp():.6f}",
        },
        {"type": "message", "user": "U1", "text": "lunch?", "ts": f"{(T0 - timedelta(hours=3)).timestamp():.6f}"},
    ]
    (export / "inc-api" / "2026-03-01.json").write_text(json.dumps(messages))
    (export / "random" / "2026-03-01.json").write_text(json.dumps(messages[:1]))

    manifest, store, ref = await capture(tmp_path, {"slack": [{"path": str(export), "channels": ["inc-api"]}]})
    (item,) = [i for i in manifest.items if i.kind == "slack-transcript"]
    transcript = json.loads(store.get(item.sha256))
    assert [m["text"] for m in transcript["messages"]] == ["seeing 500s on checkout", "rolling back"]
    assert transcript["users"] == {"U1": "alice"}
    rows = reconstruct_timeline(store, ref, [])
    assert [r.event for r in rows if r.source == "slack:slack"] == [
        "#inc-api: seeing 500s on checkout",
        "#inc-api: rolling back",
    ]


def test_window_must_carry_a_timezone() -> None:
    with pytest.raises(ValueError, match="timezone"):
        Window(datetime(2026, 1, 1), datetime(2026, 1, 2))


@pytest.fixture
async def slack_api() -> AsyncIterator[tuple[str, list[dict[str, str]]]]:
    """Stands in for slack.com (not reachable from here), answering as conversations.history documents."""
    calls: list[dict[str, str]] = []

    async def history(request: web.Request) -> web.Response:
        calls.append({**request.query, "auth": request.headers.get("Authorization", "")})
        if request.query["channel"] == "CGONE":
            return web.json_response({"ok": False, "error": "channel_not_found"})
        first = {"ts": f"{(T0 + timedelta(minutes=2)).timestamp():.6f}", "user": "U1", "text": "paging db on-call"}
        second = {"ts": f"{(T0 + timedelta(minutes=1)).timestamp():.6f}", "user": "U2", "text": "checkout 500s"}
        if request.query.get("cursor") == "page2":
            return web.json_response({"ok": True, "messages": [second], "has_more": False})
        return web.json_response(
            {"ok": True, "messages": [first], "has_more": True, "response_metadata": {"next_cursor": "page2"}}
        )

    app = web.Application()
    app.router.add_get("/api/conversations.history", history)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}/api", calls
    await runner.cleanup()


async def test_slack_api_pages_through_history_with_the_token(
    tmp_path: Path, slack_api: tuple[str, list[dict[str, str]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    api, calls = slack_api
    monkeypatch.setenv("TEST_SLACK_TOKEN", "xoxb-test")
    evidence = {
        "slack_api": [
            {"name": "ops", "channels": ["CINC"], "token_env": "TEST_SLACK_TOKEN", "api_url": api},
            {"name": "gone", "channels": ["CGONE"], "token_env": "TEST_SLACK_TOKEN", "api_url": api},
        ]
    }
    manifest, store, ref = await capture(tmp_path, evidence)
    assert [c.get("cursor") for c in calls if c["channel"] == "CINC"] == [None, "page2"]
    assert {c["auth"] for c in calls} == {"Bearer xoxb-test"}
    assert calls[0]["oldest"] == f"{(T0 - timedelta(minutes=10)).timestamp():.6f}"
    (item,) = [i for i in manifest.items if i.kind == "slack-transcript"]
    assert [m["text"] for m in json.loads(store.get(item.sha256))["messages"]] == ["checkout 500s", "paging db on-call"]
    (gap,) = manifest.gaps
    assert gap.source == "slack-api:gone" and "channel_not_found" in gap.reason and gap.attempts == 1
    rows = [r.event for r in reconstruct_timeline(store, ref, []) if r.source == "slack-api:ops"]
    assert rows == ["#CINC: checkout 500s", "#CINC: paging db on-call"]


async def test_slack_api_without_its_token_is_a_gap_that_names_the_variable(tmp_path: Path) -> None:
    evidence = {"slack_api": [{"channels": ["C1"], "token_env": "AFTERWORD_TEST_NO_SUCH_TOKEN"}]}
    manifest, _, _ = await capture(tmp_path, evidence)
    (gap,) = manifest.gaps
    assert "AFTERWORD_TEST_NO_SUCH_TOKEN" in gap.reason and gap.attempts == 1
