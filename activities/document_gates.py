"""The quality gates as activities: a draft's check (language + completeness) and its redaction.

The pure functions `check_text` and `redact_text` do the work (the CLI uses them too); the activity
class reads and writes documents in the content store and turns bad input into non-retryable errors.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from afterword.evidence.blobs import ContentStore, StoreError
from afterword.gates.completeness import check_with_policy
from afterword.gates.lint import linter_for
from afterword.gates.redaction import Redaction, redactor_for
from afterword.policies.gates_schema import Audience
from afterword.settings import Settings
from afterword.workflows.models import CheckRequest, CheckResult, Finding, RedactionReport, RedactRequest

# Results travel through workflow history (and the status query), so a pathological document must not
# produce megabytes of findings: past these limits the list is cut, with a finding that says so.
MAX_CHECK_FINDINGS = 300
MAX_REDACTION_FINDINGS = 1000


def _truncated(gate: str, rest: int) -> Finding:
    return Finding(
        gate=gate,
        rule="truncated",
        severity="warning",
        message=f"{rest} more finding(s) not listed; run the CLI on the document for all of them",
    )


def _cut(findings: list[Finding], limit: int | None, gate: str) -> list[Finding]:
    if limit is None or len(findings) <= limit:
        return findings
    return [*findings[:limit], _truncated(gate, len(findings) - limit)]


def check_text(
    text: str, required_sections: Sequence[str], policy: Mapping[str, Any] | None, limit: int | None = None
) -> CheckResult:
    """Blameless-language lint plus completeness; not ok when any finding is an error."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")  # CommonMark line endings, one numbering
    findings = linter_for(policy).lint(text)
    completeness = check_with_policy(text, required_sections, policy)
    findings = sorted([*completeness.findings, *findings], key=lambda f: (f.line or 0, f.column or 0))
    ok = not any(f.severity == "error" for f in findings)
    return CheckResult(ok=ok, findings=_cut(findings, limit, "language"), completeness=completeness.score)


def redaction_findings(result: Redaction, limit: int | None = None) -> list[Finding]:
    """One finding per removed value (the first `limit`): its category and place, never the value."""
    return [
        Finding(
            gate="redaction",
            rule=hit.category,
            severity="warning",
            message=f"{hit.category} removed",
            line=hit.line,
            column=hit.column,
        )
        for hit in result.located(limit)
    ]


def redact_text(
    text: str, audience: Audience, policy: Mapping[str, Any] | None, limit: int | None = None
) -> tuple[str, RedactionReport]:
    """The redacted text and its report (with an empty `redacted_ref`: the caller stores the text).
    `counts` is always complete; `limit` caps the per-removal findings."""
    result = redactor_for(policy, audience).redact(text)
    findings = redaction_findings(result, limit)
    if limit is not None and len(result.found) > limit:
        findings.append(_truncated("redaction", len(result.found) - limit))
    report = RedactionReport(audience=audience, redacted_ref="", counts=result.counts, findings=findings)
    return result.text, report


def _policy_problem(exc: ValidationError) -> ApplicationError:
    return ApplicationError(
        f"the policy's gate settings do not validate: {exc}", type="PolicyError", non_retryable=True
    )


class GateActivities:
    def __init__(self, settings: Settings) -> None:
        self.store = ContentStore(settings.store_dir)

    def _document(self, ref: str) -> str:
        try:
            return self.store.get_text(ref)
        except (StoreError, UnicodeDecodeError) as exc:
            raise ApplicationError(
                f"cannot read document {ref}: {exc}", type="DocumentNotFound", non_retryable=True
            ) from None

    @activity.defn
    async def check_draft(self, req: CheckRequest) -> CheckResult:
        return await asyncio.to_thread(self._check, req)

    def _check(self, req: CheckRequest) -> CheckResult:
        text = self._document(req.document_ref)
        try:
            return check_text(text, req.rules.required_sections, req.rules.policy, MAX_CHECK_FINDINGS)
        except ValidationError as exc:
            raise _policy_problem(exc) from None

    @activity.defn
    async def redact_document(self, req: RedactRequest) -> RedactionReport:
        return await asyncio.to_thread(self._redact, req)

    def _redact(self, req: RedactRequest) -> RedactionReport:
        text = self._document(req.document_ref)
        try:
            redacted, report = redact_text(text, req.audience, req.rules.policy, MAX_REDACTION_FINDINGS)
        except ValidationError as exc:
            raise _policy_problem(exc) from None
        ref = self.store.put_bytes(redacted.encode("utf-8"))
        return report.model_copy(update={"redacted_ref": ref})
