"""The [language] and [redaction] policy sections: strict, and fully defaulted."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from afterword.policies.gates_schema import LANGUAGE_RULES, LanguagePolicy, RedactionPolicy


def test_empty_tables_mean_the_shipped_behaviour() -> None:
    language = LanguagePolicy.model_validate({})
    assert language.enabled and all(language.setting(rule)[0] for rule in LANGUAGE_RULES)
    assert language.setting("naming") == (True, "error")
    assert language.setting("counterfactual") == (True, "warning")
    redaction = RedactionPolicy.model_validate({})
    internal, external = redaction.audience("internal"), redaction.audience("external")
    assert not (internal.personal_data or internal.names or internal.hostnames or internal.terms)
    assert external.personal_data and external.names and external.hostnames and external.terms


def test_an_audience_table_may_change_one_switch() -> None:
    redaction = RedactionPolicy.model_validate({"internal": {"names": True}, "external": {"terms": False}})
    assert redaction.audience("internal").names and not redaction.audience("internal").personal_data
    assert not redaction.audience("external").terms and redaction.audience("external").hostnames


@pytest.mark.parametrize(
    "section",
    [
        {"rulez": {}},
        {"rules": {"blame": {}}},
        {"rules": {"naming": {"severity": "fatal"}}},
        {"phrases": [{"pattern": "("}]},
        {"phrases": [{"severity": "error"}]},
    ],
)
def test_language_mistakes_are_refused(section: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        LanguagePolicy.model_validate(section)


@pytest.mark.parametrize(
    "section",
    [
        {"external": {"personal_data": "sometimes"}},
        {"patterns": [{"name": "Has Spaces", "pattern": "x"}]},
        {"patterns": [{"name": "empty", "pattern": "x*"}]},
        {"allowlist_patterns": ["["]},
        {"disabled": ["no-such-category"]},
        {"placeholder": "[gone]"},
        {"extra": 1},
    ],
)
def test_redaction_mistakes_are_refused(section: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        RedactionPolicy.model_validate(section)


def test_domains_are_normalised() -> None:
    assert RedactionPolicy.model_validate({"internal_domains": [".Corp.", " lan "]}).internal_domains == ["corp", "lan"]
