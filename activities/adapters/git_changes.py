"""Change metadata: commits and tags of a configured git repository inside the capture window.

Runs the real `git` (`git log`, `git for-each-ref`) on a local clone. The stored item is JSON with
the commands that produced it; authors are kept as evidence, but timeline rows describe the change,
not the person (blameless wording starts here).
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

from afterword.activities.adapters.base import Collected, Event, SourceRejected, Window, parse_time
from afterword.workflows.models import Incident

KIND = "git-changes"
_FIELD = "\x1f"
_RECORD = "\x1e"


async def run_git(repo: Path, *args: str, seconds: float = 30.0) -> str:
    git = shutil.which("git")
    if git is None:
        raise SourceRejected("git is not installed on the worker")
    proc = await asyncio.create_subprocess_exec(
        git,
        "-C",
        str(repo),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout=seconds)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    if proc.returncode != 0:
        raise SourceRejected(f"git {' '.join(args[:2])} in {repo}: {err.decode(errors='replace').strip()[:300]}")
    return out.decode("utf-8", errors="replace")


class GitChangesSource:
    kind = KIND

    def __init__(self, name: str, repo: str, revisions: list[str] | None = None, timeout: float = 30.0) -> None:
        self._name = f"git:{name}"
        self.repo = Path(repo).expanduser()
        self.revisions = revisions or ["--all"]
        self.timeout = timeout

    @property
    def name(self) -> str:
        return self._name

    @property
    def target(self) -> str:
        return str(self.repo)

    @property
    def instrument_hint(self) -> str:
        return f"instrument this: keep a clone of the deployed repository at {self.repo} on the worker"

    async def collect(self, incident: Incident, window: Window) -> list[Collected]:
        if not self.repo.exists():
            raise SourceRejected(f"repository {self.repo} does not exist")
        log_args = [
            "log",
            *self.revisions,
            f"--since={window.start.isoformat()}",
            f"--until={window.end.isoformat()}",
            "--date=iso-strict",
            f"--format=%H{_FIELD}%cI{_FIELD}%aI{_FIELD}%an{_FIELD}%s{_FIELD}%D{_RECORD}",
        ]
        log_out = await run_git(self.repo, *log_args, seconds=self.timeout)
        tag_args = [
            "for-each-ref",
            "refs/tags",
            f"--format=%(refname:short){_FIELD}%(creatordate:iso-strict){_FIELD}%(objectname){_FIELD}"
            f"%(*objectname){_RECORD}",
        ]
        tag_out = await run_git(self.repo, *tag_args, seconds=self.timeout)
        head = (await run_git(self.repo, "rev-parse", "HEAD", seconds=self.timeout)).strip()
        commits = []
        for record in log_out.split(_RECORD):
            parts = record.strip("\n").split(_FIELD)
            if len(parts) == 6:
                sha, committed, authored, author, subject, refs = parts
                commits.append(
                    {
                        "sha": sha,
                        "committed_at": committed,
                        "authored_at": authored,
                        "author": author,
                        "subject": subject,
                        "refs": refs,
                    }
                )
        tags = []
        for record in tag_out.split(_RECORD):
            parts = record.strip("\n").split(_FIELD)
            if len(parts) == 4:
                name, created, obj, peeled = parts
                at = parse_time(created)
                if at is not None and window.contains(at):
                    tags.append({"tag": name, "created_at": created, "commit": peeled or obj})
        document: dict[str, Any] = {
            "repository": str(self.repo.resolve()),
            "head": head,
            "commands": [["git", *log_args], ["git", *tag_args]],
            "commits": commits,
            "tags": tags,
        }
        return [
            Collected(
                name="changes.json",
                target=str(self.repo),
                media_type="application/json",
                data=json.dumps(document, indent=1, sort_keys=True).encode(),
                window=window,
                note=f"{len(commits)} commits, {len(tags)} tags in the window",
            )
        ]


def git_events(data: bytes, meta: dict[str, str]) -> list[Event]:
    try:
        document = json.loads(data)
    except ValueError:
        return []
    events: list[Event] = []
    repo = Path(str(document.get("repository", "repo"))).name
    for commit in document.get("commits", []):
        at = parse_time(str(commit.get("committed_at", "")))
        if at is None:
            continue
        sha = str(commit.get("sha", ""))
        events.append(
            Event(at=at, text=f"Change {sha[:10]} in {repo}: {commit.get('subject', '')}", key=f"commit:{sha}")
        )
    for tag in document.get("tags", []):
        at = parse_time(str(tag.get("created_at", "")))
        if at is None:
            continue
        events.append(
            Event(
                at=at,
                text=f"Tag {tag.get('tag')} in {repo} ({str(tag.get('commit', ''))[:10]})",
                key=f"tag:{repo}:{tag.get('tag')}",
            )
        )
    return events
