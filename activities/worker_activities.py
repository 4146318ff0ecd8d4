"""Every activity a worker serves, bound to the process settings."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from afterword.activities.archive import ArchiveActivities
from afterword.activities.capture import EvidenceActivities
from afterword.activities.document_gates import GateActivities
from afterword.activities.drafting import DraftingActivities
from afterword.activities.due_times import compute_due
from afterword.activities.notify import NotifyActivities
from afterword.settings import Settings


def build_activities(settings: Settings) -> list[Callable[..., Any]]:
    evidence = EvidenceActivities(settings)
    gates = GateActivities(settings)
    return [
        evidence.preserve_evidence,
        evidence.build_timeline,
        DraftingActivities(settings).render_draft,
        gates.check_draft,
        gates.redact_document,
        ArchiveActivities(settings).publish_document,
        NotifyActivities(settings).notify,
        compute_due,
    ]
