"""Timeline merge properties (hypothesis) and people's edits."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from afterword.evidence.blobs import ContentStore
from afterword.evidence.timeline import Sighting, apply_edits, merge, render_markdown
from afterword.workflows.models import TimelineEdit, TimelineRow

BASE = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
REFS = [f"{i:064x}" for i in range(1, 6)]

sightings = st.builds(
    Sighting,
    at=st.integers(min_value=0, max_value=3600).map(lambda s: BASE + timedelta(seconds=s)),
    key=st.sampled_from(["alert:a:firing", "commit:abc", "log:ERROR x", "log:ERROR y", "slack:c:1"]),
    source=st.sampled_from(["alert", "git:repo", "logs:host", "http-json:central", "slack:ops"]),
    text=st.sampled_from(["Alert A firing", "Change abc", "ERROR x", "ERROR y", "#ops: rolling back"]),
    ref=st.sampled_from(REFS),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(sightings, max_size=25), st.randoms(use_true_random=False))
def test_merge_ignores_input_order_and_duplicates(events: list[Sighting], rnd: random.Random) -> None:
    shuffled = list(events)
    rnd.shuffle(shuffled)
    rows = merge(events)
    assert merge(shuffled) == rows
    assert merge(events + shuffled) == rows  # the same evidence read twice adds nothing


@settings(max_examples=150, deadline=None)
@given(st.lists(sightings, max_size=25))
def test_rows_are_sorted_linked_and_cover_every_key(events: list[Sighting]) -> None:
    rows = merge(events)
    assert [r.at for r in rows] == sorted(r.at for r in rows)
    assert all(r.evidence_ref in {e.ref for e in events} for r in rows)
    assert {(r.source, r.event, r.evidence_ref) for r in rows} <= {(e.source, e.text, e.ref) for e in events}
    # every key that was seen is on the timeline at its earliest sighting
    for key in {e.key for e in events}:
        first = min(e.at for e in events if e.key == key)
        assert any(r.at == first for r in rows)
    assert len(rows) <= len(set(events))


def test_same_event_from_two_sources_is_one_row_flagged_when_clocks_disagree() -> None:
    log = Sighting(BASE, "log:ERROR x", "logs:host", "ERROR x", REFS[0])
    close = Sighting(BASE + timedelta(seconds=2), "log:ERROR x", "http-json:central", "ERROR x", REFS[1])
    far = Sighting(BASE + timedelta(seconds=95), "log:ERROR x", "http-json:central", "ERROR x", REFS[1])
    (row,) = merge([log, close])
    assert row.skew_flag is None and row.evidence_ref == REFS[0]
    (row,) = merge([log, far])
    assert row.skew_flag == "possible clock skew vs logs:host: http-json:central saw it at 12:01:35 (+95.0 s)"
    # the same source seeing one key twice, far apart, is two happenings
    again = Sighting(BASE + timedelta(minutes=40), "log:ERROR x", "logs:host", "ERROR x", REFS[0])
    assert len(merge([log, again])) == 2


def test_edits_add_correct_remove_and_record_who(tmp_path: Path) -> None:
    store = ContentStore(tmp_path)
    rows = [
        TimelineRow(at=BASE, event="Alert A firing", source="alert", evidence_ref=REFS[0]),
        TimelineRow(at=BASE + timedelta(minutes=5), event="ERROR x", source="logs:host", evidence_ref=REFS[1]),
    ]
    edits = [
        TimelineEdit(by="alice", action="add", at=BASE + timedelta(minutes=2), event="On-call paged", reason="from PD"),
        TimelineEdit(by="bob", action="correct", at=BASE, event="Alert A firing (checkout)", replaces="Alert A firing"),
        TimelineEdit(by="carol", action="remove", at=BASE + timedelta(minutes=5), replaces="ERROR x"),
        TimelineEdit(by="dan", action="correct", at=BASE + timedelta(hours=1), event="Late fix", replaces="gone"),
    ]
    result = apply_edits(rows, edits, store)
    assert [(r.event, r.edited_by) for r in result] == [
        ("Alert A firing (checkout)", "bob"),
        ("On-call paged", "alice"),
        ("Late fix (correction: no matching row)", "dan"),
    ]
    assert result[0].evidence_ref == REFS[0]  # a corrected row keeps its evidence
    added = result[1]
    assert added.source == "edit:alice" and added.evidence_ref is not None
    assert json.loads(store.get(added.evidence_ref))["reason"] == "from PD"
    table = render_markdown(result)
    assert table.splitlines()[0] == "| Time (UTC) | Event | Evidence |"
    assert "| 2026-03-01 12:00:00 | Alert A firing (checkout) (edited by bob) |" in table


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(sightings, min_size=1, max_size=15))
def test_edits_keep_every_row_linked_to_stored_evidence(tmp_path: Path, events: list[Sighting]) -> None:
    store = ContentStore(tmp_path)
    rows = merge(events)
    edits = [TimelineEdit(by="alice", action="add", at=BASE, event="Customer report")]
    for row in apply_edits(rows, edits, store):
        assert row.evidence_ref is not None
        assert row.evidence_ref in REFS or store.exists(row.evidence_ref)


words = st.sampled_from(["ERROR", "error", "Deployed", "deployment", "OOMKilled", "ok", "Timeout", "errors", "-", " "])


@settings(max_examples=200, deadline=None)
@given(st.lists(words, max_size=8).map("".join), st.sampled_from([r"(?i)\b(error|deploy\w*|oom\w*)\b", r"(?i)timeout"]))
def test_fast_matcher_agrees_with_the_plain_regex(text: str, pattern: str) -> None:
    import re

    from afterword.activities.adapters.logs import Matcher
    from afterword.policies.evidence_schema import DEFAULT_PATTERN

    for candidate in (pattern, DEFAULT_PATTERN):
        assert Matcher(candidate).search(text) == bool(re.search(candidate, text))
