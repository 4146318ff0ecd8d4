"""The worker's stores, served to clients that cannot reach its disk: reads and administration of drafts
and evidence (StoreAccessWorkflow runs one per request), and the two things people hand in through the
postmortem workflow (a draft's text, an evidence attachment).

Everything a person must fix (an unknown postmortem, purged evidence, an ambiguous item) is a
non-retryable `StoreRefused` error whose message says what to do.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError

from afterword.activities.capture import AttachRequest, attach_file
from afterword.evidence.blobs import ContentStore
from afterword.evidence.custody import EvidenceArchive, EvidenceError, purge
from afterword.evidence.records import ItemRecord, Manifest
from afterword.evidence.timeline import reconstruct_timeline, render_markdown
from afterword.settings import Settings
from afterword.workflows.models import DocumentRef, EvidenceSummary
from afterword.workflows.store_requests import (
    REFUSED,
    BuildTimeline,
    Chunk,
    EvidenceListing,
    EvidenceShown,
    ExportPlan,
    ExportRecorded,
    HoldChanged,
    HoldEvidence,
    ListEvidence,
    PlanExport,
    PurgeEvidence,
    PurgeReport,
    ReadChunk,
    RecordExport,
    ShowEvidence,
    StoreDocument,
    Timeline,
    Verified,
    VerifyEvidence,
)

T = TypeVar("T")
HEARTBEAT_EVERY = 5.0


def refused(message: str) -> ApplicationError:
    return ApplicationError(message, type=REFUSED, non_retryable=True)


async def _beating(work: Callable[[], T]) -> T:
    """Run blocking `work` in a thread and heartbeat meanwhile: a long verify or purge (hashing gigabytes)
    is then told apart from a worker that died, whose activity is retried elsewhere."""
    task = asyncio.ensure_future(asyncio.to_thread(work))
    while True:
        done, _ = await asyncio.wait({task}, timeout=HEARTBEAT_EVERY)
        if done:
            return task.result()
        activity.heartbeat()


def find_item(manifest: Manifest, wanted: str) -> ItemRecord:
    matches = [i for i in manifest.items if i.id == wanted or i.sha256.startswith(wanted.lower())]
    if not matches:
        raise refused(f"no item {wanted!r}; `afterword evidence list ID` shows the item ids")
    if len({m.sha256 for m in matches}) > 1:
        raise refused(f"{wanted!r} matches several items; give more of the hash or the full id")
    return matches[0]


class StoreActivities:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = ContentStore(settings.store_dir)

    def _archive(self, postmortem_id: str, *, purged_ok: bool = False) -> EvidenceArchive:
        try:
            archive = EvidenceArchive(self.settings.evidence_dir, self.store, postmortem_id)
        except EvidenceError as exc:
            raise refused(str(exc)) from None
        if not archive.exists():
            raise refused(
                f"no evidence for postmortem {postmortem_id!r} (check the id with `afterword list`; a postmortem "
                "has evidence once its first capture has sealed a manifest)"
            )
        mark = archive.purged()
        if mark is not None and not purged_ok:
            raise refused(
                f"the evidence of {postmortem_id} was purged at {mark.at.isoformat()} by {mark.by}; "
                f"`afterword evidence show {postmortem_id} --custody` still lists what happened to it"
            )
        return archive

    def _head(self, archive: EvidenceArchive) -> tuple[str, Manifest]:
        try:
            head = archive.require_head()
            return head.ref, archive.load_manifest(head.ref)
        except (EvidenceError, ValueError) as exc:
            raise refused(f"{exc}; run `afterword evidence verify {archive.postmortem_id}`") from None

    # -- reads -------------------------------------------------------------------------------------

    @activity.defn
    async def read_chunk(self, req: ReadChunk) -> Chunk:
        return await asyncio.to_thread(self._read_chunk, req)

    def _read_chunk(self, req: ReadChunk) -> Chunk:
        if req.source == "blob":
            if req.ref is None:
                raise refused("say which blob to read (its sha256)")
            path = self.store.path(req.ref)
            if not path.exists():
                raise refused(f"the worker's store holds no {req.ref} (purged, or never stored there)")
        else:
            archive = self._archive(req.postmortem_id, purged_ok=True)
            path = archive.custody_path if req.source == "custody_log" else archive.manifests_path
        with open(path, "rb") as fh:
            total = fh.seek(0, 2)
            fh.seek(min(req.offset, total))
            data = fh.read(req.length)
        return Chunk(data=data, offset=req.offset, total=total)

    @activity.defn
    async def list_evidence(self, req: ListEvidence) -> EvidenceListing:
        return await asyncio.to_thread(self._list, req)

    def _list(self, req: ListEvidence) -> EvidenceListing:
        archive = self._archive(req.postmortem_id)
        ref, manifest = self._head(archive)
        return EvidenceListing(manifest_ref=ref, manifest=manifest, hold=archive.hold())

    @activity.defn
    async def show_evidence(self, req: ShowEvidence) -> EvidenceShown:
        return await asyncio.to_thread(self._show, req)

    def _show(self, req: ShowEvidence) -> EvidenceShown:
        archive = self._archive(req.postmortem_id)
        ref, manifest = self._head(archive)
        if req.item is None:
            archive.record(req.by, "viewed", ref=ref, detail="manifest")
            return EvidenceShown(manifest_ref=ref, manifest=manifest)
        item = find_item(manifest, req.item)
        archive.record(req.by, "viewed", ref=item.sha256, item=item.id, detail="raw" if req.raw else "metadata")
        return EvidenceShown(manifest_ref=ref, item=item, where=archive.where(item.sha256))

    @activity.defn
    async def evidence_timeline(self, req: BuildTimeline) -> Timeline:
        return await asyncio.to_thread(self._timeline, req)

    def _timeline(self, req: BuildTimeline) -> Timeline:
        archive = self._archive(req.postmortem_id)
        ref, _ = self._head(archive)
        tolerance = None if req.skew_tolerance_seconds is None else timedelta(seconds=req.skew_tolerance_seconds)
        try:
            rows = reconstruct_timeline(self.store, ref, req.edits, skew_tolerance=tolerance)
        except EvidenceError as exc:
            raise refused(str(exc)) from None
        return Timeline(rows=rows, markdown=render_markdown(rows))

    # -- administration ----------------------------------------------------------------------------

    @activity.defn
    async def verify_evidence(self, req: VerifyEvidence) -> Verified:
        archive = await asyncio.to_thread(self._archive, req.postmortem_id)
        try:
            return Verified(report=await _beating(lambda: archive.verify(req.by)))
        except EvidenceError as exc:
            raise refused(str(exc)) from None

    @activity.defn
    async def hold_evidence(self, req: HoldEvidence) -> HoldChanged:
        return await asyncio.to_thread(self._hold, req)

    def _hold(self, req: HoldEvidence) -> HoldChanged:
        archive = self._archive(req.postmortem_id, purged_ok=True)
        try:
            if req.release:
                archive.release_hold(req.by, req.reason)
                return HoldChanged(hold=None)
            return HoldChanged(hold=archive.set_hold(req.by, req.reason))
        except EvidenceError as exc:
            raise refused(str(exc)) from None

    @activity.defn
    async def purge_evidence(self, req: PurgeEvidence) -> PurgeReport:
        settings, store = self.settings, self.store
        outcomes = await _beating(
            lambda: purge(settings.evidence_dir, store, req.older_than, req.by, dry_run=req.dry_run)
        )
        return PurgeReport(outcomes=outcomes)

    @activity.defn
    async def plan_export(self, req: PlanExport) -> ExportPlan:
        archive = await asyncio.to_thread(self._archive, req.postmortem_id)
        try:
            report = await _beating(lambda: archive.verify(req.by, record=False))
        except EvidenceError as exc:
            raise refused(str(exc)) from None
        if not report.ok:
            names = ", ".join(p.subject for p in report.problems)
            raise refused(
                f"refusing to export evidence that does not verify ({names}); "
                f"run `afterword evidence verify {req.postmortem_id}`"
            )
        return await asyncio.to_thread(self._plan, archive, report.manifest_ref or "")

    def _plan(self, archive: EvidenceArchive, head: str) -> ExportPlan:
        manifests = [entry.ref for entry in archive.manifest_entries()]
        items = {item.sha256 for ref in manifests for item in archive.load_manifest(ref).items}
        return ExportPlan(manifest_ref=head, manifest_refs=manifests, item_refs=sorted(items))

    @activity.defn
    async def record_export(self, req: RecordExport) -> ExportRecorded:
        return await asyncio.to_thread(self._record_export, req)

    def _record_export(self, req: RecordExport) -> ExportRecorded:
        archive = self._archive(req.postmortem_id)
        entry = archive.record(req.by, "exported", ref=req.manifest_ref, where=req.where, detail=req.detail)
        return ExportRecorded(entry=entry)

    # -- what people hand in through the postmortem workflow ---------------------------------------

    @activity.defn
    async def store_document(self, req: StoreDocument) -> DocumentRef:
        ref = await asyncio.to_thread(self.store.put_bytes, req.text.encode("utf-8"))
        return DocumentRef(ref=ref, path=str(self.store.path(ref)))

    @activity.defn
    async def attach_evidence(self, req: AttachRequest) -> EvidenceSummary:
        try:
            return await asyncio.to_thread(attach_file, self.settings, req)
        except EvidenceError as exc:
            raise refused(str(exc)) from None
