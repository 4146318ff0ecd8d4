"""`afterword evidence …`: look at, verify, export, extend, hold and purge a postmortem's evidence.

The evidence lives on the worker's disk; these commands reach it through Temporal (StoreAccessWorkflow,
and the postmortem's `add_evidence` update), so they work from any machine that reaches Temporal.
Every command that reads or moves evidence writes a line to the postmortem's chain of custody (who,
when with timezone, what, where), as NIST SP 800-61 §3.3.2 asks.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import socket
import sys
import tarfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from afterword.activities.adapters.base import parse_time
from afterword.client import NotFound, Postmortems
from afterword.commands.remote import run
from afterword.evidence.records import CustodyEntry, default_identity
from afterword.policies.evidence_schema import parse_duration
from afterword.settings import Settings
from afterword.store_client import WorkerStores
from afterword.workflows.models import MAX_ATTACHMENT_BYTES, EvidenceAttachment, TimelineEdit, size_text
from afterword.workflows.store_requests import (
    BuildTimeline,
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
    RecordExport,
    ShowEvidence,
    Timeline,
    Verified,
    VerifyEvidence,
)

by_option = click.option(
    "--by", default=None, help="who is acting (recorded in the chain of custody); default: user@host"
)
json_option = click.option("--json", "as_json", is_flag=True, help="machine-readable output")


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def register(main: click.Group) -> None:
    """Add this area's commands to the `afterword` group."""
    main.add_command(evidence)


@click.group()
def evidence() -> None:
    """A postmortem's preserved evidence: list, show, verify, export, add, hold, purge.

    The evidence stays on the worker; these commands need only access to Temporal."""


@evidence.command("list")
@click.argument("postmortem_id")
@json_option
def list_items(postmortem_id: str, as_json: bool) -> None:
    """List the evidence items and gaps of a postmortem's current manifest."""
    listing = run(lambda pm, s: WorkerStores(pm.client, s).call(ListEvidence(postmortem_id=postmortem_id),
                                                                EvidenceListing))
    manifest, hold = listing.manifest, listing.hold
    if as_json:
        _echo_json(
            {
                "manifest_ref": listing.manifest_ref,
                "version": manifest.version,
                "hold": hold.model_dump(mode="json") if hold else None,
                "items": [i.model_dump(mode="json") for i in manifest.items],
                "gaps": [g.model_dump(mode="json") for g in manifest.gaps],
            }
        )
        return
    console = Console()
    console.print(
        f"[bold]{escape(postmortem_id)}[/] manifest v{manifest.version} {listing.manifest_ref}\nwindow "
        f"{manifest.window_start:%Y-%m-%d %H:%M:%S}Z → {manifest.window_end:%Y-%m-%d %H:%M:%S}Z"
    )
    if hold:
        console.print(f"[yellow]legal hold[/] since {hold.at.isoformat()} by {escape(hold.by)}: {escape(hold.reason)}")
    table = Table("item", "size", "sha256", "collected at")
    table.columns[0].overflow = "fold"
    for item in manifest.items:
        table.add_row(escape(item.id), _size(item.size), item.sha256[:12], f"{item.collected_at:%Y-%m-%d %H:%M:%S %z}")
    console.print(table)
    for gap in manifest.gaps:
        console.print(f"[red]gap[/] {escape(gap.describe())}")


@evidence.command()
@click.argument("postmortem_id")
@click.argument("item", required=False)
@click.option("--raw", is_flag=True, help="write the item's bytes to stdout")
@click.option("--custody", is_flag=True, help="show the chain of custody")
@by_option
@json_option
def show(postmortem_id: str, item: str | None, raw: bool, custody: bool, by: str | None, as_json: bool) -> None:
    """Show the manifest, one ITEM (id or sha256 prefix), or the chain of custody."""
    if custody:
        log = run(lambda pm, s: WorkerStores(pm.client, s).read(postmortem_id, source="custody_log"))
        entries = [CustodyEntry.model_validate_json(line) for line in log.splitlines() if line.strip()]
        if as_json:
            _echo_json([e.model_dump(mode="json") for e in entries])
            return
        for e in entries:
            subject = e.item or (e.ref or "")[:16]
            click.echo(f"{e.seq:>4} {e.at.isoformat()}  {e.who}  {e.action}  {subject}")
            click.echo(f"     {e.detail}  ({e.where})" if e.detail else f"     ({e.where})")
        return
    request = ShowEvidence(postmortem_id=postmortem_id, item=item, raw=raw, by=by or default_identity())

    async def go(pm: Postmortems, s: Settings) -> EvidenceShown:
        stores = WorkerStores(pm.client, s)
        shown = await stores.call(request, EvidenceShown)
        if raw and shown.item is not None:
            await stores.copy_to(postmortem_id, sys.stdout.buffer, ref=shown.item.sha256)
            sys.stdout.buffer.flush()
        return shown

    shown = run(go)
    if shown.item is None:
        assert shown.manifest is not None
        click.echo(json.dumps(shown.manifest.model_dump(mode="json"), indent=2))
        return
    if raw:
        return
    if as_json:
        _echo_json(shown.item.model_dump(mode="json"))
        return
    for key, value in shown.item.model_dump(mode="json").items():
        click.echo(f"{key:>13}: {value}")
    click.echo(f"{'stored at':>13}: {shown.where} (on the worker)")


@evidence.command()
@click.argument("postmortem_id")
@by_option
@json_option
def verify(postmortem_id: str, by: str | None, as_json: bool) -> None:
    """Recompute every hash on the worker; exit 1 naming each changed or missing item."""
    request = VerifyEvidence(postmortem_id=postmortem_id, by=by or default_identity())
    report = run(lambda pm, s: WorkerStores(pm.client, s).call(request, Verified)).report
    if as_json:
        _echo_json({"ok": report.ok, **report.model_dump(mode="json")})
    elif report.ok:
        click.echo(
            f"OK: {report.items_checked} items ({_size(report.bytes_checked)}), every manifest version and the "
            f"chain of custody verify; current manifest {report.manifest_ref}"
        )
    else:
        for problem in report.problems:
            click.echo(f"FAILED {problem.kind}: {problem.subject}: {problem.detail}", err=True)
    if not report.ok:
        raise SystemExit(1)


@evidence.command()
@click.argument("postmortem_id")
@click.argument("destination", type=click.Path(path_type=Path))
@by_option
def export(postmortem_id: str, destination: Path, by: str | None) -> None:
    """Copy all evidence, manifests and custody log to DESTINATION on this machine (a directory, or *.tar.gz).

    The copy carries SHA256SUMS, so the receiver can check it with `sha256sum -c SHA256SUMS`.
    """
    who = by or default_identity()
    as_tar = destination.name.endswith((".tar.gz", ".tgz"))
    folder = destination.with_name(destination.name.split(".")[0] + ".staging") if as_tar else destination
    if folder.exists() and any(folder.iterdir()):
        raise click.ClickException(f"{folder} exists and is not empty; choose a new destination")
    if as_tar and destination.exists():
        raise click.ClickException(f"{destination} exists; choose a new destination")
    where = f"file://{socket.gethostname()}{destination.resolve()}"  # this machine's, not the worker's

    async def copy(pm: Postmortems, s: Settings) -> tuple[ExportPlan, ExportRecorded]:
        stores = WorkerStores(pm.client, s)
        plan = await stores.call(PlanExport(postmortem_id=postmortem_id, by=who), ExportPlan)
        (folder / "items").mkdir(parents=True, exist_ok=True)
        (folder / "manifests").mkdir(exist_ok=True)
        sums: list[str] = []
        for ref, target in [*((r, f"manifests/{r}.json") for r in plan.manifest_refs),
                            *((r, f"items/{r}") for r in plan.item_refs)]:
            await _fetch(stores, postmortem_id, ref, folder / target)
            sums.append(f"{ref}  {target}")
        (folder / "manifests.jsonl").write_bytes(await stores.read(postmortem_id, source="manifest_log"))
        (folder / "SHA256SUMS").write_text("\n".join(sums) + "\n")
        # record the transfer before copying the custody log, so the copy's log ends with the line that made it
        recorded = await stores.call(
            RecordExport(postmortem_id=postmortem_id, by=who, manifest_ref=plan.manifest_ref,
                         where=where,
                         detail=f"{len(plan.item_refs)} items, {len(plan.manifest_refs)} manifests"),
            ExportRecorded,
        )
        (folder / "custody.jsonl").write_bytes(await stores.read(postmortem_id, source="custody_log"))
        return plan, recorded

    plan, recorded = run(copy)
    if as_tar:
        with tarfile.open(destination, "w:gz") as tar:
            tar.add(folder, arcname=destination.name.split(".")[0])
        shutil.rmtree(folder)
    click.echo(f"exported {len(plan.item_refs)} items to {destination} (custody line {recorded.entry.seq})")


class _Checked:
    """A file being written and hashed as it is written."""

    def __init__(self, target: Path) -> None:
        self.file = target.open("wb")
        self.digest = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        return self.file.write(data)


async def _fetch(stores: WorkerStores, postmortem_id: str, ref: str, target: Path) -> None:
    """One blob, written to `target` and checked against its name as it arrives."""
    copy = await asyncio.to_thread(_Checked, target)
    try:
        await stores.copy_to(postmortem_id, copy, ref=ref)
    finally:
        copy.file.close()
    if copy.digest.hexdigest() != ref:
        raise click.ClickException(f"the copy of {ref} does not hash to its name; nothing was recorded, try again")


@evidence.command()
@click.argument("postmortem_id")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--note", required=True, help="what the file shows and where it came from")
@click.option("--at", "at_text", default=None, help="the moment it documents (ISO 8601): adds a timeline row")
@by_option
@json_option
def add(postmortem_id: str, file: Path, note: str, at_text: str | None, by: str | None, as_json: bool) -> None:
    """Attach FILE (at most 1 MiB; it travels to the worker) to the evidence: a new manifest version, recorded
    in the chain of custody and in the postmortem's own evidence summary."""
    at: datetime | None = None
    if at_text:
        at = parse_time(at_text)
        if at is None:
            raise click.UsageError(f"--at {at_text!r} is not a time; use ISO 8601, e.g. 2026-03-01T12:30:00Z")
    if not note.strip():
        raise click.UsageError("say what the attachment shows (--note)")
    size = file.stat().st_size
    if size > MAX_ATTACHMENT_BYTES:
        raise click.ClickException(
            f"{file} is {size_text(size)}; an attachment may be at most {size_text(MAX_ATTACHMENT_BYTES)}, since it "
            "travels through Temporal. Keep a larger file in your document store and attach a note that links it "
            "with its sha256"
        )
    attachment = EvidenceAttachment(by=by or default_identity(), name=file.name, data=file.read_bytes(), note=note,
                                    at=at)
    summary = run(lambda pm, s: pm.add_evidence(postmortem_id, attachment))
    if as_json:
        _echo_json(summary.model_dump(mode="json"))
    else:
        click.echo(f"attached {file.name}; manifest now {summary.manifest_ref} ({summary.items} items)")


@evidence.command()
@click.argument("postmortem_id")
@click.option("--reason", required=True, help="the matter, ticket or request the hold is for")
@click.option("--release", is_flag=True, help="lift the hold instead of placing it")
@by_option
def hold(postmortem_id: str, reason: str, release: bool, by: str | None) -> None:
    """Place (or --release) a legal hold: held evidence is never purged."""
    if not reason.strip():
        raise click.UsageError("a legal hold needs a reason (e.g. the matter or ticket it is for)")
    request = HoldEvidence(postmortem_id=postmortem_id, by=by or default_identity(), reason=reason, release=release)
    run(lambda pm, s: WorkerStores(pm.client, s).call(request, HoldChanged))
    click.echo(f"legal hold on {postmortem_id} released" if release else f"legal hold placed on {postmortem_id}")


@evidence.command("purge")
@click.option("--older-than", "older_than", required=True, help='age, e.g. "400d", "52w"')
@click.option("--dry-run", is_flag=True, help="say what would go, delete nothing")
@by_option
@json_option
def purge_command(older_than: str, dry_run: bool, by: str | None, as_json: bool) -> None:
    """Delete evidence older than the given age on the worker, except under legal hold or inside retention."""
    age = parse_duration(older_than)
    if not isinstance(age, timedelta):
        raise click.UsageError(f"--older-than {older_than!r}: use a number with a unit, e.g. 400d or 52w")
    request = PurgeEvidence(older_than=age, by=by or default_identity(), dry_run=dry_run)
    outcomes = run(lambda pm, s: WorkerStores(pm.client, s).call(request, PurgeReport)).outcomes
    if as_json:
        _echo_json([o.model_dump(mode="json") for o in outcomes])
        return
    if not outcomes:
        click.echo("nothing to purge")
    for outcome in outcomes:
        freed = f", {_size(outcome.bytes_freed)}" if outcome.action == "purged" else ""
        click.echo(f"{outcome.action:>6} {outcome.postmortem_id}: {outcome.reason}{freed}")


@evidence.command()
@click.argument("postmortem_id")
@click.option(
    "--skew-tolerance", type=float, default=None, help="seconds before two sources disagree; default: the policy's"
)
@json_option
def timeline(postmortem_id: str, skew_tolerance: float | None, as_json: bool) -> None:
    """The timeline reconstructed from the current manifest, with people's edits (`afterword timeline add|
    correct|remove`) applied."""

    async def build(pm: Postmortems, s: Settings) -> Timeline:
        edits: list[TimelineEdit] = []
        try:
            edits = (await pm.status(postmortem_id)).timeline_edits
        except NotFound as exc:  # evidence without its workflow (the namespace no longer retains it)
            click.echo(f"note: people's timeline edits not applied ({exc})", err=True)
        request = BuildTimeline(postmortem_id=postmortem_id, edits=edits, skew_tolerance_seconds=skew_tolerance)
        return await WorkerStores(pm.client, s).call(request, Timeline)

    built = run(build)
    if as_json:
        _echo_json([r.model_dump(mode="json") for r in built.rows])
    else:
        click.echo(built.markdown, nl=False)

