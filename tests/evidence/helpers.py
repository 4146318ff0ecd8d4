"""Shared builders for the evidence tests."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from afterword.evidence.blobs import ContentStore
from afterword.workflows.models import EvidenceRequest, Incident


def alertmanager_payload(
    started: datetime, expr_url: str = "http://127.0.0.1:9/graph?g0.expr=up+%3D%3D+0"
) -> dict[str, Any]:
    return {
        "version": "4",
        "groupKey": '{}:{alertname="HighErrors"}',
        "status": "firing",
        "receiver": "afterword",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "HighErrors", "job": "api"},
                "annotations": {"summary": "errors"},
                "startsAt": (started + timedelta(minutes=1)).isoformat(),
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": expr_url,
                "fingerprint": "f1a2b3",
            }
        ],
    }


def make_request(
    store: ContentStore,
    started: datetime,
    *,
    postmortem_id: str = "pm-acme-test",
    payload: dict[str, Any] | None = None,
    policy: dict[str, Any] | None = None,
    phase: str = "trigger",
    resolved: datetime | None = None,
) -> EvidenceRequest:
    ref = store.put_bytes(json.dumps(payload if payload is not None else alertmanager_payload(started)).encode())
    incident = Incident(
        org="acme",
        key="grp-1",
        source="alertmanager",
        title="API error rate high",
        severity="SEV2",
        service="api",
        started_at=started,
        resolved_at=resolved,
        payload_ref=ref,
    )
    return EvidenceRequest(
        postmortem_id=postmortem_id,
        incident=incident,
        phase=phase,  # type: ignore[arg-type]
        policy=policy if policy is not None else {"evidence": {"prometheus": None}},
    )
