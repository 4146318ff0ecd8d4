"""Redaction on the labelled corpus, and the behaviour a reader of the redacted document relies on."""

from __future__ import annotations

import json
import re

import pytest
from pydantic import ValidationError

from afterword.activities.document_gates import redact_text
from afterword.gates.redaction import SECRET_CATEGORIES, card_issuer_ok, luhn_ok, redact

from .corpus_data import documents, lookalikes, personal, policy, secrets

POLICY = policy()


def test_corpus_covers_every_secret_category() -> None:
    assert {p.category for p in secrets()} == set(SECRET_CATEGORIES)


@pytest.mark.parametrize("audience", ["internal", "external"])
def test_every_planted_secret_is_removed_and_reported_under_its_category(audience: str) -> None:
    missed, miscategorised = [], []
    for planted in secrets():
        result = redact(planted.text, audience, POLICY)  # type: ignore[arg-type]
        if planted.value in result.text:
            missed.append(planted)
        elif planted.category not in result.counts:
            miscategorised.append((planted.category, result.counts))
    assert missed == []
    assert miscategorised == []


def test_personal_data_is_removed_for_external_readers_only() -> None:
    missed = []
    for planted in personal():
        external = redact(planted.text, "external", POLICY)
        if planted.value in external.text or planted.category not in external.counts:
            missed.append(planted)
        internal = redact(planted.text, "internal", POLICY)
        assert internal.text == planted.text, f"internal redaction changed personal data: {planted}"
    assert missed == []


@pytest.mark.parametrize("audience", ["internal", "external"])
def test_lookalikes_survive_untouched(audience: str) -> None:
    damaged = [p for p in lookalikes() if redact(p.text, audience, POLICY).text != p.text]  # type: ignore[arg-type]
    assert damaged == []


@pytest.mark.parametrize("doc", documents(), ids=lambda d: d.name)
def test_documents_lose_every_labelled_value_and_keep_identifiers(doc) -> None:
    for audience in ("internal", "external"):
        out, report = redact_text(doc.text, audience, POLICY)
        leaked = [(c, v) for c, v in doc.remove[audience] if v in out]
        assert leaked == [], audience
        assert [v for v in doc.keep if v not in out] == [], audience
        serialised = report.model_dump_json()
        assert not [v for _, v in doc.remove[audience] if v in serialised], "the report holds a value"
        assert sum(report.counts.values()) == len(report.findings)


def test_internal_keeps_names_hostnames_and_terms() -> None:
    text = "Alice Example failed over db-primary.payments.internal for Globex; mail alice@example.com."
    assert redact(text, "internal", POLICY).text == text


def test_roster_names_become_the_same_role_label_everywhere() -> None:
    text = (
        "Alice Example restarted the primary. Later Alice checked the lag; @alice owns the follow-up.\n"
        "| Owner | alice |\nBruno Silva coordinated. Chen Wei reviewed, with Ally watching.\n"
    )
    result = redact(text, "external", POLICY)
    assert "Alice" not in result.text and "alice" not in result.text and "Ally" not in result.text
    assert result.text.count("[SRE 1]") == 5
    assert "[Incident commander 1] coordinated" in result.text
    assert "[Reviewer 1] reviewed" in result.text
    assert result.counts["person"] == 7


def test_a_second_person_with_the_same_role_gets_the_next_number() -> None:
    pol = {
        "people": [
            {"name": "Ann Lee", "handle": "annl", "roles": ["sre"]},
            {"name": "Raj Patel", "handle": "rajp", "roles": ["sre"]},
        ]
    }
    out = redact("Raj Patel paged Ann Lee, then Raj Patel rolled back.", "external", pol).text
    assert out == "[SRE 1] paged [SRE 2], then [SRE 1] rolled back."


def test_report_gives_line_and_column_of_each_removal() -> None:
    text = "intro\n\n  token = ghp_" + "a1B2c3D4e5" * 3 + "a1B2c3\nmail: ana@example.org\n"
    result = redact(text, "external", POLICY)
    where = [(h.category, h.line, h.column) for h in result.hits]
    assert where == [("github-token", 3, 11), ("email", 4, 7)]


def test_columns_count_characters_not_bytes() -> None:
    result = redact("Café façade: 203.0.113.9\n", "external", POLICY)
    assert [(h.line, h.column) for h in result.hits] == [(1, 14)]


def test_custom_patterns_allowlist_terms_and_disabled_categories() -> None:
    pol = {
        "redaction": {
            "patterns": [{"name": "customer-id", "pattern": r"CUST-\d{6}", "audiences": ["external"]}],
            "allowlist": ["203.0.113.10"],
            "allowlist_patterns": [r"AKIA[A-Z0-9]{9}EXAMPLE"],
            "terms": ["Project Falcon"],
            "disabled": ["phone"],
        }
    }
    text = (
        "CUST-123456 saw errors from 203.0.113.10 and 203.0.113.11 (AKIAIOSFODNN7EXAMPLE) on project falcon; "
        "+1 415 555 0100"
    )
    external = redact(text, "external", pol).text
    assert external == (
        "[REDACTED:customer-id] saw errors from 203.0.113.10 and [REDACTED:ipv4] (AKIAIOSFODNN7EXAMPLE) on "
        "[REDACTED:term]; +1 415 555 0100"
    )
    assert redact(text, "internal", pol).text == text


def test_disabling_one_category_leaves_the_others_of_the_same_scan_on() -> None:
    """Addresses, cards and US phone numbers come from one digit-shape scan: turning addresses off must
    not turn the other two off with them."""
    text = "card 4111 1111 1111 1111 from 203.0.113.11, call (415) 555-0100 or 415-555-0100"
    counts = redact(text, "external", {"redaction": {"disabled": ["ipv4"]}}).counts
    assert counts.get("card") == 1 and counts.get("phone", 0) >= 1 and "ipv4" not in counts
    counts = redact(text, "external", {"redaction": {"disabled": ["ipv4", "card", "phone"]}}).counts
    assert not {"ipv4", "card", "phone"} & set(counts)


def test_placeholder_is_configurable() -> None:
    pol = {"redaction": {"placeholder": "<removed {category}>"}}
    out = redact("password: s3cr3t-value", "internal", pol).text
    assert out == "password: <removed password-assignment>"
    assert redact(out, "internal", pol).text == out


def test_policy_errors_are_refused_with_the_reason() -> None:
    with pytest.raises(ValidationError, match="not a valid regular expression"):
        redact("x", "internal", {"redaction": {"patterns": [{"name": "bad", "pattern": "("}]}})
    with pytest.raises(ValidationError, match="Extra inputs"):
        redact("x", "internal", {"redaction": {"audiences": {}}})


def test_private_key_block_is_removed_whole() -> None:
    body = "\n".join(["MIIEowIBAAKCAQEA7" + "x" * 47] * 3)
    text = f"before\n-----BEGIN RSA PRIVATE KEY-----\n{body}\n-----END RSA PRIVATE KEY-----\nafter\n"
    out = redact(text, "internal", POLICY).text
    assert out == "before\n[REDACTED:private-key]\nafter\n"


@pytest.mark.parametrize(
    ("digits", "expected"),
    [
        ("4111111111111111", True),
        ("4111111111111112", False),
        ("378282246310005", True),
        ("6011111111111117", True),
        ("1700000000000", False),
    ],
)
def test_cards_need_a_known_issuer_and_the_luhn_check(digits: str, expected: bool) -> None:
    assert (card_issuer_ok(digits) and luhn_ok(digits)) is expected


def test_prose_about_passwords_and_tokens_is_not_redacted() -> None:
    text = (
        "Password: reset by the vault job at 10:05.\nThe token bucket refilled; token_ttl = 3600.\n"
        "We rotated the secret: it now lives in the vault.\n"
    )
    assert redact(text, "internal", POLICY).text == text


def test_redacted_output_is_valid_utf8_markdown_with_the_same_structure() -> None:
    doc = documents()[0]
    out = redact(doc.text, "external", POLICY).text
    assert re.findall(r"(?m)^#+ .*$", out) == re.findall(r"(?m)^#+ .*$", doc.text)
    json.dumps(out)  # a plain str


def test_custom_patterns_work_on_text_with_accents() -> None:
    pol = {"redaction": {"patterns": [{"name": "customer-id", "pattern": r"CUST-\d{3}"}]}}
    result = redact("Café CUST-123 über CUST-456 né\n", "internal", pol)
    assert result.text == "Café [REDACTED:customer-id] über [REDACTED:customer-id] né\n"
    assert [(h.line, h.column) for h in result.hits] == [(1, 6), (1, 20)]


@pytest.mark.parametrize(
    "line, value",
    [
        ('api_key = "26aa728a53b8ae7c867b9aac337858e2"', "26aa728a53b8ae7c867b9aac337858e2"),  # lower-case hex
        ("client_secret: 884213004519872255", "884213004519872255"),  # digits only
        ("AUTH_TOKEN=qwertyuiopasdfghjklzxcvbnm", "qwertyuiopasdfghjklzxcvbnm"),  # letters only, long
        ('"x-api-key": "ab12cd34"', "ab12cd34"),  # short, but not a word
        ("--token 7f3a-11ee-9c21", "7f3a-11ee-9c21"),
    ],
)
def test_a_value_assigned_to_a_secret_name_is_redacted_whatever_its_alphabet(line: str, value: str) -> None:
    assert value not in redact(line, "internal", POLICY).text


@pytest.mark.parametrize(
    "line",
    [
        "secret: db-credentials",  # the name of a Kubernetes secret
        "Token: rotated by the vault job",
        "api_key: ${DATADOG_API_KEY}",
        "client_secret: 1234",
        'credentials: "see the vault entry"',
    ],
)
def test_words_names_and_short_numbers_after_a_secret_name_stay(line: str) -> None:
    assert redact(line, "internal", POLICY).text == line


def test_vendor_keys_are_reported_under_their_vendor() -> None:
    text = (
        "DD_API_KEY=9ecfcd6a6536fc62d5dcf3e1fd31f6bf\n"
        "SENTRY_DSN=https://5f1b2e0c9d8a7b6c5d4e3f2a1b0c9d8e@o4504.ingest.sentry.io/4505\n"
        "routing_key: 3b7e1f9c2d4a6b8e0f1a3c5e7d9b2f4a\n"
        "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\n"
    )
    counts = redact(text, "internal", POLICY).counts
    assert counts == {"datadog-key": 1, "sentry-dsn": 1, "pagerduty-key": 1, "sendgrid-key": 1}


ROSTER = {
    "people": [
        {"name": "Tom Baker", "handle": "tom", "roles": ["sre"]},
        {"name": "Chen Wei", "handle": "wei", "roles": ["reviewer"]},
        {"name": "Art Vandelay", "handle": "art", "roles": ["sre"]},
        {"name": "Max Power", "handle": "max", "roles": ["manager"]},
    ]
}


def test_short_handles_are_redacted_in_the_external_version_wherever_they_stand_as_a_word() -> None:
    text = (
        "| 10:02 | deploy api@v2.3 by tom | deploy log |\n"
        "| 10:05 | wei rolled back the canary | chat |\n\n"
        "| Type | Action | Owner | Due |\n|---|---|---|---|\n| prevent | cap retries | tom | 2026-12-01 |\n"
        "Later tom and wei wrote the runbook (Tom checked it).\n"
    )
    out = redact(text, "external", ROSTER).text
    assert [w for w in ("tom", "Tom", "wei") if re.search(rf"\b{w}\b", out)] == []
    assert "by [SRE 1]" in out and "| [Reviewer 1] rolled back" in out and "| [SRE 1] | 2026-12-01 |" in out
    assert redact(text, "internal", ROSTER).text == text  # names stay for internal readers


def test_a_handle_that_is_an_everyday_word_is_redacted_only_where_it_names_the_person() -> None:
    prose = "The art of caching: max connections 100, and the atom feed; art-dept and max_retries stay."
    assert redact(prose, "external", ROSTER).text == prose
    named = "| prevent | cap retries | art | 2026-12-01 |\nThanks to art for the fix. max deployed the patch.\n"
    out = redact(named, "external", ROSTER).text
    assert "art" not in out.replace("[SRE", "") and "max" not in out
    assert out == "| prevent | cap retries | [SRE 1] | 2026-12-01 |\nThanks to [SRE 1] for the fix. [Manager 1] deployed the patch.\n"
