"""The blameless-language lint on the labelled sentences, and what authors see for each finding."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from afterword.gates.lint import lint, linter_for

from .corpus_data import blame, heldout_blame, heldout_neutral, heldout_policy, measure, neutral, policy

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
        ("The new hire dropped the index.", "vague-culprit"),
        ("The contractor dropped the index.", "team-blame"),
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
        "Mail oncall@example.com for access.",
        "This was not human error: the tool accepted the wrong target.",
        "The pods restarted, but they failed to pass the readiness check.",
    ],
)
def test_system_focused_timeline_and_quoted_text_is_not_flagged(text: str) -> None:
    assert lint(text + "\n", POLICY) == []


def test_the_held_out_set_meets_its_targets() -> None:
    """Written apart from the rules and never tuned on (tests/gates/heldout/): recall >= 0.97, at most 1% of
    neutral lines flagged, and the findings on the marked words."""
    linter = linter_for(heldout_policy())
    blaming, neutral_lines = heldout_blame(), heldout_neutral()
    assert len(blaming) >= 300 and len({line.kind for line in blaming}) >= 10 and len(neutral_lines) >= 500
    scores = measure(lambda text: [(h.start, h.end) for h in linter.hits(text)], blaming, neutral_lines)
    assert scores.recall >= 0.97, scores.missed
    assert scores.located_share >= 0.97
    assert scores.neutral_flagged <= 0.01, scores.false_positives


@pytest.mark.parametrize(
    "sentence",
    [
        "Lars skipped the canary step.",
        "Had Wei double-checked the flag, the deploy would have stopped.",
        "Yusuf ought to have paged the database team.",
        "The rollback came late because Ines ignored the page.",
        "Root cause: Kofi restarted the wrong cluster.",
        "@sam merged without a review.",
        "Emeka's typo broke the build.",
        "the contractor dropped the index",
        "someone on the payments team forgot the migration",
        "the failure was down to the operator",
        "Root cause: John ran DROP TABLE in production.",
        "Nkosana skipped the review.",  # a name the lexicon does not know, as the subject of an omission
    ],
)
def test_blame_without_a_roster_is_found(sentence: str) -> None:
    assert lint(sentence + "\n", {}), sentence


@pytest.mark.parametrize(
    "sentence",
    [
        "The scheduler failed to renew its lease.",
        "The build did not check the schema.",
        "The retry loop multiplied the load.",
        "14:02 The incident commander paged the database team.",
        "Cassandra compaction fell behind on two nodes.",
        "Victoria, the metrics store, dropped samples under load.",
        "Will the new limit hold?",
    ],
)
def test_neutral_sentences_from_the_issue_stay_unflagged(sentence: str) -> None:
    assert lint(sentence + "\n", {}) == []


def test_the_service_catalogue_and_not_people_say_which_names_are_systems() -> None:
    sentence = "Jane failed to start after the deploy.\n"
    assert [f.rule for f in lint(sentence, {})] == ["person-failure"]
    catalogue = {"evidence": {"logs": [{"name": "orders", "paths": ["/var/log/jane.log"], "services": ["jane"]}]}}
    assert lint(sentence, catalogue) == []
    declared = {"language": {"not_people": [{"name": "Jane", "reason": "the Jane orders service"}]}}
    assert lint(sentence, declared) == []
    assert lint("The jane-api pods restarted. Jane failed to start after the deploy.\n", {}) == []


def test_exceptions_drop_findings_for_their_rules_only() -> None:
    text = "The operator was careless, and the operator error log filled up.\n"
    assert {f.rule for f in lint(text, {})} == {"judgement", "human-error"}
    policy_ = {"language": {"exceptions": [{"phrase": "operator error log", "rules": ["human-error"], "reason": "a log"}]}}
    assert {f.rule for f in lint(text, policy_)} == {"judgement"}


def test_explain_says_which_rule_fired_and_why() -> None:
    [(finding, hit)] = linter_for({}).located("Root cause: Kofi restarted the wrong cluster.\n")
    assert finding.rule == "root-cause" and hit.language == "en"
    assert "root-cause label" in hit.why and "Kofi" in hit.why and "first name" in hit.why


@pytest.mark.parametrize(
    ("sentence", "rule"),
    [
        ("Pierre a oubli\u00e9 de prolonger le certificat.", "person-failure"),
        ("La cause racine est une erreur humaine.", "human-error"),
        ("L'ing\u00e9nieur d'astreinte aurait d\u00fb v\u00e9rifier la r\u00e9plication.", "counterfactual"),
        ("Cause racine : le stagiaire a supprim\u00e9 la table.", "root-cause"),
        ("Le d\u00e9ploiement a \u00e9t\u00e9 b\u00e2cl\u00e9.", "judgement"),
    ],
)
def test_french_rules_cover_the_common_patterns(sentence: str, rule: str) -> None:
    assert rule in {f.rule for f in lint(sentence + "\n", {})}


def test_french_system_sentences_and_a_french_timeline_are_not_flagged() -> None:
    text = (
        "# Postmortem\n\n## R\u00e9sum\u00e9\n\nLe planificateur n'a pas renouvel\u00e9 son bail.\n\n"
        "## Chronologie\n\n- Pierre a red\u00e9marr\u00e9 le primaire.\n"
    )
    assert lint(text, {}) == []


def test_a_french_phrase_of_the_organisation_runs_on_french_documents() -> None:
    policy_ = {"language": {"phrases": [{"phrase": "cowboy", "language": "fr", "reason": "juge la personne"}]}}
    assert [f.rule for f in lint("Un d\u00e9ploiement cowboy.\n", policy_)] == ["custom"]
    english_only = {"language": {"languages": ["en"], "phrases": policy_["language"]["phrases"]}}
    assert lint("Un d\u00e9ploiement cowboy.\n", english_only) == []


def test_finding_has_line_column_message_and_a_rewording() -> None:
    text = "# Summary\n\nThe deploy went out.\nThen   Dave broke production.\n"
    findings = lint(text, POLICY)
    assert len(findings) == 1
    finding = findings[0]
    assert (finding.gate, finding.rule, finding.severity) == ("language", "naming", "error")
    assert (finding.line, finding.column, finding.end_column) == (4, 8, 18)  # "Dave broke"
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


def test_bad_patterns_are_refused_when_the_policy_loads() -> None:
    with pytest.raises(ValidationError, match="not a valid regular expression"):
        lint("x", {"language": {"exceptions": [{"pattern": "(", "reason": "r"}]}})
    with pytest.raises(ValidationError, match="empty string"):
        lint("x", {"language": {"phrases": [{"pattern": "a*"}]}})
    with pytest.raises(ValidationError, match="reason"):
        lint("x", {"language": {"not_people": [{"name": "Jane", "reason": ""}]}})
