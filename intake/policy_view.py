"""The policy, as the intake uses it: which org, which severity, is a postmortem required, and why.

Loading a policy parses TOML and validates it; on the hot path that is too slow to repeat per alert,
so each org's policy is cached and only re-checked (file modification times) once per `recheck`
seconds. An edited policy that no longer validates is reported in the log and the last good version
keeps serving, so a typo never turns alerts away.
"""

from __future__ import annotations

import logging
import re
import time
from datetime import timedelta
from typing import Any

from afterword.intake.dispatch import Assessment
from afterword.intake.refusals import UnknownTarget
from afterword.intake.sources.common import Notification
from afterword.policies.durations import parse_wall_duration
from afterword.settings import Settings
from afterword.workflows.models import Incident, PostmortemRules, Requirement

log = logging.getLogger("afterword.intake")

ORG_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
DEFAULT_FLAP_WINDOW = "30m"


class PolicyUnavailable(Exception):
    """No valid policy could be loaded for the org (never loaded one successfully): retry later."""


def flap_window(policy_data: dict[str, Any]) -> timedelta:
    """`[intake] flap_window` of a policy (as `rules.policy` carries it); "30m" when absent."""
    from afterword.policies import parse_duration as policy_duration

    raw = (policy_data.get("intake") or {}).get("flap_window", DEFAULT_FLAP_WINDOW)
    try:
        span = policy_duration(str(raw))
    except ValueError:
        log.warning("policy intake.flap_window %r is not a duration; using %s", raw, DEFAULT_FLAP_WINDOW)
        return parse_wall_duration(DEFAULT_FLAP_WINDOW)
    # a flap is a wall-clock notion; business time counts here as elapsed time
    return span.wall + timedelta(days=span.business_days) + span.business_time


class OrgPolicies:
    """`PolicySource` over the policy engineer's `PolicyStore` (cached, re-checked every `recheck`
    seconds, last good version kept when an edit does not validate)."""

    def __init__(self, settings: Settings, recheck: float = 2.0) -> None:
        from afterword.policies.store import PolicyStore

        self.settings = settings
        self.recheck = recheck
        self.store = PolicyStore(settings.policy_dir, recheck=recheck)
        self._known_orgs: dict[str, float] = {}
        self._windows: dict[str, tuple[Any, timedelta]] = {}

    def check_org(self, org: str) -> None:
        """Raise UnknownTarget (404) unless `org` names the default org or a policy file."""
        if not ORG_NAME.match(org):
            raise UnknownTarget(f"org {org[:80]!r} is not a valid name (letters, digits, '-', '_', '.')")
        if org == self.settings.default_org:
            return
        now = time.monotonic()
        if now - self._known_orgs.get(org, -self.recheck) < self.recheck:  # a file stat per alert is too slow
            return
        if self.settings.policy_dir is None or not (self.settings.policy_dir / f"{org}.toml").is_file():
            where = self.settings.policy_dir or "(no policy directory configured)"
            raise UnknownTarget(f"unknown org {org!r}: no {org}.toml in {where}")
        self._known_orgs[org] = now

    def policy(self, org: str) -> tuple[Any, timedelta]:
        from afterword.policies import PolicyError

        try:
            policy = self.store.get(org)
        except PolicyError as exc:  # never loaded successfully: the operator must fix it; senders retry
            raise PolicyUnavailable(f"the policy for org {org!r} does not load: {exc}") from exc
        cached = self._windows.get(org)
        if cached is None or cached[0] is not policy:  # first use, or the store reloaded an edit
            cached = (policy, flap_window(policy.model_dump(mode="json")))
            self._windows[org] = cached
        return cached

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
