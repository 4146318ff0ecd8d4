"""Which sources run for an incident (per policy and service), and which extractor reads each kind."""

from __future__ import annotations

from collections.abc import Callable

from afterword.activities.adapters import alerts
from afterword.activities.adapters.base import Event, EvidenceSource
from afterword.activities.adapters.config import EvidencePolicy
from afterword.workflows.models import Incident

Extractor = Callable[[bytes], list[Event]]

EXTRACTORS: dict[str, Extractor] = {
    alerts.INCIDENT_KIND: alerts.incident_events,
    alerts.ALERT_KIND: alerts.alert_payload_events,
}


def select_sources(policy: EvidencePolicy, incident: Incident, payload: bytes | None) -> list[EvidenceSource]:
    """The sources the policy names for this incident's service, in a stable order."""
    return []
