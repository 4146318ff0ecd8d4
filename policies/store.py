"""`PolicyStore`: the current policy of each organisation, for processes that run for a long time.

- The first load of an org must succeed (a worker refuses to start on an invalid policy: `check_all`).
- Afterwards an edit is picked up at the next `get` after `recheck` seconds (or by `watch`): a valid edit
  becomes the version new postmortems get; an invalid edit is logged with its file:line problems and the
  last good version stays in force. Postmortems already open keep the rules they recorded.
- A change is noticed through the modification time and size of every file a policy is read from (its
  own file and everything it `extends`), and of `<org>.toml` appearing or disappearing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from afterword.policies.errors import PolicyError
from afterword.policies.loader import (
    check_org_name,
    default_for_org,
    for_team,
    load_policy_with_sources,
    org_policy_path,
)
from afterword.policies.resolve import Decision, decide, policy_hash, rules_for
from afterword.policies.schema import Policy
from afterword.workflows.models import Incident, PostmortemRules

log = logging.getLogger("afterword.policies")

Signature = tuple[tuple[str, float, int], ...]


@dataclass
class _Entry:
    policy: Policy
    signature: Signature
    files: list[Path]
    checked: float
    error: PolicyError | None = None
    versions: list[str] = field(default_factory=list)


def _signature(paths: list[Path]) -> Signature:
    stamps: list[tuple[str, float, int]] = []
    for path in paths:
        try:
            stat = path.stat()
            stamps.append((str(path), stat.st_mtime, stat.st_size))
        except OSError:
            stamps.append((str(path), -1.0, -1))
    return tuple(stamps)


class PolicyStore:
    """Serves each org's current good policy; thread-safe."""

    def __init__(self, policy_dir: Path | None, *, recheck: float = 2.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.policy_dir = Path(policy_dir) if policy_dir is not None else None
        self.recheck = recheck
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ reading

    def _candidate(self, org: str) -> Path:
        base = self.policy_dir if self.policy_dir is not None else Path("/nonexistent")
        return base / f"{org}.toml"

    def _load(self, org: str) -> tuple[Policy, list[Path]]:
        path = org_policy_path(org, self.policy_dir)
        if path is None:
            return default_for_org(org), []
        policy, files = load_policy_with_sources(path)
        check_org_name(policy, path, org)
        return policy, files

    def get(self, org: str, team: str | None = None) -> Policy:
        """The org's policy in force (a team's effective policy with `team`). PolicyError if the org's
        policy has never loaded."""
        entry = self._entries.get(org)
        now = self._clock()
        if entry is None or now - entry.checked >= self.recheck:
            entry = self._refresh(org, now)
        return for_team(entry.policy, team) if team else entry.policy

    def _refresh(self, org: str, now: float) -> _Entry:
        with self._lock:
            entry = self._entries.get(org)
            watched = [self._candidate(org), *(entry.files if entry else [])]
            signature = _signature(watched)
            if entry is not None and entry.signature == signature:
                entry.checked = now
                return entry
            try:
                policy, files = self._load(org)
            except PolicyError as err:
                if entry is None:
                    raise
                if entry.error is None or str(entry.error) != str(err):
                    log.error("policy for org %r has an invalid edit; keeping the last good version:\n%s",
                              org, err)
                entry.error = err
                entry.signature = signature
                entry.checked = now
                return entry
            fresh = _Entry(policy=policy, signature=_signature([self._candidate(org), *files]), files=files,
                           checked=now)
            if entry is not None:
                fresh.versions = entry.versions
                log.info("policy for org %r reloaded", org)
            fresh.versions.append(policy_hash(policy))
            self._entries[org] = fresh
            return fresh

    def error(self, org: str) -> PolicyError | None:
        """The problem with the org's file on disk, while an older good version is in force."""
        entry = self._entries.get(org)
        return entry.error if entry else None

    def orgs(self) -> list[str]:
        """Orgs with a policy file, and any already served."""
        found = set(self._entries)
        if self.policy_dir is not None and self.policy_dir.is_dir():
            found |= {p.stem for p in self.policy_dir.glob("*.toml")}
        return sorted(found)

    def check_all(self, default_org: str | None = None) -> list[str]:
        """Load every org's policy now; PolicyError listing the problems of every bad file (at start-up)."""
        problems = []
        orgs = self.orgs()
        if default_org and default_org not in orgs:
            orgs.append(default_org)
        for org in orgs:
            try:
                self._refresh(org, self._clock())
            except PolicyError as err:
                problems.extend(err.problems)
        if problems:
            raise PolicyError(problems)
        return orgs

    # ------------------------------------------------------------------ convenience

    def decide(self, incident: Incident) -> Decision:
        return decide(self.get(incident.org), incident)

    def rules_for(self, incident: Incident) -> PostmortemRules:
        return rules_for(self.get(incident.org), incident)

    async def watch(self, interval: float = 2.0, stop: asyncio.Event | None = None) -> None:
        """Re-check every known org each `interval` seconds until `stop` is set (run it as a task)."""
        stop = stop or asyncio.Event()
        while not stop.is_set():
            for org in self.orgs():
                try:
                    await asyncio.to_thread(self._refresh, org, self._clock())
                except PolicyError as err:  # an org whose first version is already broken
                    log.error("policy for org %r does not load:\n%s", org, err)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
