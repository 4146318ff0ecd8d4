"""Stable workflow ids: the same incident always maps to the same postmortem (idempotent starts)."""

from __future__ import annotations

import hashlib
import re

_SAFE_KEY = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_ORG = re.compile(r"[^a-z0-9-]+")


def org_slug(org: str) -> str:
    slug = _ORG.sub("-", org.strip().lower()).strip("-")
    if not slug:
        raise ValueError(f"organisation name {org!r} has no letters or digits")
    return slug


def postmortem_id(org: str, key: str) -> str:
    """`pm-<org>-<key>`; keys that are long or carry odd characters (an Alertmanager groupKey) are hashed."""
    if not key:
        raise ValueError("an incident key is required to derive the postmortem id")
    readable = key if _SAFE_KEY.match(key) else hashlib.sha256(key.encode()).hexdigest()[:24]
    return f"pm-{org_slug(org)}-{readable}"


def action_item_id(postmortem_id: str, number: int) -> str:
    return f"{postmortem_id}.ai-{number}"
