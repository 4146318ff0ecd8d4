"""The reconstructed timeline: events from every evidence item, merged in UTC order.

Pure functions over sealed evidence, so the same manifest and edits always give the same rows,
whatever order the items are read in. Each row links to the evidence item it came from. When two
sources report the same event (same key) at times further apart than the tolerance, the row is
flagged as clock skew between them. People's corrections (TimelineEdit) are applied last and the
row says who made them; an added row links to the stored record of the edit itself.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from afterword.activities.adapters.base import Event, utc
from afterword.activities.adapters.registry import EXTRACTORS
from afterword.evidence.blobs import ContentStore, StoreError
from afterword.evidence.custody import EvidenceError, Manifest
from afterword.workflows.models import TimelineEdit, TimelineRow

DEFAULT_TOLERANCE = timedelta(seconds=5)
# Sightings of one key further apart than this are separate happenings, not one event seen twice.
SAME_EVENT_WINDOW = timedelta(minutes=15)


@dataclass(frozen=True, order=True)
class Sighting:
    """An event as one source saw it, with the evidence item it was read from."""

    at: datetime
    key: str
    source: str
    text: str
    ref: str
    count: int = 1
    until: datetime | None = None

    @property
    def display(self) -> str:
        if self.count > 1 and self.until is not None:
            return f"{self.text} (x{self.count} until {self.until:%H:%M:%S})"
        if self.count > 1:
            return f"{self.text} (x{self.count})"
        return self.text


def sightings_from(events: Iterable[Event], source: str, ref: str) -> list[Sighting]:
    return [
        Sighting(
            at=utc(e.at),
            key=e.key,
            source=source,
            text=e.text,
            ref=ref,
            count=e.count,
            until=utc(e.until) if e.until else None,
        )
        for e in events
    ]


def load_sightings(store: ContentStore, manifest: Manifest) -> list[Sighting]:
    sightings: list[Sighting] = []
    for item in manifest.items:
        extractor = EXTRACTORS.get(item.kind)
        if extractor is not None:
            try:
                data = store.get(item.sha256)
            except StoreError as exc:
                raise EvidenceError(f"evidence item {item.id} is missing: {exc}") from None
            events = extractor(data, item.meta)
        elif item.kind == "attachment" and item.start is not None:
            events = [Event(at=item.start, text=f"Attachment: {item.note}", key=f"attachment:{item.sha256}")]
        else:
            events = []
        sightings.extend(sightings_from(events, item.source, item.sha256))
    return sightings


def _skew_flag(chosen: Sighting, others: list[Sighting], tolerance: timedelta) -> str | None:
    notes = []
    seen: set[str] = set()
    for other in sorted(others):
        if other.source == chosen.source or other.source in seen:
            continue
        seen.add(other.source)
        offset = (other.at - chosen.at).total_seconds()
        if abs(offset) > tolerance.total_seconds():
            notes.append(f"{other.source} saw it at {other.at:%H:%M:%S} ({offset:+.1f} s)")
    if not notes:
        return None
    return f"possible clock skew vs {chosen.source}: " + "; ".join(notes)


def merge(sightings: Iterable[Sighting], tolerance: timedelta = DEFAULT_TOLERANCE) -> list[TimelineRow]:
    """Merge sightings into rows: one row per happening, sorted by UTC time; order of input is irrelevant."""
    by_key: dict[str, list[Sighting]] = defaultdict(list)
    for sighting in set(sightings):
        by_key[sighting.key].append(sighting)
    rows: list[TimelineRow] = []
    for key in sorted(by_key):
        cluster: list[Sighting] = []
        for sighting in sorted(by_key[key]):
            starts_new = cluster and (
                sighting.at - cluster[0].at > SAME_EVENT_WINDOW
                or any(s.source == sighting.source and sighting.at - s.at > tolerance for s in cluster)
            )
            if starts_new:
                rows.append(_row(cluster, tolerance))
                cluster = []
            cluster.append(sighting)
        if cluster:
            rows.append(_row(cluster, tolerance))
    return sorted(rows, key=_row_order)


def _row(cluster: list[Sighting], tolerance: timedelta) -> TimelineRow:
    chosen = min(cluster)
    return TimelineRow(
        at=chosen.at,
        event=chosen.display,
        source=chosen.source,
        evidence_ref=chosen.ref,
        skew_flag=_skew_flag(chosen, cluster, tolerance),
    )


def _row_order(row: TimelineRow) -> tuple[datetime, str, str, str]:
    return (utc(row.at), row.source, row.event, row.evidence_ref or "")


def _same_second(a: datetime, b: datetime) -> bool:
    return utc(a).replace(microsecond=0) == utc(b).replace(microsecond=0)


def apply_edits(rows: list[TimelineRow], edits: Iterable[TimelineEdit], store: ContentStore) -> list[TimelineRow]:
    """Apply people's additions, corrections and removals in the order they were made."""
    result = list(rows)
    for edit in edits:
        record = json.dumps(edit.model_dump(mode="json"), sort_keys=True).encode()
        edit_ref = store.put_bytes(record)  # the edit itself is the evidence for what it says
        matches = [
            i
            for i, row in enumerate(result)
            if _same_second(row.at, edit.at) and (edit.replaces is None or row.event == edit.replaces)
        ]
        if edit.action == "remove":
            result = [row for i, row in enumerate(result) if i not in matches]
        elif edit.action == "correct" and matches:
            for i in matches:
                result[i] = result[i].model_copy(update={"event": edit.event, "edited_by": edit.by})
        else:  # add, or a correction of a row that no longer exists: keep what the person said
            note = "" if edit.action == "add" else " (correction: no matching row)"
            result.append(
                TimelineRow(
                    at=utc(edit.at),
                    event=edit.event + note,
                    source=f"edit:{edit.by}",
                    evidence_ref=edit_ref,
                    edited_by=edit.by,
                )
            )
    return sorted(result, key=_row_order)


def load_manifest(store: ContentStore, manifest_ref: str) -> Manifest:
    try:
        return Manifest.model_validate_json(store.get(manifest_ref))
    except StoreError as exc:
        raise EvidenceError(f"no evidence manifest {manifest_ref}: {exc}") from None


def reconstruct_timeline(
    store: ContentStore,
    manifest_ref: str,
    edits: list[TimelineEdit],
    *,
    skew_tolerance: timedelta | None = None,
) -> list[TimelineRow]:
    """The timeline of a sealed manifest, with people's edits applied.

    The skew tolerance defaults to the policy's, which the capture sealed into the manifest.
    """
    manifest = load_manifest(store, manifest_ref)
    tolerance = skew_tolerance if skew_tolerance is not None else timedelta(seconds=manifest.skew_tolerance_seconds)
    rows = merge(load_sightings(store, manifest), tolerance)
    return apply_edits(rows, edits, store)


def render_markdown(rows: list[TimelineRow], evidence_link: str = "evidence:{ref}") -> str:
    """A Markdown table (Time UTC | Event | Evidence); `evidence_link` formats each item's link."""
    lines = ["| Time (UTC) | Event | Evidence |", "|---|---|---|"]
    for row in rows:
        text = row.event.replace("|", "\\|").replace("\n", " ")
        if row.skew_flag:
            text += f" ⚠ {row.skew_flag}"
        if row.edited_by:
            text += f" (edited by {row.edited_by})"
        link = f"[{row.evidence_ref[:12]}]({evidence_link.format(ref=row.evidence_ref)})" if row.evidence_ref else ""
        lines.append(f"| {utc(row.at):%Y-%m-%d %H:%M:%S} | {text} | {link} |")
    return "\n".join(lines) + "\n"
