"""Policy sections for the quality gates: `[language]` (blameless lint) and `[redaction]`.

Both models are strict (unknown keys are refused, so a typo in TOML is an error, not a silently
ignored setting) and fully defaulted, so an empty table — or no table at all — means "the shipped
behaviour". The policy schema embeds them as `Policy.language` and `Policy.redaction`; activities
read them back from `rules.policy["language"]` / `rules.policy["redaction"]` with `model_validate`.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Severity = Literal["error", "warning"]
Audience = Literal["internal", "external"]

LanguageRule = Literal[
    "naming",  # roster names/handles, @mentions, a name as the subject of a failure, "X's mistake"
    "judgement",  # careless, negligent, sloppy, lazy, incompetent, ...
    "human-error",  # "human error" / "operator error" given as a cause
    "counterfactual",  # "should have", "could have", "if X had ..."
    "person-failure",  # "failed to" / "forgot to" / "neglected to" with a person or role as subject
    "team-blame",  # blame assigned to a team or a role ("it was the network team's fault")
]
LANGUAGE_RULES: tuple[LanguageRule, ...] = (
    "naming",
    "judgement",
    "human-error",
    "counterfactual",
    "person-failure",
    "team-blame",
)
DEFAULT_LANGUAGE_SEVERITY: dict[LanguageRule, Severity] = {
    "naming": "error",
    "judgement": "error",
    "human-error": "error",
    "counterfactual": "warning",
    "person-failure": "error",
    "team-blame": "error",
}

SecretCategory = Literal[
    "aws-access-key",
    "aws-secret-key",
    "github-token",
    "slack-token",
    "slack-webhook",
    "stripe-key",
    "google-api-key",
    "npm-token",
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


class RuleSetting(_Strict):
    enabled: bool = True
    severity: Severity | None = Field(default=None, description="unset: the rule's shipped severity")


class CustomPhrase(_Strict):
    """An organisation's own wording to flag: a literal phrase (case-insensitive) or a regex."""

    phrase: str | None = None
    pattern: str | None = None
    severity: Severity = "warning"
    message: str = "wording the organisation asks authors to avoid"
    suggestion: str | None = None

    @field_validator("pattern")
    @classmethod
    def _pattern_compiles(cls, value: str | None) -> str | None:
        return None if value is None else _compiles(value)

    def regex(self) -> str:
        if self.pattern:
            return self.pattern
        if self.phrase:
            return r"\b" + re.escape(self.phrase) + r"\b"
        raise ValueError("a custom phrase needs `phrase` or `pattern`")


class LanguagePolicy(_Strict):
    """`[language]`: the blameless-language lint."""

    enabled: bool = True
    rules: dict[LanguageRule, RuleSetting] = Field(
        default_factory=dict, description="per rule: enabled, severity (error blocks, warning advises)"
    )
    judgement_words: list[str] = Field(default_factory=list, description="added to the shipped list")
    phrases: list[CustomPhrase] = Field(default_factory=list)
    allowlist: list[str] = Field(
        default_factory=list, description="phrases never flagged (case-insensitive), e.g. a product name"
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
