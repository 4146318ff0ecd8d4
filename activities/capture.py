"""Evidence activities: capture and seal a postmortem's evidence, and rebuild its timeline.

The capture is journalled per phase (`captures/<phase>.json`): the window, the manifest it extends
and every item stored so far are written down as they happen, so a retried or restarted activity
repeats nothing — it picks up after the last finished source and seals byte-for-byte the same
manifest. Only the manifest's sha256 and counts return to the workflow; bodies stay in the store.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from afterword.activities.adapters.alerts import ALERT_KIND, INCIDENT_KIND
from afterword.activities.adapters.base import (
    Collected,
    EvidenceSource,
    SourceRejected,
    SourceUnavailable,
    Window,
    utc,
)
from afterword.activities.adapters.deploys import deploy_source
from afterword.activities.adapters.registry import select_sources
from afterword.evidence.blobs import ContentStore
from afterword.evidence.custody import (
    EvidenceArchive,
    EvidenceError,
    Gap,
    ItemRecord,
    Manifest,
    canonical_json,
    default_identity,
    items_digest,
    now_local,
)
from afterword.evidence.timeline import reconstruct_timeline
from afterword.policies.evidence_schema import EvidencePolicy
from afterword.settings import Settings
from afterword.workflows.models import (
    BYTES_AS_BASE64,
    EvidenceRequest,
    EvidenceSummary,
    Incident,
    Model,
    TimelineEdit,
    TimelineRow,
)

__all__ = [
    "AttachRequest",
    "EvidenceActivities",
    "EvidencePolicy",
    "TimelineRequest",
    "TimelineResult",
    "attach_file",
    "capture",
    "latest_manifest_ref",
]

log = logging.getLogger(__name__)


class TimelineRequest(Model):
    manifest_ref: str
    edits: list[TimelineEdit] = []
    skew_tolerance_seconds: float | None = None  # unset: the policy's, as sealed in the manifest


class TimelineResult(Model):
    rows: list[TimelineRow]


class AttachRequest(Model):
    """A person adds a file to a postmortem's evidence (a new manifest version supersedes the current one)."""

    model_config = BYTES_AS_BASE64

    postmortem_id: str
    name: str
    data: bytes
    note: str
    by: str
    at: datetime | None = None  # the moment the attachment documents, if it documents one


def summary_of(ref: str, manifest: Manifest) -> EvidenceSummary:
    return EvidenceSummary(
        manifest_ref=ref, items=len(manifest.items), gaps=[g.describe() for g in manifest.gaps], sealed=True,
        version=manifest.version,
    )


def latest_manifest_ref(settings: Settings, postmortem_id: str) -> str | None:
    """The current manifest of a postmortem (attachments may have superseded the workflow's copy)."""
    head = EvidenceArchive(settings.evidence_dir, ContentStore(settings.store_dir), postmortem_id).head()
    return head.ref if head else None


HEARTBEAT_EVERY = 5.0


async def _keep_alive() -> None:
    while True:
        await asyncio.sleep(HEARTBEAT_EVERY)
        activity.heartbeat("capturing")


def _heartbeat(detail: str) -> None:
    if activity.in_activity():
        activity.heartbeat(detail)


class Capture:
    """One phase's capture for one postmortem; `run` is safe to call again after any crash."""

    def __init__(
        self,
        settings: Settings,
        store: ContentStore,
        req: EvidenceRequest,
        policy: EvidencePolicy,
        sources: list[EvidenceSource],
        collector: str,
    ) -> None:
        self.settings = settings
        self.store = store
        self.req = req
        self.policy = policy
        self.sources = sources
        self.collector = collector
        self.archive = EvidenceArchive(settings.evidence_dir, store, req.postmortem_id)
        self.journal: dict[str, Any] = {}

    # -- journal ----------------------------------------------------------------------------------

    @property
    def key(self) -> str:
        """Which journal this capture uses: one per trigger, one per distinct resolution.

        Retrying the same request resumes the same journal; an incident that reopens and resolves
        again (a new resolved_at) gets a new capture that supersedes the earlier one.
        """
        if self.req.phase == "trigger":
            return "trigger"
        resolved = self.req.incident.resolved_at
        marker = resolved.isoformat() if resolved else "open"
        return f"resolution-{hashlib.sha256(marker.encode()).hexdigest()[:12]}"

    def _start_journal(self) -> None:
        existing = self.archive.read_journal(self.key)
        if existing is not None:
            self.journal = existing
            return
        now = now_local()
        incident = self.req.incident
        start = utc(incident.started_at) - self.policy.margin_before
        if self.req.phase == "resolution":
            end = utc(incident.resolved_at or now) + self.policy.margin_after
            end = min(end, utc(now))  # nothing exists after now; the workflow can wait out the margin
        else:
            end = utc(now)
        end = max(end, start)
        head = self.archive.head()
        earlier = sum(1 for e in self.archive.manifest_entries() if e.phase == self.req.phase)
        self.journal = {
            "phase": self.req.phase,
            # a reopened incident resolves again: its items get their own ids next to the first ones
            "label": self.req.phase if earlier == 0 else f"{self.req.phase}-{earlier + 1}",
            "window_start": start.isoformat(),
            "window_end": end.isoformat(),
            "created_at": now.isoformat(),
            "collector": self.collector,
            "supersedes": head.ref if head else None,
            "items": {},
            "gaps": {},
            "done": [],
            "manifest_ref": None,
        }
        self.archive.write_journal(self.key, self.journal)

    def _save(self) -> None:
        self.archive.write_journal(self.key, self.journal)

    @property
    def window(self) -> Window:
        return Window(
            datetime.fromisoformat(self.journal["window_start"]),
            datetime.fromisoformat(self.journal["window_end"]),
        )

    # -- storing ----------------------------------------------------------------------------------

    def _item_id(self, source: str, name: str) -> str:
        return f"{self.journal['label']}/{source}/{name}"

    def _store_collected(self, source: EvidenceSource, collected: Collected) -> ItemRecord:
        note = collected.note
        if collected.file is not None:
            size = collected.file.stat().st_size
            ref = self.store.put_file(collected.file)
        else:
            assert collected.data is not None
            data = collected.data
            if len(data) > self.policy.max_item_bytes:
                note = (note + "; " if note else "") + (
                    f"truncated to the first {self.policy.max_item_bytes} of {len(data)} bytes"
                )
                data = data[: self.policy.max_item_bytes]
            size = len(data)
            ref = self.store.put_bytes(data)
        window = collected.window or self.window
        return ItemRecord(
            id=self._item_id(source.name, collected.name),
            source=source.name,
            kind=source.kind,
            target=collected.target,
            start=window.start,
            end=window.end,
            collected_at=now_local(),
            collector=self.collector,
            size=size,
            sha256=ref,
            media_type=collected.media_type,
            note=note,
            phase=self.req.phase,
            meta=dict(collected.meta),
        )

    def _store_and_record(self, source: EvidenceSource, piece: Collected) -> None:
        self._record_item(self._store_collected(source, piece))

    def _record_item(self, item: ItemRecord) -> None:
        self.journal["items"][item.id] = item.model_dump(mode="json")
        self._save()
        self.archive.record(
            self.collector,
            "collected",
            ref=item.sha256,
            item=item.id,
            where=self.archive.where(item.sha256),
            detail=f"{item.source}: {item.target} ({item.size} bytes)",
        )

    def _record_gap(self, gap: Gap) -> None:
        self.journal["gaps"][gap.source] = gap.model_dump(mode="json")
        self._save()
        self.archive.record(self.collector, "gap", where=self.archive.where(), detail=gap.describe())

    def _mark_done(self, name: str) -> None:
        self.journal["done"].append(name)
        self._save()

    # -- the built-in items ----------------------------------------------------------------------

    def _previous_holds(self, source: str, ref: str) -> bool:
        supersedes = self.journal["supersedes"]
        if not supersedes:
            return False
        return any(i.source == source and i.sha256 == ref for i in self.archive.load_manifest(supersedes).items)

    def _capture_incident(self) -> None:
        name = "incident"
        if name in self.journal["done"]:
            return
        incident = self.req.incident
        data = canonical_json(incident)
        ref = self.store.put_bytes(data)
        if self._previous_holds("incident", ref):
            self._mark_done(name)
            return
        window = self.window
        self._record_item(
            ItemRecord(
                id=self._item_id("incident", "incident.json"),
                source="incident",
                kind=INCIDENT_KIND,
                target=f"incident {incident.org}/{incident.key} ({incident.source})",
                start=window.start,
                end=window.end,
                collected_at=now_local(),
                collector=self.collector,
                size=len(data),
                sha256=ref,
                media_type="application/json",
                phase=self.req.phase,
            )
        )
        self._mark_done(name)

    def _capture_payload(self) -> None:
        name = "alert-payload"
        ref = self.req.incident.payload_ref
        if name in self.journal["done"] or ref is None:
            return
        if self._previous_holds("alert", ref):
            pass  # the same payload is already sealed in the manifest this one extends
        elif not self.store.exists(ref):
            self._record_gap(
                Gap(
                    source="alert",
                    target=ref,
                    reason="the raw alert payload is not in the content store",
                    attempts=1,
                    suggested_action="check that the intake and the worker share one data directory",
                )
            )
        else:
            path = self.store.path(ref)
            self._record_item(
                ItemRecord(
                    id=self._item_id("alert", "payload.json"),
                    source="alert",
                    kind=ALERT_KIND,
                    target=f"{self.req.incident.source} webhook payload",
                    start=utc(self.req.incident.started_at),
                    end=utc(self.req.incident.resolved_at) if self.req.incident.resolved_at else None,
                    collected_at=now_local(),
                    collector=self.collector,
                    size=path.stat().st_size,
                    sha256=ref,
                    media_type="application/json",
                    phase=self.req.phase,
                )
            )
        self._mark_done(name)

    # -- sources ----------------------------------------------------------------------------------

    async def _capture_source(self, source: EvidenceSource) -> None:
        if source.name in self.journal["done"]:
            return
        attempts = 0
        delay = self.policy.backoff.total_seconds()
        reason = ""
        collected: list[Collected] | None = None
        while attempts < self.policy.attempts:
            attempts += 1
            _heartbeat(f"{source.name} attempt {attempts}")
            try:
                collected = await asyncio.wait_for(
                    source.collect(self.req.incident, self.window),
                    timeout=self.policy.timeout.total_seconds() * 4,
                )
                break
            except SourceRejected as exc:
                reason = str(exc)
                break
            except Exception as exc:
                # anything else a source raises (a parser tripping on odd data, say) is treated like an
                # outage: retried, then a gap; it must not cost the postmortem the other sources
                known = isinstance(exc, (SourceUnavailable, TimeoutError))
                reason = (str(exc) or type(exc).__name__) if known else f"source failed: {type(exc).__name__}: {exc}"
                log.log(
                    logging.INFO if known else logging.WARNING,
                    "evidence source %s attempt %d failed: %s",
                    source.name,
                    attempts,
                    reason,
                    exc_info=not known,
                )
                if attempts < self.policy.attempts:
                    await asyncio.sleep(delay)
                    delay *= 2
        # journal and custody writes fsync: off the event loop, like the blob writes
        if collected is None:
            gap = Gap(
                source=source.name,
                target=source.target,
                reason=f"{reason} (after {attempts} attempt{'s' if attempts > 1 else ''})",
                attempts=attempts,
                suggested_action=source.instrument_hint,
            )
            await asyncio.to_thread(self._record_gap, gap)
        else:
            for piece in collected:
                item_id = self._item_id(source.name, piece.name)
                if item_id in self.journal["items"]:
                    continue  # two pieces with one name: the first wins, as on a retry
                await asyncio.to_thread(self._store_and_record, source, piece)
        await asyncio.to_thread(self._mark_done, source.name)

    # -- sealing ----------------------------------------------------------------------------------

    def _sealed_by_this_capture(self) -> str | None:
        """The manifest this capture sealed before a crash kept it from noting so in its journal."""
        for entry in reversed(self.archive.manifest_entries()):
            if entry.phase == self.req.phase:
                manifest = self.archive.load_manifest(entry.ref)
                if manifest.created_at == datetime.fromisoformat(self.journal["created_at"]):
                    return entry.ref
        return None

    def _seal(self) -> str:
        # read the head and append after it under one lock: an attachment added while this capture
        # ran is carried into the new version, and the version chain never forks
        with self.archive.locked():
            ref = self._sealed_by_this_capture() or self.archive.seal_locked(self._manifest(), self.collector)
        self.journal["manifest_ref"] = ref
        self._save()
        return ref

    def _manifest(self) -> Manifest:
        head = self.archive.head()
        supersedes = head.ref if head else None
        previous = self.archive.load_manifest(supersedes) if supersedes else None
        new_items = [ItemRecord.model_validate(v) for v in self.journal["items"].values()]
        new_gaps = [Gap.model_validate(v) for v in self.journal["gaps"].values()]
        items: list[ItemRecord] = []
        gaps: list[Gap] = []
        covered = set(self.journal["done"])
        if previous is not None:
            items.extend(previous.items)
            # an earlier gap stays recorded unless this capture reached that source
            gaps.extend(g for g in previous.gaps if g.source not in covered or g.source in self.journal["gaps"])
            gaps = [g for g in gaps if g.source not in self.journal["gaps"]]
        known = {(i.source, i.sha256) for i in items}
        items.extend(i for i in sorted(new_items, key=lambda i: i.id) if (i.source, i.sha256) not in known)
        gaps.extend(sorted(new_gaps, key=lambda g: g.source))
        created_at = datetime.fromisoformat(self.journal["created_at"])
        retention_days = self.policy.retention_days or self.settings.retention_days
        incident: Incident = self.req.incident
        window = self.window
        return Manifest(
            postmortem_id=self.req.postmortem_id,
            org=incident.org,
            incident_key=incident.key,
            service=incident.service,
            version=(previous.version + 1) if previous else 1,
            phase=self.req.phase,
            supersedes=supersedes,
            window_start=min(window.start, previous.window_start) if previous else window.start,
            window_end=max(window.end, previous.window_end) if previous else window.end,
            created_at=created_at,
            collector=self.journal["collector"],
            retention_until=max(
                created_at + timedelta(days=retention_days),
                previous.retention_until if previous else created_at,
            ),
            items=items,
            gaps=gaps,
            items_digest=items_digest(items, supersedes),
            skew_tolerance_seconds=self.policy.skew_tolerance.total_seconds(),
        )

    async def run(self) -> EvidenceSummary:
        # beat while a slow source is being waited on, so a heartbeat timeout only fires for a dead worker
        keepalive = asyncio.create_task(_keep_alive()) if activity.in_activity() else None
        try:
            return await self._run()
        finally:
            if keepalive is not None:
                keepalive.cancel()

    async def _run(self) -> EvidenceSummary:
        async with self.archive.capture_lock(self.key, on_wait=lambda: _heartbeat("waiting")):
            return await self._capture()

    def _begin(self) -> None:
        with self.archive.locked():
            self._start_journal()

    async def _capture(self) -> EvidenceSummary:
        await asyncio.to_thread(self._begin)
        ref: str | None = self.journal.get("manifest_ref")
        if ref is None:
            await asyncio.to_thread(self._capture_incident)
            await asyncio.to_thread(self._capture_payload)
            for source in self.sources:
                await self._capture_source(source)
            ref = await asyncio.to_thread(self._seal)
        manifest = await asyncio.to_thread(self.archive.load_manifest, ref)
        return summary_of(ref, manifest)


def read_policy(req: EvidenceRequest) -> EvidencePolicy:
    try:
        return EvidencePolicy.from_policy(req.policy)
    except ValidationError as exc:
        raise ApplicationError(
            f"the policy's [evidence] section is invalid: {exc}",
            type="EvidencePolicyError",
            non_retryable=True,
        ) from None


def keep_alert_payload(store: ContentStore, req: EvidenceRequest) -> None:
    """The payload that travelled with the start goes into the content store under its own sha256, the
    incident's payload_ref; bytes that do not match it are not stored (the capture then records the gap)."""
    data = req.alert_payload
    if data is None or req.incident.payload_ref is None:
        return
    if hashlib.sha256(data).hexdigest() != req.incident.payload_ref:
        log.warning("%s: the alert payload that came with the start does not match its sha256", req.postmortem_id)
        return
    store.put_bytes(data)


async def capture(
    settings: Settings,
    req: EvidenceRequest,
    *,
    collector: str | None = None,
    sources: list[EvidenceSource] | None = None,
) -> EvidenceSummary:
    """Capture (or resume capturing) one phase's evidence and seal its manifest."""
    store = ContentStore(settings.store_dir)
    policy = read_policy(req)
    if req.alert_payload is not None:
        await asyncio.to_thread(keep_alert_payload, store, req)
    if sources is None:
        payload_ref = req.incident.payload_ref
        payload = await asyncio.to_thread(store.get, payload_ref) if payload_ref and store.exists(payload_ref) else None
        sources = select_sources(policy, req.incident, payload)
        deploys = deploy_source(settings.evidence_dir, req.incident)
        if deploys is not None:
            sources.append(deploys)
    who = collector or f"afterword-worker {default_identity()}"
    return await Capture(settings, store, req, policy, sources, who).run()


def attach_file(settings: Settings, req: AttachRequest) -> EvidenceSummary:
    """Store a person's file as evidence and seal a manifest version that includes it."""
    source = Path(req.name)
    if not req.note.strip():
        raise EvidenceError("say what the attachment shows (--note)")
    store = ContentStore(settings.store_dir)
    archive = EvidenceArchive(settings.evidence_dir, store, req.postmortem_id)
    archive.require_head()
    ref = store.put_bytes(req.data)  # outside the lock: storing must not hold up a capture
    size = len(req.data)
    at = utc(req.at) if req.at else None
    with archive.locked():
        head = archive.require_head()
        previous = archive.load_manifest(head.ref)
        if any(item.sha256 == ref and item.source == "attachment" for item in previous.items):
            archive.append_custody_locked(
                req.by, "attach-skipped", ref=ref, detail=f"{source.name} is already attached"
            )
            return summary_of(head.ref, previous)
        number = sum(1 for item in previous.items if item.source == "attachment") + 1
        item = ItemRecord(
            id=f"attachment/{number:03d}-{source.name}",
            source="attachment",
            kind="attachment",
            target=source.name,
            start=at,
            end=at,
            collected_at=now_local(),
            collector=req.by,
            size=size,
            sha256=ref,
            media_type=_guess_media_type(source),
            note=req.note.strip(),
            phase="attachment",
        )
        archive.append_custody_locked(
            req.by, "attached", ref=ref, item=item.id, where=archive.where(ref), detail=req.note.strip()
        )
        items = [*previous.items, item]
        manifest = previous.model_copy(
            update={
                "version": previous.version + 1,
                "phase": "attachment",
                "supersedes": head.ref,
                "created_at": now_local(),
                "collector": req.by,
                "items": items,
                "items_digest": items_digest(items, head.ref),
            }
        )
        new_ref = archive.seal_locked(manifest, req.by)
    return summary_of(new_ref, manifest)


def _guess_media_type(path: Path) -> str:
    import mimetypes

    guessed, _ = mimetypes.guess_type(path.name)
    return guessed or "application/octet-stream"


class EvidenceActivities:
    """Activities for the worker: `preserve_evidence` and `build_timeline`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @activity.defn
    async def preserve_evidence(self, req: EvidenceRequest) -> EvidenceSummary:
        try:
            return await capture(self.settings, req)
        except EvidenceError as exc:
            raise ApplicationError(str(exc), type="EvidenceError", non_retryable=True) from None

    @activity.defn
    async def build_timeline(self, req: TimelineRequest) -> TimelineResult:
        store = ContentStore(self.settings.store_dir)
        try:
            rows = await asyncio.to_thread(
                reconstruct_timeline,
                store,
                req.manifest_ref,
                req.edits,
                skew_tolerance=None
                if req.skew_tolerance_seconds is None
                else timedelta(seconds=req.skew_tolerance_seconds),
            )
        except EvidenceError as exc:
            raise ApplicationError(str(exc), type="EvidenceError", non_retryable=True) from None
        return TimelineResult(rows=rows)
