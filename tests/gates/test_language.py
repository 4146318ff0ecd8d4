"""The blameless-language lint on the labelled sentences, and what authors see for each finding."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from afterword.gates.lint import lint

from .corpus_data import blame, neutral, policy

POLICY = policy()


def test_blame_recall_is_at_least_95_percent() -> None:
    sentences = blame()
    missed = [s for _, s in sentences if not lint(s + "\n", POLICY)]
    assert len(sentences) >= 100
    assert 1 - len(missed) / len(sentences) >= 0.95, missed


def test_at_most_2_percent_of_neutral_sentences_are_flagged() -> None:
    sentences = neutral()
    flagged = [(s, [f.rule for f in lint(s + "\n", POLICY)]) for s in sentences]
    flagged = [item for item in flagged if item[1]]
    assert len(sentences) >= 150
    assert len(flagged) / len(sentences) <= 0.02, flagged


def test_findings_name_the_labelled_rule_for_most_sentences() -> None:
    sentences = blame()
    agree = sum(1 for rule, s in sentences if rule in {f.rule for f in lint(s + "\n", POLICY)})
    assert agree / len(sentences) >= 0.85


@pytest.mark.parametrize(
    ("sentence", "rule"),
    [
        ("Alice Example restarted the primary.", "naming"),
        ("Dave broke production.", "naming"),
        ("It was Bob's mistake.", "naming"),
        ("Ask @alice about it.", "naming"),
        ("The change was careless.", "judgement"),
        ("The operator was negligent.", "judgement"),
        ("Root cause: human error.", "human-error"),
        ("The outage was due to operator error.", "human-error"),
        ("The on-call engineer should have checked the graph.", "counterfactual"),
        ("If Dave had run the tests, this would not have happened.", "counterfactual"),
        ("The on-call engineer failed to acknowledge the page.", "person-failure"),
        ("The DBA forgot to take a backup.", "person-failure"),
        ("The new hire dropped the index.", "team-blame"),
        ("It was the network team's fault.", "team-blame"),
        ("The engineers were paged, but they ignored the alert.", "person-failure"),
    ],
)
def test_issue_examples_are_flagged(sentence: str, rule: str) -> None:
    assert rule in {f.rule for f in lint(sentence + "\n", POLICY)}


@pytest.mark.parametrize(
    "text",
    [
        "The load balancer failed to drain connections.",
        "The alert did not fire.",
        "We should add a guard to the deploy job.",
        "09:02 the on-call engineer paged the database owner",
        "- 09:02 Alice Example paged the database owner",
        "| 09:05 | Alice Example restarted the pod | deploy log |",
        "> Alice Example: I forgot to drain the node, sorry",
        'The chat shows "the operator forgot to drain the node" at 09:10.',
        "The chat shows \u201cDave broke it\u201d at 09:11.",
        "Run `blame --careless` only in staging.",
        "```\nAlice forgot to set --careless=false\n```",
        "Mail alice.example@example.com for access.",
        "This was not human error: the tool accepted the wrong target.",
        "The pods restarted, but they failed to pass the readiness check.",
    ],
)
def test_system_focused_timeline_and_quoted_text_is_not_flagged(text: str) -> None:
    assert lint(text + "\n", POLICY) == []


def test_finding_has_line_column_message_and_a_rewording() -> None:
    text = "# Summary\n\nThe deploy went out.\nThen   Dave broke production.\n"
    findings = lint(text, POLICY)
    assert len(findings) == 1
    finding = findings[0]
    assert (finding.gate, finding.rule, finding.severity) == ("language", "naming", "error")
    assert (finding.line, finding.column) == (4, 8)
    assert "Dave" in finding.message
    assert finding.suggestion


def test_roster_name_suggests_the_persons_role() -> None:
    finding = lint("Bruno Silva coordinated the response.\n", POLICY)[0]
    assert finding.suggestion is not None and "incident commander" in finding.suggestion


def test_a_sentence_wrapped_over_two_lines_is_one_sentence() -> None:
    findings = lint("The on-call engineer\nfailed to acknowledge the page.\n", POLICY)
    assert [(f.rule, f.line) for f in findings] == [("person-failure", 2)]


def test_rules_can_be_switched_off_or_downgraded() -> None:
    text = "The reviewer should have caught this. The change was careless.\n"
    off = {**POLICY, "language": {"rules": {"judgement": {"enabled": False}}}}
    assert {f.rule for f in lint(text, off)} == {"counterfactual"}
    warn = {**POLICY, "language": {"rules": {"judgement": {"severity": "warning"}}}}
    assert {(f.rule, f.severity) for f in lint(text, warn)} == {("counterfactual", "warning"), ("judgement", "warning")}
    assert lint(text, {**POLICY, "language": {"enabled": False}}) == []


def test_allowlist_custom_phrases_and_skipped_sections() -> None:
    pol = {
        **POLICY,
        "language": {
            "allowlist": ["Lazy Loader"],
            "phrases": [{"phrase": "rogue deploy", "severity": "error", "suggestion": "an unreviewed deploy"}],
            "judgement_words": ["cowboy"],
            "skip_sections": ["Appendix: chat log"],
        },
    }
    text = (
        "The Lazy Loader cache expired.\nA rogue deploy started it.\nA cowboy change.\n\n"
        "## Appendix: chat log\n\nDave broke it, he was careless.\n"
    )
    findings = lint(text, pol)
    assert [(f.rule, f.severity, f.line) for f in findings] == [("custom", "error", 2), ("judgement", "error", 3)]
    assert findings[0].suggestion == "an unreviewed deploy"


def test_bad_language_policy_is_refused() -> None:
    with pytest.raises(ValidationError):
        lint("x", {"language": {"rules": {"no-such-rule": {}}}})
    with pytest.raises(ValidationError):
        lint("x", {"language": {"phrases": [{"severity": "error"}]}})


def test_linting_a_long_document_is_fast_enough_to_run_on_every_submit() -> None:
    import time

    text = "\n".join(neutral() + [s for _, s in blame()]) * 20  # ~ 2,900 sentences
    start = time.perf_counter()
    lint(text, POLICY)
    assert time.perf_counter() - start < 10  # generous: a sanity bound, not a benchmark
