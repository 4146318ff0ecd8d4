"""Per-postmortem evidence bookkeeping: manifests, their chain, the chain of custody, verify, holds.

Bodies live in the shared content-addressed store (`ContentStore`, write-once, named by sha256).
What lives here, under `<evidence_dir>/<safe postmortem id>/`:

- `manifests.jsonl`  one line per sealed manifest version (ref, version, phase, supersedes, when);
                     the last line is the current manifest. A manifest is itself a blob in the store,
                     so its sha256 seals it; each version names the one it supersedes (a hash chain).
- `custody.jsonl`    the chain of custody: who, when (with timezone), what, where stored. Append-only,
                     each line carries the sha256 of the previous line, so an edited or deleted line
                     breaks the chain and `verify` says where.
- `captures/*.json`  the capture journals that make a retried capture repeat nothing.
- `hold.json`        present while a legal hold is in force: purge refuses to delete anything.

NIST SP 800-61 r2 §3.3.2 asks for each handler, date and time with time zone and storage location;
ISO/IEC 27001 A.5.28 for collection and preservation of evidence: the custody lines carry exactly that.

The records themselves (manifest, item, custody line...) are pure models in records.py; the ones other
modules import from here are re-exported.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from afterword.evidence.blobs import ContentStore, StoreError
from afterword.evidence.records import MANIFEST_FORMAT as MANIFEST_FORMAT
from afterword.evidence.records import (
    CustodyEntry,
    Hold,
    ManifestEntry,
    Problem,
    Purged,
    PurgeOutcome,
    VerifyReport,
)
from afterword.evidence.records import Gap as Gap
from afterword.evidence.records import ItemRecord as ItemRecord
from afterword.evidence.records import Manifest as Manifest
from afterword.evidence.records import default_identity as default_identity

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
HASH_CHUNK = 4 << 20


class EvidenceError(Exception):
    """Something a person has to fix (unknown postmortem, hold in force, bad file)."""


def now_local() -> datetime:
    """The current time with the machine's timezone offset attached (custody wants the zone)."""
    return datetime.now(UTC).astimezone()


def safe_id(postmortem_id: str) -> str:
    """A directory name for a postmortem id: the id itself when it is already safe; otherwise a
    cleaned, shortened form plus a hash of the original, so two ids never share a directory."""
    if not postmortem_id.strip():
        raise EvidenceError("a postmortem id is required")
    cleaned = _SAFE.sub("_", postmortem_id).strip("._")
    if cleaned == postmortem_id and len(cleaned) <= 150:
        return cleaned
    digest = hashlib.sha256(postmortem_id.encode()).hexdigest()[:12]
    return f"{cleaned[:120]}-{digest}" if cleaned else digest


def items_digest(items: list[ItemRecord], supersedes: str | None) -> str:
    material = json.dumps(
        {"items": sorted((i.id, i.sha256) for i in items), "supersedes": supersedes}, separators=(",", ":")
    )
    return hashlib.sha256(material.encode()).hexdigest()


def canonical_json(model: BaseModel) -> bytes:
    """Byte-stable JSON for a model: the same manifest always hashes to the same ref."""
    data = model.model_dump(mode="json")
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb", buffering=0) as fh:
        buf = bytearray(HASH_CHUNK)
        view = memoryview(buf)
        while n := fh.readinto(buf):
            digest.update(view[:n])
    return digest.hexdigest()


class EvidenceArchive:
    """The evidence of one postmortem: its manifests, custody log, capture journals and hold."""

    def __init__(self, evidence_dir: Path, store: ContentStore, postmortem_id: str) -> None:
        self.postmortem_id = postmortem_id
        self.store = store
        self.dir = Path(evidence_dir) / safe_id(postmortem_id)

    # -- locations ------------------------------------------------------------------------------

    @property
    def manifests_path(self) -> Path:
        return self.dir / "manifests.jsonl"

    @property
    def custody_path(self) -> Path:
        return self.dir / "custody.jsonl"

    @property
    def hold_path(self) -> Path:
        return self.dir / "hold.json"

    def journal_path(self, phase: str) -> Path:
        return self.dir / "captures" / f"{safe_id(phase)}.json"

    def exists(self) -> bool:
        return self.manifests_path.exists()

    def where(self, ref: str | None = None) -> str:
        """Storage location as custody records it."""
        if ref is None:
            return f"file://{self.dir.resolve()}"
        return f"file://{self.store.path(ref).resolve()}"

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Serialise writers (worker and CLI may touch one postmortem at the same moment)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / ".lock", "a+") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    @contextlib.asynccontextmanager
    async def capture_lock(self, phase: str, on_wait: Callable[[], None]) -> AsyncIterator[None]:
        """One capture per phase at a time: a retry that starts while a timed-out attempt still runs
        waits for it (the lock dies with its process, so a killed worker never blocks the retry)."""
        path = self.journal_path(phase).with_suffix(".lock")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    on_wait()
                    await asyncio.sleep(0.5)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    # -- manifests --------------------------------------------------------------------------------

    def manifest_entries(self) -> list[ManifestEntry]:
        if not self.manifests_path.exists():
            return []
        lines = self.manifests_path.read_text().splitlines()
        return [ManifestEntry.model_validate_json(line) for line in lines if line.strip()]

    def head(self) -> ManifestEntry | None:
        entries = self.manifest_entries()
        return entries[-1] if entries else None

    def require_head(self) -> ManifestEntry:
        head = self.head()
        if head is None:
            raise EvidenceError(f"no evidence recorded for postmortem {self.postmortem_id!r} (looked in {self.dir})")
        return head

    def load_manifest(self, ref: str) -> Manifest:
        try:
            return Manifest.model_validate_json(self.store.get(ref))
        except StoreError as exc:
            raise EvidenceError(f"manifest {ref} is missing from the store: {exc}") from None

    def seal_locked(self, manifest: Manifest, who: str) -> str:
        """Store the manifest, append it to the version log, record custody; idempotent by content. The
        caller holds `locked()`: it read the head this manifest supersedes under the same lock."""
        data = canonical_json(manifest)
        ref = self.store.put_bytes(data)
        entries = self.manifest_entries()
        if any(e.ref == ref for e in entries):
            return ref
        entry = ManifestEntry(
            ref=ref,
            version=manifest.version,
            phase=manifest.phase,
            supersedes=manifest.supersedes,
            sealed_at=now_local(),
        )
        with open(self.manifests_path, "a") as fh:
            fh.write(entry.model_dump_json() + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        self.append_custody_locked(
            who,
            "sealed",
            ref=ref,
            where=self.where(ref),
            detail=f"manifest v{manifest.version} ({manifest.phase}), {len(manifest.items)} items, "
            f"{len(manifest.gaps)} gaps" + (f", supersedes {manifest.supersedes[:12]}" if manifest.supersedes else ""),
        )
        return ref

    # -- chain of custody -------------------------------------------------------------------------

    def custody(self) -> list[CustodyEntry]:
        if not self.custody_path.exists():
            return []
        return [
            CustodyEntry.model_validate_json(line)
            for line in self.custody_path.read_text().splitlines()
            if line.strip()
        ]

    def record(
        self,
        who: str,
        action: str,
        *,
        ref: str | None = None,
        item: str | None = None,
        where: str | None = None,
        detail: str = "",
    ) -> CustodyEntry:
        with self.locked():
            return self.append_custody_locked(who, action, ref=ref, item=item, where=where, detail=detail)

    def append_custody_locked(
        self,
        who: str,
        action: str,
        *,
        ref: str | None = None,
        item: str | None = None,
        where: str | None = None,
        detail: str = "",
    ) -> CustodyEntry:
        prev: str | None = None
        seq = 0
        if self.custody_path.exists():
            with open(self.custody_path, "rb") as fh:
                lines = [line for line in fh.read().splitlines() if line.strip()]
            if lines:
                prev = hashlib.sha256(lines[-1]).hexdigest()
                seq = len(lines)
        entry = CustodyEntry(
            seq=seq,
            at=now_local(),
            who=who,
            action=action,
            ref=ref,
            item=item,
            where=where or self.where(ref),
            detail=detail,
            prev=prev,
        )
        with open(self.custody_path, "ab") as fh:
            fh.write(entry.model_dump_json().encode() + b"\n")
            fh.flush()
            os.fsync(fh.fileno())
        return entry

    def _check_version_chain(self, entries: list[ManifestEntry]) -> list[Problem]:
        """Each version supersedes the one before it, and every version custody saw sealed is listed."""
        problems: list[Problem] = []
        previous: str | None = None
        for entry in entries:
            if entry.supersedes != previous:
                problems.append(
                    Problem(
                        kind="manifest-missing",
                        subject=entry.ref,
                        detail=f"v{entry.version} supersedes {entry.supersedes}, but the version before it in "
                        f"manifests.jsonl is {previous} (a version was removed or reordered)",
                    )
                )
            previous = entry.ref
        listed = {e.ref for e in entries}
        for line in self.custody():
            if line.action == "sealed" and line.ref and line.ref not in listed:
                problems.append(
                    Problem(
                        kind="manifest-missing",
                        subject=line.ref,
                        detail=f"sealed at {line.at.isoformat()} (custody line {line.seq + 1}) but no longer listed",
                    )
                )
        return problems

    def check_custody(self) -> list[Problem]:
        problems: list[Problem] = []
        if not self.custody_path.exists():
            return [Problem(kind="custody-broken", subject="custody.jsonl", detail="the custody log is missing")]
        prev: str | None = None
        lines = [line for line in self.custody_path.read_bytes().splitlines() if line.strip()]
        for index, line in enumerate(lines):
            try:
                entry = CustodyEntry.model_validate_json(line)
            except ValueError as exc:
                problems.append(
                    Problem(kind="custody-broken", subject=f"custody line {index + 1}", detail=str(exc)[:200])
                )
                prev = hashlib.sha256(line).hexdigest()
                continue
            if entry.seq != index or entry.prev != prev:
                problems.append(
                    Problem(
                        kind="custody-broken",
                        subject=f"custody line {index + 1}",
                        detail="does not follow the line before it (a line was edited, removed or inserted)",
                    )
                )
            prev = hashlib.sha256(line).hexdigest()
        return problems

    # -- capture journal --------------------------------------------------------------------------

    def read_journal(self, phase: str) -> dict[str, Any] | None:
        path = self.journal_path(phase)
        if not path.exists():
            return None
        loaded: dict[str, Any] = json.loads(path.read_text())
        return loaded

    def write_journal(self, phase: str, journal: dict[str, Any]) -> None:
        write_atomic(self.journal_path(phase), json.dumps(journal, sort_keys=True, default=str).encode())

    # -- verify -----------------------------------------------------------------------------------

    def verify(self, who: str, *, workers: int | None = None, record: bool = True) -> VerifyReport:
        """Recompute every hash the evidence depends on: items, every manifest version, the custody chain."""
        head = self.require_head()
        problems: list[Problem] = []
        items: dict[str, ItemRecord] = {}
        entries = self.manifest_entries()
        problems.extend(self._check_version_chain(entries))
        for entry in entries:
            path = self.store.path(entry.ref)
            if not path.exists():
                problems.append(Problem(kind="manifest-missing", subject=entry.ref, detail=f"v{entry.version}"))
                continue
            if hash_file(path) != entry.ref:
                problems.append(
                    Problem(
                        kind="manifest-changed",
                        subject=entry.ref,
                        detail=f"manifest v{entry.version} no longer hashes to its name",
                    )
                )
                continue
            manifest = self.load_manifest(entry.ref)
            if manifest.supersedes != entry.supersedes:
                problems.append(
                    Problem(kind="manifest-changed", subject=entry.ref, detail="supersedes differs from the log")
                )
            if manifest.items_digest != items_digest(manifest.items, manifest.supersedes):
                problems.append(
                    Problem(kind="manifest-changed", subject=entry.ref, detail="items digest does not match")
                )
            for item in manifest.items:
                items.setdefault(item.sha256, item)

        def check(item: ItemRecord) -> tuple[ItemRecord, Problem | None, int]:
            path = self.store.path(item.sha256)
            if not path.exists():
                return (
                    item,
                    Problem(kind="item-missing", subject=item.id, detail=f"blob {item.sha256} is gone"),
                    0,
                )
            size = path.stat().st_size
            actual = hash_file(path)
            if actual != item.sha256:
                return (
                    item,
                    Problem(
                        kind="item-changed",
                        subject=item.id,
                        detail=f"{item.target}: recorded sha256 {item.sha256}, stored file now hashes to "
                        f"{actual} ({path})",
                    ),
                    size,
                )
            if size != item.size:
                return item, Problem(kind="item-changed", subject=item.id, detail="size differs"), size
            return item, None, size

        checked = 0
        total = 0
        # hashlib releases the GIL on large buffers: threads hash files on all cores.
        with ThreadPoolExecutor(max_workers=workers or min(8, (os.cpu_count() or 2))) as pool:
            for _item, problem, size in pool.map(check, list(items.values())):
                checked += 1
                total += size
                if problem:
                    problems.append(problem)
        problems.extend(self.check_custody())
        report = VerifyReport(
            postmortem_id=self.postmortem_id,
            manifest_ref=head.ref,
            items_checked=checked,
            bytes_checked=total,
            problems=problems,
        )
        if record:
            self.record(
                who,
                "verified" if report.ok else "verify-failed",
                ref=head.ref,
                where=self.where(),
                detail=f"{checked} items, {total} bytes"
                + ("" if report.ok else f", {len(problems)} problems: " + "; ".join(p.subject for p in problems)),
            )
        return report

    # -- legal hold and retention -----------------------------------------------------------------

    @property
    def purged_path(self) -> Path:
        return self.dir / "purged.json"

    def purged(self) -> Purged | None:
        """What a purge left behind, if this evidence was purged (its custody and manifest log remain)."""
        if not self.purged_path.exists():
            return None
        return Purged.model_validate_json(self.purged_path.read_text())

    def hold(self) -> Hold | None:
        if not self.hold_path.exists():
            return None
        return Hold.model_validate_json(self.hold_path.read_text())

    def set_hold(self, who: str, reason: str) -> Hold:
        if not reason.strip():
            raise EvidenceError("a legal hold needs a reason (e.g. the matter or ticket it is for)")
        hold = Hold(by=who, at=now_local(), reason=reason.strip())
        with self.locked():
            write_atomic(self.hold_path, hold.model_dump_json().encode())
            self.append_custody_locked(who, "hold-placed", where=self.where(), detail=hold.reason)
        return hold

    def release_hold(self, who: str, reason: str) -> None:
        with self.locked():
            if not self.hold_path.exists():
                raise EvidenceError(f"postmortem {self.postmortem_id!r} has no legal hold")
            self.hold_path.unlink()
            self.append_custody_locked(who, "hold-released", where=self.where(), detail=reason)

    def referenced_refs(self) -> set[str]:
        refs: set[str] = set()
        for entry in self.manifest_entries():
            refs.add(entry.ref)
            with contextlib.suppress(EvidenceError, ValueError):  # a missing or tampered manifest lists nothing
                refs.update(item.sha256 for item in self.load_manifest(entry.ref).items)
        return refs


def all_archives(evidence_dir: Path, store: ContentStore) -> list[EvidenceArchive]:
    """Every postmortem with evidence; the id comes from its current manifest."""
    archives: list[EvidenceArchive] = []
    if not Path(evidence_dir).exists():
        return archives
    for child in sorted(Path(evidence_dir).iterdir()):
        log = child / "manifests.jsonl"
        if not log.exists():
            continue
        lines = [line for line in log.read_text().splitlines() if line.strip()]
        if not lines:
            continue
        ref = ManifestEntry.model_validate_json(lines[-1]).ref
        try:
            pm_id = Manifest.model_validate_json(store.get(ref)).postmortem_id
        except (StoreError, ValueError):
            pm_id = child.name
        archive = EvidenceArchive(evidence_dir, store, pm_id)
        archive.dir = child  # the directory is the truth even if the id maps differently
        archives.append(archive)
    return archives


def purge(
    evidence_dir: Path,
    store: ContentStore,
    older_than: timedelta,
    who: str,
    *,
    dry_run: bool = False,
    now: datetime | None = None,
) -> list[PurgeOutcome]:
    """Delete evidence collected before now - older_than, unless held or still inside retention.

    Blobs shared with a postmortem that stays are kept (the store is shared and content-addressed).
    The postmortem's custody log and manifest log stay behind as the record that the purge happened.
    """
    moment = now or datetime.now(UTC)
    cutoff = moment - older_than
    archives = all_archives(evidence_dir, store)
    outcomes: list[PurgeOutcome] = []
    doomed: list[EvidenceArchive] = []
    for archive in archives:
        head = archive.head()
        if head is None:
            continue
        if archive.purged_path.exists():
            continue  # already purged: only its custody and manifest log remain
        try:
            manifest = archive.load_manifest(head.ref)
        except (EvidenceError, ValueError):  # tampered or missing: never delete what cannot be read, say so
            outcomes.append(
                PurgeOutcome(
                    postmortem_id=archive.postmortem_id,
                    action="kept",
                    reason="its current manifest does not load; run "
                    f"`afterword evidence verify {archive.postmortem_id}`",
                )
            )
            continue
        hold = archive.hold()
        if hold is not None:
            outcomes.append(
                PurgeOutcome(postmortem_id=archive.postmortem_id, action="kept", reason=f"legal hold: {hold.reason}")
            )
        elif manifest.created_at > cutoff:
            outcomes.append(
                PurgeOutcome(postmortem_id=archive.postmortem_id, action="kept", reason="newer than the cut-off")
            )
        elif manifest.retention_until > moment:
            outcomes.append(
                PurgeOutcome(
                    postmortem_id=archive.postmortem_id,
                    action="kept",
                    reason=f"retention runs until {manifest.retention_until.isoformat()}",
                )
            )
        else:
            doomed.append(archive)
    keep_refs: set[str] = set()
    for archive in archives:
        if archive not in doomed:
            keep_refs |= archive.referenced_refs()
    for archive in doomed:
        freed = 0
        removable = archive.referenced_refs() - keep_refs
        for ref in sorted(removable):
            path = store.path(ref)
            if path.exists():
                freed += path.stat().st_size
                if not dry_run:
                    path.unlink()
        if not dry_run:
            with archive.locked():
                write_atomic(
                    archive.purged_path, Purged(by=who, at=now_local(), blobs=len(removable)).model_dump_json().encode()
                )
                archive.append_custody_locked(
                    who,
                    "purged",
                    where=f"file://{Path(store.root).resolve()}",
                    detail=f"{len(removable)} blobs, {freed} bytes deleted (older than {older_than})",
                )
                shutil.rmtree(archive.dir / "captures", ignore_errors=True)
        outcomes.append(
            PurgeOutcome(
                postmortem_id=archive.postmortem_id,
                action="purged",
                reason="past retention and cut-off" + (" (dry run)" if dry_run else ""),
                bytes_freed=freed,
            )
        )
    return outcomes
