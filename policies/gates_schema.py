"""Policy sections for the quality gates: `[language]` (blameless lint) and `[redaction]`.

Both models are strict (unknown keys are refused, so a typo in TOML is an error, not a silently
ignored setting) and fully defaulted, so an empty table — or no table at all — means "the shipped
behaviour". The policy schema embeds them as `Policy.language` and `Policy.redaction`; activities
read them back from `rules.policy["language"]` / `rules.policy["redaction"]` with `model_validate`.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Severity = Literal["error", "warning"]
Audience = Literal["internal", "external"]

LanguageRule = Literal[
    "naming",  # a person named in prose (first names, full names, @handles, roster), a named person as a cause
    "judgement",  # careless, negligent, sloppy, lazy, incompetent, ...
    "human-error",  # "human error" / "operator error" given as a cause
    "counterfactual",  # "should have", "had X ...", "if X had ..." about a person
    "person-failure",  # a failure or omission verb ("forgot", "did not check") with a person or role as subject
    "team-blame",  # a role or team as the cause, or blame assigned to one ("down to the operator")
    "root-cause",  # a person or role given as the root cause ("Root cause: the contractor ...")
    "vague-culprit",  # "whoever", "someone", "the intern", "the new hire" as the one who did it
]
LANGUAGE_RULES: tuple[LanguageRule, ...] = (
    "naming",
    "judgement",
    "human-error",
    "counterfactual",
    "person-failure",
    "team-blame",
    "root-cause",
    "vague-culprit",
)
DEFAULT_LANGUAGE_SEVERITY: dict[LanguageRule, Severity] = {
    "naming": "error",
    "judgement": "error",
    "human-error": "error",
    "counterfactual": "warning",
    "person-failure": "error",
    "team-blame": "error",
    "root-cause": "error",
    "vague-culprit": "error",
}
LanguageCode = Literal["en", "fr"]
LANGUAGE_CODES: tuple[LanguageCode, ...] = ("en", "fr")

SecretCategory = Literal[
    "aws-access-key",
    "aws-secret-key",
    "github-token",
    "slack-token",
    "slack-webhook",
    "stripe-key",
    "google-api-key",
    "npm-token",
    "datadog-key",
    "newrelic-key",
    "sentry-dsn",
    "sentry-token",
    "pagerduty-key",
    "pypi-token",
    "gitlab-token",
    "twilio-key",
    "sendgrid-key",
    "jwt",
    "private-key",
    "url-password",
    "password-assignment",
    "bearer-token",
    "secret-assignment",
]
PersonalCategory = Literal["email", "ipv4", "ipv6", "phone", "card", "person"]
ExternalCategory = Literal["hostname", "term"]
Category = SecretCategory | PersonalCategory | ExternalCategory


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _compiles(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression ({exc}): {pattern!r}") from None
    return pattern


def _compiles_nonempty(pattern: str) -> str:
    """A language pattern must compile (as the lint runs it: case-insensitive) and match some text: one that
    matches the empty string would flag, or except, every position of every document."""
    _compiles(pattern)
    if re.compile(pattern, re.IGNORECASE).fullmatch(""):
        raise ValueError(f"pattern matches the empty string: {pattern!r}")
    return pattern


def _phrase_regex(phrase: str | None, pattern: str | None) -> str:
    if pattern:
        return pattern
    if phrase:
        # a literal: whole words, any spacing between them
        return r"(?<!\w)" + r"\s+".join(re.escape(w) for w in phrase.split()) + r"(?!\w)"
    raise ValueError("needs `phrase` or `pattern`")


class RuleSetting(_Strict):
    enabled: bool = True
    severity: Severity | None = Field(default=None, description="unset: the rule's shipped severity")


class CustomPhrase(_Strict):
    """`[[language.phrases]]`: an organisation's own wording to flag: a literal phrase (case-insensitive,
    whole words) or a regex, with the reason authors are asked to avoid it."""

    phrase: str | None = Field(default=None, min_length=1)
    pattern: str | None = None
    language: LanguageCode | None = Field(default=None, description="unset: documents in any language")
    severity: Severity = "warning"
    message: str = Field(default="wording the organisation asks authors to avoid", min_length=1)
    reason: str = Field(default="", description="why it is flagged; shown by `afterword lint --explain`")
    suggestion: str | None = None

    @field_validator("pattern")
    @classmethod
    def _pattern_compiles(cls, value: str | None) -> str | None:
        return None if value is None else _compiles_nonempty(value)

    def regex(self) -> str:
        return _phrase_regex(self.phrase, self.pattern)


class NotPerson(_Strict):
    """`[[language.not_people]]`: a word that reads like a person's name but is not one here (a service
    called "Jane", a product called "Hermes"); never taken for a person."""

    name: str = Field(min_length=1, pattern=r"^[^\s].*$")
    reason: str = Field(min_length=1, description="what it is, e.g. \"the Jane orders service\"")


class LanguageException(_Strict):
    """`[[language.exceptions]]`: wording the lint must accept, with the reason. A finding whose words overlap
    a match is dropped (only for the listed `rules`, or for every rule when none is listed)."""

    phrase: str | None = Field(default=None, min_length=1)
    pattern: str | None = None
    rules: list[LanguageRule | Literal["custom"]] = Field(default_factory=list, description="empty: every rule")
    reason: str = Field(min_length=1, description="why this wording is acceptable here")

    @field_validator("pattern")
    @classmethod
    def _pattern_compiles(cls, value: str | None) -> str | None:
        return None if value is None else _compiles_nonempty(value)

    @model_validator(mode="after")
    def _has_text(self) -> LanguageException:
        if not (self.phrase or self.pattern):
            raise ValueError("each [[language.exceptions]] entry needs `phrase` or `pattern`")
        return self

    def regex(self) -> str:
        return _phrase_regex(self.phrase, self.pattern)


class LanguagePolicy(_Strict):
    """`[language]`: the blameless-language lint."""

    enabled: bool = True
    languages: list[LanguageCode] = Field(
        default_factory=lambda: list(LANGUAGE_CODES), description="the rule sets run on every document"
    )
    rules: dict[LanguageRule, RuleSetting] = Field(
        default_factory=dict, description="per rule: enabled, severity (error blocks, warning advises)"
    )
    judgement_words: list[str] = Field(default_factory=list, description="added to the shipped list")
    phrases: list[CustomPhrase] = Field(default_factory=list, description="the organisation's own wording to flag")
    not_people: list[NotPerson] = Field(
        default_factory=list, description="names that are not people here (services, products), each with a reason"
    )
    exceptions: list[LanguageException] = Field(
        default_factory=list, description="wording never flagged (per rule or all), each with a reason"
    )
    allowlist: list[str] = Field(
        default_factory=list, description="phrases never read by the rules (case-insensitive), e.g. a product name"
    )
    skip_sections: list[str] = Field(
        default_factory=list, description="section headings whose body is not linted (e.g. an appendix)"
    )

    @field_validator("phrases")
    @classmethod
    def _phrase_has_text(cls, value: list[CustomPhrase]) -> list[CustomPhrase]:
        for item in value:
            if not (item.phrase or item.pattern):
                raise ValueError("each [[language.phrases]] entry needs `phrase` or `pattern`")
        return value

    def setting(self, rule: LanguageRule) -> tuple[bool, Severity]:
        chosen = self.rules.get(rule, RuleSetting())
        return chosen.enabled, chosen.severity or DEFAULT_LANGUAGE_SEVERITY[rule]


_BOTH: tuple[Audience, ...] = ("internal", "external")


class CustomPattern(_Strict):
    """`[[redaction.patterns]]`: an organisation's own secret or sensitive format."""

    name: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9-]*$")
    pattern: str
    audiences: list[Audience] = Field(default_factory=lambda: list(_BOTH))

    @field_validator("pattern")
    @classmethod
    def _pattern_compiles(cls, value: str) -> str:
        compiled = re.compile(_compiles(value))
        if compiled.match(""):
            raise ValueError(f"pattern matches the empty string: {value!r}")
        return value


class AudienceSettings(_Strict):
    """What one audience's redaction removes, beyond secrets (always removed). Unset switches take the
    audience's default: all off for internal, all on for external."""

    personal_data: bool | None = Field(default=None, description="e-mail, IP addresses, phone and card numbers")
    names: bool | None = Field(default=None, description="roster names and handles replaced by role labels")
    hostnames: bool | None = Field(default=None, description="internal hostnames (see internal_domains)")
    terms: bool | None = Field(default=None, description="the policy's listed terms")

    def filled(self, default: bool) -> AudienceSettings:
        return AudienceSettings(
            personal_data=default if self.personal_data is None else self.personal_data,
            names=default if self.names is None else self.names,
            hostnames=default if self.hostnames is None else self.hostnames,
            terms=default if self.terms is None else self.terms,
        )


class RedactionPolicy(_Strict):
    """`[redaction]`: what the internal and the external version of a postmortem leave out."""

    internal: AudienceSettings = Field(default_factory=AudienceSettings)
    external: AudienceSettings = Field(default_factory=AudienceSettings)
    terms: list[str] = Field(
        default_factory=list, description="listed terms (customers, codenames) removed for external"
    )
    internal_domains: list[str] = Field(
        default_factory=lambda: ["internal", "local", "corp", "lan", "intranet", "cluster.local"],
        description="host names ending in one of these domains are internal",
    )
    patterns: list[CustomPattern] = Field(default_factory=list)
    allowlist: list[str] = Field(default_factory=list, description="exact values never redacted")
    allowlist_patterns: list[str] = Field(default_factory=list, description="regexes never redacted")
    disabled: list[Category] = Field(
        default_factory=list, description="built-in categories to switch off (use sparingly)"
    )
    placeholder: str = Field(default="[REDACTED:{category}]", description="{category} is filled in")

    @field_validator("allowlist_patterns")
    @classmethod
    def _allow_compiles(cls, value: list[str]) -> list[str]:
        return [_compiles(item) for item in value]

    @field_validator("internal_domains")
    @classmethod
    def _domains_clean(cls, value: list[str]) -> list[str]:
        return [item.strip().strip(".").lower() for item in value if item.strip().strip(".")]

    @field_validator("placeholder")
    @classmethod
    def _placeholder_has_category(cls, value: str) -> str:
        if "{category}" not in value:
            raise ValueError("placeholder must contain {category}")
        return value

    def audience(self, name: Audience) -> AudienceSettings:
        """The audience's switches with its defaults filled in."""
        return self.internal.filled(False) if name == "internal" else self.external.filled(True)
