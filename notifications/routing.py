"""Who hears of an event, and where: a pure function of the event and the policy's routing rules.

    recipients = the people the event concerns (the owner, the reviewers, the escalation chain ...)
               + every matching route's `to`  (handles, role:<role>, team:<team>, channel:<name>)
    channels   = for each person, the first matching route that names channels, in fallback order;
                 a channel the person has no address for is left out; no channel at all: the outbox
    digest     = the deciding route asks for one: the event joins the team's digest instead

The notify activity delivers this plan; `afterword policy explain ORG --notify EVENT` prints it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from afterword.workflows.notices import (
    DIGESTIBLE,
    ChannelInfo,
    NoticeKind,
    NotificationRules,
    PersonAddresses,
    Route,
)

OUTBOX = "outbox"


@dataclass(frozen=True)
class Hop:
    """One channel of a person's fallback order, with the address it uses there (None: the channel's own)."""

    channel: str
    address: str | None


@dataclass(frozen=True)
class Target:
    recipient: str  # a handle, or channel:<name>
    name: str
    zone: str
    hops: tuple[Hop, ...]
    route: str  # the route that decided the channels ("" : none did)
    business_hours: bool = False
    contacts: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Plan:
    targets: tuple[Target, ...]
    digest: str | None = None  # "daily" / "weekly": the event joins the team's digest
    digest_route: str = ""
    problems: tuple[str, ...] = ()  # recipients that resolve to nobody, people without an address


def route_matches(route: Route, kind: NoticeKind, severity: str, team: str | None) -> bool:
    if kind is NoticeKind.DIGEST:
        wanted = route.digest is not None
    elif kind is NoticeKind.TEST:
        wanted = True
    else:
        wanted = "*" in route.events or kind in route.events
    if not wanted:
        return False
    if route.severities and severity not in route.severities:
        return False
    return not (route.teams and (team is None or team not in route.teams))


def expand(ref: str, rules: NotificationRules) -> tuple[list[str], str | None]:
    """The handles (or one channel:<name>) a reference stands for, and a problem if it stands for nobody."""
    ref = ref.strip()
    if ref.startswith("channel:"):
        name = ref.removeprefix("channel:")
        if name not in rules.channels:
            return [], f"{ref}: no channel of that name under [notifications.channels]"
        return [ref], None
    if ref.startswith("role:"):
        role = ref.removeprefix("role:")
        people = sorted(h for h, p in rules.people.items() if role in p.roles)
        return people, None if people else f"{ref}: nobody in the roster has the role {role!r}"
    if ref.startswith("team:"):
        team = ref.removeprefix("team:")
        people = sorted(h for h, p in rules.people.items() if p.team == team)
        return people, None if people else f"{ref}: nobody in the roster is in team {team!r}"
    return [ref], None


def address_for(person: PersonAddresses | None, handle: str, channel: ChannelInfo) -> str | None:
    if channel.address == "email":
        return person.email if person else None
    if channel.address == "slack":
        return person.slack if person else None
    if channel.address == "teams":
        return person.teams if person else None
    return handle


def contacts(person: PersonAddresses | None) -> dict[str, str]:
    if person is None:
        return {}
    found = {"email": person.email, "slack": person.slack, "teams": person.teams}
    return {k: v for k, v in found.items() if v}


def plan(kind: NoticeKind, severity: str, team: str | None, to: list[str], rules: NotificationRules) -> Plan:
    routes = [r for r in rules.routes if route_matches(r, kind, severity, team)]
    deciding = next((r for r in routes if r.channels), None)
    problems: list[str] = []
    if deciding is not None and deciding.digest and kind in DIGESTIBLE:
        return Plan(targets=(), digest=deciding.digest, digest_route=deciding.name)
    wanted: list[str] = []
    for ref in [*to, *(ref for r in routes for ref in r.to)]:
        found, problem = expand(ref, rules)
        if problem:
            problems.append(problem)
        wanted += [h for h in found if h not in wanted]
    channel_names = list(deciding.channels) if deciding else [OUTBOX]
    targets: list[Target] = []
    for recipient in wanted:
        if recipient.startswith("channel:"):
            name = recipient.removeprefix("channel:")
            targets.append(Target(recipient, name, rules.timezone, (Hop(name, None),), deciding.name if deciding
                                  else "", deciding.business_hours if deciding else False))
            continue
        person = rules.people.get(recipient)
        if person is None and rules.people:
            problems.append(f"{recipient}: not in the roster")
        hops: list[Hop] = []
        for name in channel_names:
            info = rules.channels.get(name) or (ChannelInfo(name=OUTBOX, adapter="outbox", address="handle")
                                                if name == OUTBOX else None)
            if info is None:
                problems.append(f"route {deciding.name if deciding else '?'}: unknown channel {name!r}")
                continue
            address = address_for(person, recipient, info)
            if address is None:
                problems.append(f"{recipient}: no {info.address} address for channel {name}")
                continue
            hops.append(Hop(name, address))
        if not hops:
            hops.append(Hop(OUTBOX, recipient))
        targets.append(Target(
            recipient=recipient, name=person.name if person and person.name else recipient,
            zone=(person.timezone if person and person.timezone else rules.timezone), hops=tuple(hops),
            route=deciding.name if deciding else "", business_hours=deciding.business_hours if deciding else False,
            contacts=contacts(person),
        ))
    return Plan(targets=tuple(targets), problems=tuple(problems))
