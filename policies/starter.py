"""`afterword policy init`: a commented starter policy that validates as written."""

from __future__ import annotations

STARTER = '''\
# Postmortem policy for {org}. Check it with `afterword policy check {org}.toml`,
# see the effective result with `afterword policy show {org}`. Reference: docs/policy-reference.md.
#
# Everything not written here comes from afterword's shipped default. Merge rules: tables merge key by key,
# lists (and [[people]]) replace the inherited list as a whole.
extends = "default"
org = "{org}"
name = "{org}"
timezone = "{timezone}"                 # IANA name: business time is counted here

[calendar]
workdays = ["mon", "tue", "wed", "thu", "fri"]
start = 09:00:00
end = 17:00:00
holidays = []                          # e.g. [2026-12-25, 2026-12-26]

# Which severities need a postmortem: "required", "optional" or "none".
[severities.requirement]
SEV1 = "required"
SEV2 = "required"
SEV3 = "optional"

# Map your alert labels onto severities (values match case-insensitively).
[severities.map.priority]
P1 = "SEV1"
P2 = "SEV2"

# A postmortem is required, whatever the severity, when:
[triggers]
slo_breached = true                    # label slo_breached="true"
error_budget_burn = 2.0                # label error_budget_burn >= 2 (0 turns it off)
downtime = "30m"                       # label downtime_minutes above 30
revenue_impact = 10000                 # label revenue_impact above 10000 (0 turns it off)

# Deadlines: "72h", "5d", "2w", or business time such as "3 business days".
[deadlines.draft]
after = "resolved"
until = "draft_submitted"
within = "72h"
by_severity = {{ SEV1 = "48h" }}

[review]
quorum = 1                             # approvals needed; per severity below
allow_self_approval = false

[review.by_severity.SEV1]
quorum = 2

[waivers]
roles = ["manager"]
min_reason_length = 20

# The roster: who reviews, signs off and hears of escalations.
[[people]]
name = "Ada Lovelace"
handle = "ada"
team = "sre"
roles = ["sre", "reviewer", "incident-commander"]

[[people]]
name = "Grace Hopper"
handle = "grace"
team = "sre"
roles = ["reviewer", "manager"]

[[people]]
name = "Radia Perlman"
handle = "radia"
team = "security"
roles = ["security", "reviewer", "cirt"]

[escalation]
chain = ["role:incident-commander", "role:manager"]

# Integrations: secrets only as "env:NAME" or "file:/path".
[integrations.notifications]
adapter = "outbox"
'''


def starter(org: str = "example", timezone: str = "UTC") -> str:
    return STARTER.format(org=org, timezone=timezone)
