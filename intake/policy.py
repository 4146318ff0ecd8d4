"""The policy, as the intake uses it: which org, which severity, is a postmortem required, and why.

Loading a policy parses TOML and validates it; on the hot path that is too slow to repeat per alert,
so each org's policy is cached and only re-checked (file modification times) once per `recheck`
seconds. An edited policy that no longer validates is reported in the log and the last good version
keeps serving, so a typo never turns alerts away.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from afterword.intake.dispatch import Assessment
from afterword.intake.durations import parse_duration
from afterword.intake.errors import UnknownTarget
from afterword.intake.sources.base import Notification
from afterword.settings import Settings
from afterword.workflows.models import Incident, PostmortemRules, Requirement

log = logging.getLogger("afterword.intake")

ORG_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
DEFAULT_FLAP_WINDOW = "30m"


class PolicyUnavailable(Exception):
    """No valid policy could be loaded for the org (never loaded one successfully): retry later."""


@dataclass
class _Cached:
    policy: Any
    signature: tuple[float, ...]
    checked: float
    flap_window: timedelta


def flap_window(policy_data: dict[str, Any]) -> timedelta:
    raw = (policy_data.get("intake") or {}).get("flap_window", DEFAULT_FLAP_WINDOW)
    try:
        return parse_duration(raw)
    except ValueError:
        log.warning("policy intake.flap_window %r is not a duration; using %s", raw, DEFAULT_FLAP_WINDOW)
        return parse_duration(DEFAULT_FLAP_WINDOW)


class OrgPolicies:
    """`PolicySource` over `afterword.policies`: cached per org, last good version kept."""

    def __init__(self, settings: Settings, recheck: float = 2.0) -> None:
        self.settings = settings
        self.recheck = recheck
        self._cache: dict[str, _Cached] = {}
        self._lock = threading.Lock()

    # -------------------------------------------------------------- orgs and files

    def check_org(self, org: str) -> None:
        """Raise UnknownTarget (404) unless `org` names the default org or a policy file."""
        if not ORG_NAME.match(org):
            raise UnknownTarget(f"org {org[:80]!r} is not a valid name (letters, digits, '-', '_', '.')")
        if org == self.settings.default_org or org in self._cache:
            return
        if self.settings.policy_dir is None or not (self.settings.policy_dir / f"{org}.toml").is_file():
            where = self.settings.policy_dir or "(no policy directory configured)"
            raise UnknownTarget(f"unknown org {org!r}: no {org}.toml in {where}")

    def _signature(self, org: str) -> tuple[float, ...]:
        if self.settings.policy_dir is None:
            return ()
        stamps: list[float] = []
        for path in (self.settings.policy_dir / f"{org}.toml", self.settings.policy_dir):
            try:
                stamps.append(path.stat().st_mtime)
            except OSError:
                stamps.append(-1.0)
        return tuple(stamps)

    def policy(self, org: str) -> tuple[Any, timedelta]:
        now = time.monotonic()
        cached = self._cache.get(org)
        if cached is not None and now - cached.checked < self.recheck:
            return cached.policy, cached.flap_window
        with self._lock:
            signature = self._signature(org)
            if cached is not None and cached.signature == signature:
                cached.checked = now
                return cached.policy, cached.flap_window
            try:
                policy = self._load(org)
            except Exception as exc:  # a PolicyError with file:line, or an unreadable file
                if cached is None:
                    raise PolicyUnavailable(f"policy for org {org!r} does not load: {exc}") from exc
                log.error("policy for org %r no longer loads, keeping the last good one: %s", org, exc)
                cached.checked = now
                cached.signature = signature
                return cached.policy, cached.flap_window
            data = policy.model_dump(mode="json")
            entry = _Cached(policy, signature, now, flap_window(data))
            self._cache[org] = entry
            return entry.policy, entry.flap_window

    def _load(self, org: str) -> Any:
        from afterword.policies import load_org_policy

        return load_org_policy(org, self.settings.policy_dir)

    # -------------------------------------------------------------- PolicySource

    def assess(self, org: str, notification: Notification, payload_ref: str | None) -> Assessment:
        from afterword.policies import decide, map_severity, rules_for

        policy, window = self.policy(org)
        severity = map_severity(policy, notification.labels)
        incident = notification.incident(org, severity, payload_ref)
        decision = decide(policy, incident)
        if decision.severity and decision.severity != incident.severity:
            incident = incident.model_copy(update={"severity": decision.severity})

        def rules(for_incident: Incident) -> PostmortemRules:
            made: PostmortemRules = rules_for(policy, for_incident)
            return made

        return Assessment(
            incident=incident,
            requirement=Requirement(decision.requirement),
            reasons=list(decision.reasons),
            flap_window=window,
            rules=rules,
        )


__all__ = ["OrgPolicies", "PolicyUnavailable", "flap_window"]
