"""`afterword evidence …`: look at, verify, export, extend, hold and purge a postmortem's evidence.

Every command that reads or moves evidence writes a line to the postmortem's chain of custody
(who, when with timezone, what, where), as NIST SP 800-61 §3.3.2 asks.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import tarfile
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from afterword.activities.adapters.base import parse_time
from afterword.activities.capture import AttachRequest, attach_file
from afterword.evidence.blobs import ContentStore
from afterword.evidence.custody import (
    EvidenceArchive,
    EvidenceError,
    ItemRecord,
    Manifest,
    default_identity,
    purge,
)
from afterword.evidence.timeline import reconstruct_timeline, render_markdown
from afterword.policies.evidence_schema import parse_duration
from afterword.settings import Settings
from afterword.workflows.models import TimelineEdit

by_option = click.option(
    "--by", default=None, help="who is acting (recorded in the chain of custody); default: user@host"
)
json_option = click.option("--json", "as_json", is_flag=True, help="machine-readable output")


def _archive(postmortem_id: str) -> tuple[Settings, EvidenceArchive]:
    settings = Settings.from_env()
    store = ContentStore(settings.store_dir)
    archive = EvidenceArchive(settings.evidence_dir, store, postmortem_id)
    if not archive.exists():
        raise click.ClickException(
            f"no evidence for postmortem {postmortem_id!r} under {settings.evidence_dir} "
            "(check the id with `afterword list`, and AFTERWORD_DATA_DIR)"
        )
    return settings, archive


def _head_manifest(archive: EvidenceArchive) -> tuple[str, Manifest]:
    _refuse_purged(archive)
    try:
        head = archive.require_head()
        return head.ref, archive.load_manifest(head.ref)
    except (EvidenceError, ValueError) as exc:
        raise click.ClickException(f"{exc}; run `afterword evidence verify {archive.postmortem_id}`") from None


def _refuse_purged(archive: EvidenceArchive) -> None:
    purged = archive.dir / "purged.json"
    if purged.exists():
        record = json.loads(purged.read_text())
        raise click.ClickException(
            f"the evidence of {archive.postmortem_id} was purged at {record.get('at')} by {record.get('by')}; "
            "`afterword evidence show ID --custody` still lists what happened to it"
        )


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def _find_item(manifest: Manifest, wanted: str) -> ItemRecord:
    matches = [i for i in manifest.items if i.id == wanted or i.sha256.startswith(wanted.lower())]
    if not matches:
        raise click.ClickException(f"no item {wanted!r}; `afterword evidence list ID` shows the item ids")
    if len({m.sha256 for m in matches}) > 1:
        raise click.ClickException(f"{wanted!r} matches several items; give more of the hash or the full id")
    return matches[0]


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
    """A postmortem's preserved evidence: list, show, verify, export, add, hold, purge."""


@evidence.command("list")
@click.argument("postmortem_id")
@json_option
def list_items(postmortem_id: str, as_json: bool) -> None:
    """List the evidence items and gaps of a postmortem's current manifest."""
    _, archive = _archive(postmortem_id)
    ref, manifest = _head_manifest(archive)
    hold = archive.hold()
    if as_json:
        _echo_json(
            {
                "manifest_ref": ref,
                "version": manifest.version,
                "hold": hold.model_dump(mode="json") if hold else None,
                "items": [i.model_dump(mode="json") for i in manifest.items],
                "gaps": [g.model_dump(mode="json") for g in manifest.gaps],
            }
        )
        return
    console = Console()
    console.print(
        f"[bold]{escape(postmortem_id)}[/] manifest v{manifest.version} {ref}\nwindow "
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
    _, archive = _archive(postmortem_id)
    who = by or default_identity()
    if custody:
        entries = archive.custody()
        if as_json:
            _echo_json([e.model_dump(mode="json") for e in entries])
            return
        for e in entries:
            subject = e.item or (e.ref or "")[:16]
            click.echo(f"{e.seq:>4} {e.at.isoformat()}  {e.who}  {e.action}  {subject}")
            click.echo(f"     {e.detail}  ({e.where})" if e.detail else f"     ({e.where})")
        return
    ref, manifest = _head_manifest(archive)
    if item is None:
        archive.record(who, "viewed", ref=ref, detail="manifest")
        if as_json:
            _echo_json(manifest.model_dump(mode="json"))
        else:
            click.echo(json.dumps(manifest.model_dump(mode="json"), indent=2))
        return
    record = _find_item(manifest, item)
    archive.record(who, "viewed", ref=record.sha256, item=record.id, detail="raw" if raw else "metadata")
    if raw:
        sys.stdout.buffer.write(archive.store.get(record.sha256))
        return
    if as_json:
        _echo_json(record.model_dump(mode="json"))
        return
    for key, value in record.model_dump(mode="json").items():
        click.echo(f"{key:>13}: {value}")
    click.echo(f"{'stored at':>13}: {archive.store.path(record.sha256)}")


@evidence.command()
@click.argument("postmortem_id")
@by_option
@json_option
def verify(postmortem_id: str, by: str | None, as_json: bool) -> None:
    """Recompute every hash; exit 1 naming each changed or missing item."""
    _, archive = _archive(postmortem_id)
    _refuse_purged(archive)
    report = archive.verify(by or default_identity())
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
    """Copy all evidence, manifests and custody log to DESTINATION (a directory, or *.tar.gz).

    The copy carries SHA256SUMS, so the receiver can check it with `sha256sum -c SHA256SUMS`.
    """
    _, archive = _archive(postmortem_id)
    report = archive.verify(by or default_identity(), record=False)
    if not report.ok:
        names = ", ".join(p.subject for p in report.problems)
        raise click.ClickException(f"refusing to export evidence that does not verify ({names}); run `verify`")
    as_tar = destination.name.endswith((".tar.gz", ".tgz"))
    folder = destination.with_name(destination.name.split(".")[0] + ".staging") if as_tar else destination
    if folder.exists() and any(folder.iterdir()):
        raise click.ClickException(f"{folder} exists and is not empty; choose a new destination")
    (folder / "items").mkdir(parents=True, exist_ok=True)
    (folder / "manifests").mkdir(exist_ok=True)
    sums: list[str] = []
    refs: set[str] = set()
    for entry in archive.manifest_entries():
        shutil.copyfile(archive.store.path(entry.ref), folder / "manifests" / f"{entry.ref}.json")
        sums.append(f"{entry.ref}  manifests/{entry.ref}.json")
        refs.update(i.sha256 for i in archive.load_manifest(entry.ref).items)
    for ref in sorted(refs):
        shutil.copyfile(archive.store.path(ref), folder / "items" / ref)
        sums.append(f"{ref}  items/{ref}")
    shutil.copyfile(archive.manifests_path, folder / "manifests.jsonl")
    (folder / "SHA256SUMS").write_text("\n".join(sums) + "\n")
    # record the transfer first, so the copy's own custody log ends with the line that made it
    custody_line = archive.record(
        by or default_identity(),
        "exported",
        ref=report.manifest_ref,
        where=f"file://{destination.resolve()}",
        detail=f"{len(refs)} items, {len(archive.manifest_entries())} manifests",
    )
    shutil.copyfile(archive.custody_path, folder / "custody.jsonl")
    final = destination
    if as_tar:
        with tarfile.open(destination, "w:gz") as tar:
            tar.add(folder, arcname=destination.name.split(".")[0])
        shutil.rmtree(folder)
    click.echo(f"exported {len(refs)} items to {final} (custody line {custody_line.seq})")


@evidence.command()
@click.argument("postmortem_id")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--note", required=True, help="what the file shows and where it came from")
@click.option("--at", "at_text", default=None, help="the moment it documents (ISO 8601): adds a timeline row")
@by_option
@json_option
def add(postmortem_id: str, file: Path, note: str, at_text: str | None, by: str | None, as_json: bool) -> None:
    """Attach FILE to the evidence (a new manifest version; recorded in the chain of custody)."""
    settings, _ = _archive(postmortem_id)
    at: datetime | None = None
    if at_text:
        at = parse_time(at_text)
        if at is None:
            raise click.UsageError(f"--at {at_text!r} is not a time; use ISO 8601, e.g. 2026-03-01T12:30:00Z")
    try:
        summary = attach_file(
            settings,
            AttachRequest(postmortem_id=postmortem_id, path=str(file), note=note, by=by or default_identity(), at=at),
        )
    except EvidenceError as exc:
        raise click.ClickException(str(exc)) from None
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
    _, archive = _archive(postmortem_id)
    who = by or default_identity()
    try:
        if release:
            archive.release_hold(who, reason)
            click.echo(f"legal hold on {postmortem_id} released")
        else:
            archive.set_hold(who, reason)
            click.echo(f"legal hold placed on {postmortem_id}")
    except EvidenceError as exc:
        raise click.ClickException(str(exc)) from None


@evidence.command("purge")
@click.option("--older-than", "older_than", required=True, help='age, e.g. "400d", "52w"')
@click.option("--dry-run", is_flag=True, help="say what would go, delete nothing")
@by_option
@json_option
def purge_command(older_than: str, dry_run: bool, by: str | None, as_json: bool) -> None:
    """Delete evidence older than the given age, except under legal hold or inside retention."""
    age = parse_duration(older_than)
    if not hasattr(age, "total_seconds"):
        raise click.UsageError(f"--older-than {older_than!r}: use a number with a unit, e.g. 400d or 52w")
    settings = Settings.from_env()
    outcomes = purge(
        settings.evidence_dir, ContentStore(settings.store_dir), age, by or default_identity(), dry_run=dry_run
    )
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
    correct|remove`) applied; those live in the postmortem workflow, so they need Temporal to be reachable."""
    from datetime import timedelta

    _, archive = _archive(postmortem_id)
    ref, _ = _head_manifest(archive)
    edits = _timeline_edits(postmortem_id)
    try:
        tolerance = None if skew_tolerance is None else timedelta(seconds=skew_tolerance)
        rows = reconstruct_timeline(archive.store, ref, edits, skew_tolerance=tolerance)
    except EvidenceError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        _echo_json([r.model_dump(mode="json") for r in rows])
    else:
        click.echo(render_markdown(rows), nl=False)


def _timeline_edits(postmortem_id: str) -> list[TimelineEdit]:
    """People's corrections, from the workflow; without Temporal, the evidence alone (and a note saying so)."""
    from afterword.client import NotFound, Postmortems, Unavailable
    from afterword.runtime.connection import TemporalConnectionError, connect

    settings = Settings.from_env()

    async def fetch() -> list[TimelineEdit]:
        client = await connect(settings)
        return (await Postmortems(client, settings).status(postmortem_id)).timeline_edits

    try:
        asyncio.get_running_loop()
    except RuntimeError:  # the usual case: a command line, no loop yet
        pass
    else:  # called from inside an event loop (an embedding program): it cannot block on Temporal here
        click.echo("note: people's timeline edits not applied (called inside a running event loop)", err=True)
        return []
    try:
        return asyncio.run(fetch())
    except (TemporalConnectionError, Unavailable, NotFound) as exc:
        click.echo(f"note: people's timeline edits not applied ({exc})", err=True)
        return []
