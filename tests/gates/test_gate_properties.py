"""Properties of the draft checks on arbitrary Markdown: they never fail, and every finding points inside
the document."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from afterword.activities.document_gates import check_text

from .corpus_data import blame, neutral, policy

POLICY = policy()
pieces = st.one_of(
    st.sampled_from([s for _, s in blame()] + neutral()),
    st.sampled_from(
        [
            "# Summary",
            "## Impact",
            "## Action items",
            "| a | b |",
            "|---|---|",
            "> quoted",
            "```",
            "- owner: @alice; due: 2026-13-40",
            "<fill in>",
            "TBD",
            "",
            "    code",
            '"quoted',
        ]
    ),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=60),
)
documents = st.lists(pieces, max_size=25).map("\n".join)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_checks_never_fail_and_findings_point_inside_the_document(text: str) -> None:
    result = check_text(text, ["Summary", "Impact", "Action items"], POLICY)
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    for finding in result.findings:
        if finding.line is None:
            assert finding.rule == "missing-section"
            continue
        assert 1 <= finding.line <= len(lines)
        if finding.column is not None:
            assert 1 <= finding.column <= len(lines[finding.line - 1]) + 1
    assert 0.0 <= result.completeness <= 1.0
    assert result.ok == (not any(f.severity == "error" for f in result.findings))
