"""Policy as code: each organisation's postmortem rules, written in TOML and resolved per incident.

    policy = load_org_policy("acme", Path("policies"))   # <dir>/acme.toml, else the shipped default
    decision = decide(policy, incident)                  # required / optional / none, and why
    rules = rules_for(policy, incident)                  # the PostmortemRules a workflow records

Long-running processes use `PolicyStore(policy_dir).get(org)`: the last good version of each org's
policy, reloaded when its files change.
"""

from afterword.policies.calendar import add_business_time, is_working_time
from afterword.policies.durations import parse_duration
from afterword.policies.errors import PolicyError, Problem
from afterword.policies.loader import default_policy, for_team, load_org_policy, load_policy, load_text
from afterword.policies.resolve import (
    Decision,
    deadline_rules,
    decide,
    due_at,
    due_times,
    incident_severity,
    map_severity,
    policy_hash,
    rules_for,
)
from afterword.policies.schema import Policy
from afterword.policies.store import PolicyStore

__all__ = [
    "Decision",
    "Policy",
    "PolicyError",
    "PolicyStore",
    "Problem",
    "add_business_time",
    "deadline_rules",
    "decide",
    "default_policy",
    "due_at",
    "due_times",
    "for_team",
    "incident_severity",
    "is_working_time",
    "load_org_policy",
    "load_policy",
    "load_text",
    "map_severity",
    "parse_duration",
    "policy_hash",
    "rules_for",
]
