"""The workflows a worker runs."""

from __future__ import annotations

from afterword.workflows.action_item import ActionItemWorkflow
from afterword.workflows.postmortem import PostmortemWorkflow
from afterword.workflows.store_access import StoreAccessWorkflow

WORKFLOWS: list[type] = [PostmortemWorkflow, ActionItemWorkflow, StoreAccessWorkflow]
