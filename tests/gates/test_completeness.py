"""Completeness: required sections present and written, action items owned, dated and measurable."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from afterword.gates.completeness import check_document, check_with_policy

SECTIONS = ["Summary", "Impact", "Timeline", "Action items"]

COMPLETE = """# Postmortem: checkout errors

## Summary

Checkout failed for 18% of customers for 72 minutes after a pool size change.

## Impact

41,000 failed checkout attempts.

## Timeline (UTC)

| Time | Event | Evidence |
|---|---|---|
| 09:02 | alert fired | `3b18e512dba7` |

## Action items

| Type | Action | Owner | Due | Success criterion | Ticket |
|---|---|---|---|---|---|
| prevent | canary for configuration | @alice | 2026-12-15 | every config change passes a 10% canary | PAY-1 |
| mitigate | cap retries | bsilva | 2026-12-01 | retry ratio below 1.2 in the saturation test | PAY-2 |
"""


def rules(result) -> list[tuple[str, int | None]]:
    return [(f.rule, f.line) for f in result.findings]


def test_a_complete_document_has_no_findings_and_scores_one() -> None:
    result = check_document(COMPLETE, SECTIONS)
    assert result.findings == []
    assert result.score == 1.0
    assert len(result.items) == 2


def test_missing_and_placeholder_sections_are_findings() -> None:
    text = COMPLETE.replace("41,000 failed checkout attempts.", "TBD").replace("## Summary", "## Overview")
    result = check_document(text, SECTIONS)
    assert rules(result) == [("missing-section", None), ("empty-section", 7)]
    assert all(f.severity == "error" for f in result.findings)
    assert result.score == (2 + 6) / (4 + 6)


def test_template_prompts_html_comments_and_header_only_tables_are_empty() -> None:
    text = """## Summary

<fill in: what happened, in two or three sentences>

## Impact

<!-- who was affected -->
N/A

## Timeline

| Time | Event | Evidence |
|---|---|---|

## Action items

- TODO
"""
    result = check_document(text, SECTIONS)
    assert [f.rule for f in result.findings if f.gate == "sections"] == ["empty-section"] * 4
    assert result.score < 0.5


def test_headings_inside_code_blocks_do_not_count() -> None:
    text = "## Summary\n\nSomething broke.\n\n```\n## Impact\nnot a heading\n```\n"
    assert ("missing-section", None) in rules(check_document(text, ["Summary", "Impact"]))


def test_heading_match_ignores_case_numbering_and_a_trailing_qualifier() -> None:
    text = "## 1. SUMMARY:\n\nok text\n\n### Timeline (UTC)\n\n- 09:02 alert\n"
    assert check_document(text, ["Summary", "Timeline"]).findings == []


def test_a_subsection_belongs_to_its_parent_section() -> None:
    text = "## Root cause analysis\n\n### Five whys\n\n1. Why? Because the pool was too small.\n"
    assert check_document(text, ["Root cause analysis"]).findings == []


def test_action_items_need_owner_due_date_and_a_measurable_criterion() -> None:
    text = """## Action items

| Action | Owner | Due | Success criterion |
|---|---|---|---|
| add alert |  | 2026-12-01 | alert fires within 2 minutes in the game day |
| cap retries | bob | next week | retry ratio below 1.2 |
| fix docs | carol | 2026-02-30 | TBD |
| canary | dan | 2026-12-01 | ok |
"""
    result = check_document(text, ["Action items"])
    assert rules(result) == [
        ("action-owner", 5),
        ("action-due", 6),
        ("action-due", 7),
        ("action-success-criterion", 7),
        ("action-success-criterion", 8),
    ]
    assert "does not exist" in result.findings[2].message
    assert result.score == pytest.approx((1 + 7) / (1 + 12), abs=1e-4)


def test_action_items_written_as_a_list() -> None:
    text = """## Action items

- Add a saturation alert. Owner: @alice; due: 2026-12-01; success criterion: the alert fires in the game day
- Cap retries (owner: bob, due 2026-12-05)
  - success criterion: retry ratio below 1.2 in the saturation test
- Write the runbook
"""
    result = check_document(text, ["Action items"])
    assert [i.fields.get("owner") for i in result.items] == ["@alice", "bob", None]
    assert rules(result) == [("action-owner", 6), ("action-due", 6), ("action-success-criterion", 6)]


def test_policy_placeholders_and_required_fields_are_read_from_the_policy() -> None:
    policy = {
        "document": {"placeholders": ["pending"]},
        "action_items": {"required_fields": ["owner", "due", "success_criterion", "ticket"]},
    }
    text = COMPLETE.replace("41,000 failed checkout attempts.", "Pending.").replace("| PAY-2 |", "|  |")
    result = check_with_policy(text, SECTIONS, policy)
    assert rules(result) == [("empty-section", 7), ("action-ticket", 22)]
    # a malformed policy section falls back to the defaults instead of failing the check
    assert check_with_policy(COMPLETE, SECTIONS, {"document": "oops", "action_items": None}).findings == []


def test_a_fresh_draft_from_the_shipped_template_is_refused_and_a_written_one_passes() -> None:
    from afterword.activities.drafting import render
    from afterword.policies import default_policy, rules_for
    from afterword.workflows.models import Incident, RenderRequest

    incident = Incident(
        org="acme",
        key="k1",
        title="Checkout errors",
        severity="SEV2",
        service="checkout",
        started_at=datetime(2026, 11, 20, 9, 2, tzinfo=UTC),
        resolved_at=datetime(2026, 11, 20, 10, 14, tzinfo=UTC),
    )
    rule_set = rules_for(default_policy(), incident)
    draft = render(
        RenderRequest(postmortem_id="pm-1", incident=incident, rules=rule_set, owner="alice", evidence=None), []
    )
    result = check_with_policy(draft, rule_set.required_sections, rule_set.policy)
    empty = {f.message.split('"')[1] for f in result.findings if f.rule == "empty-section"}
    assert "Summary" in empty and "Root cause analysis" in empty and "Action items" in empty
    assert result.score < 0.2

    written = draft
    for section in rule_set.required_sections:
        written = written.replace(f"## {section}\n", f"## {section}\n\nWritten text for {section.lower()}.\n")
    written = written.replace(
        "|---|---|---|---|---|---|\n",
        "|---|---|---|---|---|---|\n"
        "| prevent | add canary | alice | 2026-12-15 | canary on every config change | T-1 |\n",
    )
    assert check_with_policy(written, rule_set.required_sections, rule_set.policy).findings == []
