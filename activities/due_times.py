"""Due times that need the organisation's calendar (business hours, holidays, timezone database)."""

from __future__ import annotations

from datetime import datetime

from temporalio import activity

from afterword.policies.calendar import add_business_time
from afterword.workflows.models import DueRequest


@activity.defn
async def compute_due(req: DueRequest) -> datetime:
    if req.rule.calendar is None:
        return req.anchor + req.rule.duration
    return add_business_time(req.anchor, req.rule.duration, req.rule.calendar)
