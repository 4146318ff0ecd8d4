"""Every activity a worker serves, bound to the process settings."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from afterword.activities.archive import ArchiveActivities
from afterword.activities.capture import EvidenceActivities
from afterword.activities.document_gates import GateActivities
from afterword.activities.drafting import DraftingActivities
from afterword.activities.due_times import compute_due
from afterword.activities.fix_validation import ValidationActivities, policy_targets
from afterword.activities.notify import NotifyActivities
from afterword.activities.store_activities import StoreActivities
from afterword.evidence.blobs import ContentStore
from afterword.settings import Settings


def build_activities(settings: Settings) -> list[Callable[..., Any]]:
    evidence = EvidenceActivities(settings)
    gates = GateActivities(settings)
    stores = StoreActivities(settings)
    checks = ValidationActivities(ContentStore(settings.store_dir), settings.evidence_dir,
                                  policy_targets(settings.policy_dir))
    return [
        checks.sample_check,
        checks.examine_check,
        checks.record_check_evidence,
        evidence.preserve_evidence,
        evidence.build_timeline,
        DraftingActivities(settings).render_draft,
        gates.check_draft,
        gates.redact_document,
        ArchiveActivities(settings).publish_document,
        NotifyActivities(settings).notify,
        compute_due,
        stores.read_chunk,
        stores.list_evidence,
        stores.show_evidence,
        stores.evidence_timeline,
        stores.verify_evidence,
        stores.hold_evidence,
        stores.purge_evidence,
        stores.plan_export,
        stores.record_export,
        stores.store_document,
        stores.attach_evidence,
    ]
