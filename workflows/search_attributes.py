"""The search attributes afterword keeps on every postmortem, so `afterword list` and the Web UI can filter."""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

STATE = SearchAttributeKey.for_keyword("AfterwordState")
SEVERITY = SearchAttributeKey.for_keyword("AfterwordSeverity")
SERVICE = SearchAttributeKey.for_keyword("AfterwordService")
ORG = SearchAttributeKey.for_keyword("AfterwordOrg")
OWNER = SearchAttributeKey.for_keyword("AfterwordOwner")
OVERDUE = SearchAttributeKey.for_bool("AfterwordOverdue")
KIND = SearchAttributeKey.for_keyword("AfterwordKind")  # "postmortem" | "action_item" | "store_access"

ALL = (STATE, SEVERITY, SERVICE, ORG, OWNER, OVERDUE, KIND)
