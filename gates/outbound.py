"""Redaction of what afterword writes outside the redacted document and the evidence store.

The archive's commit messages, the draft working copy, notifications, log lines, search attributes and
the answers of the status queries carry text that alert senders and people wrote (titles, annotations,
notes, reasons). Each goes through the document's own engine (gates/redaction.py) for its audience before
it leaves: internal readers by default, so secrets go and names stay. Where the postmortem's policy is at
hand it is used (its own patterns and allowlist); elsewhere the shipped defaults, which remove every
built-in secret category.

Pure and deterministic: the workflows call it (passed through the sandbox) for their query answers and
search attributes.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel

from afterword.gates.redaction import Redactor, redactor_for
from afterword.policies.gates_schema import Audience

M = TypeVar("M", bound=BaseModel)


@functools.lru_cache(maxsize=8192)
def _redacted(redactor: Redactor, text: str) -> str:
    # status queries are polled: the same strings come back again and again
    return redactor.redact(text).text


def redact_text(text: str, policy: Mapping[str, Any] | None = None, audience: Audience = "internal") -> str:
    """`text` as `audience` may read it under `policy` (None: the shipped redaction defaults)."""
    if not text or text.isspace():
        return text
    return _redacted(redactor_for(policy, audience), text)


def _walk(value: Any, redactor: Redactor) -> Any:
    if isinstance(value, str):
        return _redacted(redactor, value) if value.strip() else value
    if isinstance(value, dict):
        return {key: _walk(item, redactor) for key, item in value.items()}
    if isinstance(value, list):
        return [_walk(item, redactor) for item in value]
    return value


def redact_model(model: M, policy: Mapping[str, Any] | None = None, audience: Audience = "internal") -> M:
    """A copy of `model` whose every text value (nested models, lists, label values) is redacted; numbers,
    times, flags and dictionary keys as they were."""
    redactor = redactor_for(policy, audience)
    data = _walk(model.model_dump(mode="python"), redactor)
    return type(model).model_validate(data)
