"""What a client asks of the worker's stores, and what comes back: the messages of StoreAccessWorkflow.

A client (the CLI on a laptop, say) reaches Temporal, never the worker's disk: to read a draft, list,
show, verify, export, hold or purge evidence, it starts one StoreAccessWorkflow with one of these
requests; an activity on a worker that holds the stores answers. Each request names its kind in `op`,
so one workflow input carries any of them. Reads come in slices (`ReadChunk`), each well inside one
Temporal payload, so an evidence item of any size can be fetched.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from pydantic import Field

from afterword.evidence.records import CustodyEntry, Hold, ItemRecord, Manifest, PurgeOutcome, VerifyReport
from afterword.workflows.models import BYTES_AS_BASE64, Model, TimelineEdit, TimelineRow

# The error type of a refusal: what the person asked cannot be done (the message says why), as opposed to
# a failure worth retrying.
REFUSED = "StoreRefused"
# One slice of a read: a payload far below Temporal's 2 MB limit once base64'd, with room for the envelope.
MAX_CHUNK_BYTES = 1024 * 1024
SHA256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


# ---------------------------------------------------------------------------------------------------
# requests
# ---------------------------------------------------------------------------------------------------


class ReadChunk(Model):
    """Bytes `offset`.. of a blob in the content store (a draft, an evidence item, a manifest), or of the
    postmortem's custody or manifest log as stored (byte for byte: the custody chain hashes its lines)."""

    op: Literal["read_chunk"] = "read_chunk"
    postmortem_id: str
    source: Literal["blob", "custody_log", "manifest_log"] = "blob"
    ref: SHA256 | None = None
    offset: int = Field(default=0, ge=0)
    length: int = Field(default=MAX_CHUNK_BYTES, gt=0, le=MAX_CHUNK_BYTES)


class ListEvidence(Model):
    op: Literal["list_evidence"] = "list_evidence"
    postmortem_id: str


class ShowEvidence(Model):
    """The current manifest, or one of its items (by id or sha256 prefix); recorded as viewed in custody."""

    op: Literal["show_evidence"] = "show_evidence"
    postmortem_id: str
    item: str | None = None
    raw: bool = Field(default=False, description="the item's bytes are about to be read (custody says so)")
    by: str = Field(min_length=1)


class VerifyEvidence(Model):
    op: Literal["verify_evidence"] = "verify_evidence"
    postmortem_id: str
    by: str = Field(min_length=1)


class HoldEvidence(Model):
    op: Literal["hold_evidence"] = "hold_evidence"
    postmortem_id: str
    by: str = Field(min_length=1)
    reason: str = Field(min_length=1)
    release: bool = False


class PurgeEvidence(Model):
    op: Literal["purge_evidence"] = "purge_evidence"
    older_than: timedelta = Field(ge=timedelta(0))
    by: str = Field(min_length=1)
    dry_run: bool = False


class BuildTimeline(Model):
    """The timeline reconstructed from the current manifest, with people's edits (from the workflow) applied."""

    op: Literal["build_timeline"] = "build_timeline"
    postmortem_id: str
    edits: list[TimelineEdit] = Field(default_factory=list)
    skew_tolerance_seconds: float | None = Field(default=None, ge=0, description="unset: the manifest's")


class PlanExport(Model):
    """What an export copies (refused unless everything verifies); the client then reads each piece."""

    op: Literal["plan_export"] = "plan_export"
    postmortem_id: str
    by: str = Field(min_length=1)


class RecordExport(Model):
    """The custody line for a finished copy: who made it, and where (host and path on the client's side)."""

    op: Literal["record_export"] = "record_export"
    postmortem_id: str
    by: str = Field(min_length=1)
    manifest_ref: SHA256
    where: str
    detail: str


StoreRequest = Annotated[
    ReadChunk | ListEvidence | ShowEvidence | VerifyEvidence | HoldEvidence | PurgeEvidence | BuildTimeline
    | PlanExport | RecordExport,
    Field(discriminator="op"),
]


class StoreDocument(Model):
    """A draft handed in as text (`DraftSubmission.text`), for the document store: not one of the requests
    above, the postmortem workflow's own step."""

    postmortem_id: str
    text: str


class StoreCall(Model):
    """StoreAccessWorkflow's input: one request."""

    request: StoreRequest


# ---------------------------------------------------------------------------------------------------
# answers
# ---------------------------------------------------------------------------------------------------


class Chunk(Model):
    model_config = BYTES_AS_BASE64

    op: Literal["chunk"] = "chunk"
    data: bytes
    offset: int
    total: int = Field(description="the whole blob's or log's size in bytes")


class EvidenceListing(Model):
    op: Literal["evidence_listing"] = "evidence_listing"
    manifest_ref: str
    manifest: Manifest
    hold: Hold | None = None


class EvidenceShown(Model):
    op: Literal["evidence_shown"] = "evidence_shown"
    manifest_ref: str
    manifest: Manifest | None = Field(default=None, description="set when no item was asked for")
    item: ItemRecord | None = None
    where: str | None = Field(default=None, description="where the worker stores the item")


class Verified(Model):
    op: Literal["verified"] = "verified"
    report: VerifyReport


class HoldChanged(Model):
    op: Literal["hold_changed"] = "hold_changed"
    hold: Hold | None = Field(description="the hold now in force; None once released")


class PurgeReport(Model):
    op: Literal["purge_report"] = "purge_report"
    outcomes: list[PurgeOutcome]


class Timeline(Model):
    op: Literal["timeline"] = "timeline"
    rows: list[TimelineRow]
    markdown: str


class ExportPlan(Model):
    op: Literal["export_plan"] = "export_plan"
    manifest_ref: str
    manifest_refs: list[str] = Field(description="every manifest version, oldest first")
    item_refs: list[str] = Field(description="every item any version lists, once, sorted")


class ExportRecorded(Model):
    op: Literal["export_recorded"] = "export_recorded"
    entry: CustodyEntry


StoreResult = Annotated[
    Chunk | EvidenceListing | EvidenceShown | Verified | HoldChanged | PurgeReport | Timeline | ExportPlan
    | ExportRecorded,
    Field(discriminator="op"),
]


class StoreAnswer(Model):
    """StoreAccessWorkflow's result: the answer, or why the stores refused (unknown postmortem, purged
    evidence, no such item, a hold already released...), in words a person can act on."""

    result: StoreResult | None = None
    refused: str | None = None
