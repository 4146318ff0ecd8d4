"""Publishing: the approved, redacted document is committed to the archive git repository.

One commit per publication; publishing the same content again (a retried activity) adds no commit.
The external summary, when the policy asks for one, is committed beside it under external/.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import subprocess
from pathlib import Path

from temporalio import activity
from temporalio.exceptions import ApplicationError

from afterword.evidence.blobs import ContentStore
from afterword.gates.outbound import redact_text
from afterword.settings import Settings
from afterword.workflows.models import Publication, PublishRequest

GIT_ENV = {
    "GIT_AUTHOR_NAME": "afterword",
    "GIT_AUTHOR_EMAIL": "afterword@localhost",
    "GIT_COMMITTER_NAME": "afterword",
    "GIT_COMMITTER_EMAIL": "afterword@localhost",
}


def commit_message(req: PublishRequest) -> str:
    """The archive commit's message, redacted like the internal document it commits: git history outlives
    any later correction of the file, and an alert title can carry a key."""
    approvers = ", ".join(req.approvers) or "nobody"
    message = (
        f"Publish {req.postmortem_id}: {req.incident.title}\n\n"
        f"Severity: {req.rules.severity}\nService: {req.incident.service}\n"
        f"Approved by: {approvers}\nPolicy: {req.rules.policy_name} {req.rules.policy_hash[:12]}"
    )
    return redact_text(message, req.rules.policy)


class ArchiveActivities:
    def __init__(self, settings: Settings) -> None:
        self.repo = settings.archive_dir
        self.store = ContentStore(settings.store_dir)

    @activity.defn
    async def publish_document(self, req: PublishRequest) -> Publication:
        return await asyncio.to_thread(self._publish_locked, req)

    def _publish_locked(self, req: PublishRequest) -> Publication:
        # one publication at a time per archive, across threads and worker processes sharing the directory
        self.repo.mkdir(parents=True, exist_ok=True)
        with open(self.repo.parent / ".archive.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                return self._publish(req)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _git(self, *args: str, unchanged_ok: bool = False) -> str:
        result = subprocess.run(
            ["git", "-C", str(self.repo), *args],
            capture_output=True, text=True, env={**os.environ, **GIT_ENV}, check=False,
        )
        if unchanged_ok and result.returncode == 1 and "nothing" in result.stdout + result.stderr:
            return ""
        if result.returncode != 0:
            raise ApplicationError(f"git {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout.strip()

    def _ensure_repo(self) -> None:
        if not (self.repo / ".git").exists():
            self.repo.mkdir(parents=True, exist_ok=True)
            self._git("init", "-q", "-b", "main")

    def _publish(self, req: PublishRequest) -> Publication:
        self._ensure_repo()
        year = req.incident.started_at.strftime("%Y")
        internal = Path("postmortems") / year / f"{req.postmortem_id}.md"
        paths = [self._write(internal, req.internal_ref)]
        external = None
        if req.external_ref:
            external = Path("external") / year / f"{req.postmortem_id}.md"
            paths.append(self._write(external, req.external_ref))
        self._git("add", "--", *paths)
        # a retried publication finds its content committed already: "nothing to commit" is success
        self._git("commit", "-q", "-m", commit_message(req), "--", *paths, unchanged_ok=True)
        commit = self._git("rev-parse", "HEAD")
        return Publication(
            archive_path=str(self.repo / internal), commit=commit,
            external_path=str(self.repo / external) if external else None,
        )

    def _write(self, relative: Path, ref: str) -> str:
        target = self.repo / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(self.store.get(ref))
        return str(relative)
