"""GateActivities as the workflow calls them: documents come from, and go to, the content store."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from afterword.activities.document_gates import GateActivities
from afterword.evidence.blobs import ContentStore
from afterword.settings import Settings
from afterword.workflows.models import (
    CheckRequest,
    DeadlineRule,
    Milestone,
    PostmortemRules,
    RedactRequest,
    Requirement,
    ReviewRules,
)

from .corpus_data import documents, policy

GOOD = """## Summary

Checkout failed for 18% of customers after a pool size change.

## Action items

| Action | Owner | Due | Success criterion |
|---|---|---|---|
| canary for configuration | alice | 2026-12-15 | every config change passes a 10% canary |
"""


def make_rules(sections: list[str], extra: dict[str, object] | None = None) -> PostmortemRules:
    return PostmortemRules(
        org="acme",
        policy_name="test",
        policy_hash="0" * 64,
        severity="SEV2",
        requirement=Requirement.REQUIRED,
        deadlines=[
            DeadlineRule(
                name="draft", after=Milestone.RESOLVED, until=Milestone.DRAFT_SUBMITTED, duration=timedelta(hours=72)
            )
        ],
        review=ReviewRules(reviewers=["chenw"]),
        required_sections=sections,
        policy={**policy(), **(extra or {})},
    )


@pytest.fixture
def gates(tmp_path: Path) -> tuple[GateActivities, ContentStore]:
    settings = Settings(data_dir=tmp_path)
    return GateActivities(settings), ContentStore(settings.store_dir)


async def test_check_draft_passes_a_complete_blameless_draft(gates) -> None:
    activities, store = gates
    ref = store.put_bytes(GOOD.encode())
    result = await ActivityEnvironment().run(
        activities.check_draft,
        CheckRequest(postmortem_id="pm", document_ref=ref, rules=make_rules(["Summary", "Action items"])),
    )
    assert result.ok and result.findings == [] and result.completeness == 1.0


async def test_check_draft_refuses_blame_and_missing_sections_with_findings(gates) -> None:
    activities, store = gates
    ref = store.put_bytes((GOOD + "\nDave broke production.\n").encode())
    result = await ActivityEnvironment().run(
        activities.check_draft,
        CheckRequest(postmortem_id="pm", document_ref=ref, rules=make_rules(["Summary", "Impact", "Action items"])),
    )
    assert not result.ok
    assert {(f.gate, f.rule) for f in result.findings} == {("sections", "missing-section"), ("language", "naming")}
    assert result.completeness == pytest.approx(5 / 6, abs=1e-4)
    # positioned as `afterword lint` positions it: the words "Dave broke", in the draft as submitted
    [blame] = [f for f in result.findings if f.gate == "language"]
    line = (GOOD + "\nDave broke production.\n").split("\n")[(blame.line or 0) - 1]
    assert line[(blame.column or 0) - 1 : (blame.end_column or 0) - 1] == "Dave broke"


async def test_warnings_alone_do_not_block_the_draft(gates) -> None:
    activities, store = gates
    ref = store.put_bytes((GOOD + "\nThe reviewer should have caught this.\n").encode())
    result = await ActivityEnvironment().run(
        activities.check_draft, CheckRequest(postmortem_id="pm", document_ref=ref, rules=make_rules(["Summary"]))
    )
    assert result.ok
    assert [(f.rule, f.severity) for f in result.findings] == [("counterfactual", "warning")]


async def test_redact_document_stores_the_redacted_version_and_reports_without_values(gates) -> None:
    activities, store = gates
    doc = documents()[0]
    ref = store.put_bytes(doc.text.encode())
    env = ActivityEnvironment()
    for audience in ("internal", "external"):
        report = await env.run(
            activities.redact_document,
            RedactRequest(postmortem_id="pm", document_ref=ref, audience=audience, rules=make_rules([])),
        )
        redacted = store.get_text(report.redacted_ref)
        assert store.verify(report.redacted_ref)
        assert report.audience == audience
        assert not [v for _, v in doc.remove[audience] if v in redacted]
        assert not [v for _, v in doc.remove[audience] if v in report.model_dump_json()]
        assert sum(report.counts.values()) == len(report.findings) > 0
        assert all(f.gate == "redaction" and f.line and f.column for f in report.findings)
    assert store.get_text(ref) == doc.text  # the original is untouched


async def test_missing_document_and_bad_policy_are_not_retried(gates) -> None:
    activities, store = gates
    env = ActivityEnvironment()
    with pytest.raises(ApplicationError) as missing:
        await env.run(
            activities.check_draft,
            CheckRequest(postmortem_id="pm", document_ref="a" * 64, rules=make_rules(["Summary"])),
        )
    assert missing.value.non_retryable and missing.value.type == "DocumentNotFound"
    ref = store.put_bytes(GOOD.encode())
    bad = make_rules([], {"redaction": {"patterns": [{"name": "x", "pattern": "("}]}})
    with pytest.raises(ApplicationError) as invalid:
        await env.run(
            activities.redact_document,
            RedactRequest(postmortem_id="pm", document_ref=ref, audience="internal", rules=bad),
        )
    assert invalid.value.non_retryable and invalid.value.type == "PolicyError"


async def test_huge_reports_are_cut_so_workflow_history_stays_small(gates) -> None:
    activities, store = gates
    text = "".join(f"host 10.0.{i // 250}.{i % 250 + 1} answered\n" for i in range(3000))
    ref = store.put_bytes(text.encode())
    report = await ActivityEnvironment().run(
        activities.redact_document,
        RedactRequest(postmortem_id="pm", document_ref=ref, audience="external", rules=make_rules([])),
    )
    assert report.counts == {"ipv4": 3000}
    assert len(report.findings) == 1001 and report.findings[-1].rule == "truncated"
    assert "10.0." not in store.get_text(report.redacted_ref)
