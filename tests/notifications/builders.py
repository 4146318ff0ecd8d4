"""Builders for the notification tests: a roster with addresses, rules, notices, a recorder of waits."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from afterword.notifications.delivery import Deliverer
from afterword.notifications.ledger import Ledger
from afterword.notifications.outbox_channel import OutboxChannel
from afterword.workflows.notices import (
    ChannelInfo,
    Notice,
    NoticeFacts,
    NoticeKind,
    NotificationRules,
    PersonAddresses,
    Route,
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Sleeps:
    """The delivery loop's waits, recorded instead of slept: the tests assert the backoff and Retry-After."""

    waits: list[float] = field(default_factory=list)

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


NOW = datetime(2025, 3, 4, 10, 0, tzinfo=UTC)  # a Tuesday, 11:00 in Berlin


def people() -> dict[str, PersonAddresses]:
    return {
        "alice": PersonAddresses(handle="alice", name="Alice Example", email="alice@example.com", slack="U0ALICE",
                                 teams="29:alice-aad-id", timezone="Europe/Berlin", team="payments",
                                 roles=["sre", "incident-commander"]),
        "bob": PersonAddresses(handle="bob", name="Bob Example", email="bob@example.com", team="payments",
                               roles=["manager"]),
        "carol": PersonAddresses(handle="carol", name="Carol Example", slack="U0CAROL", team="platform",
                                 roles=["reviewer"]),
    }


def rules(channels: dict[str, ChannelInfo], routes: list[Route], **extra: Any) -> NotificationRules:
    return NotificationRules(timezone="UTC", channels=channels, routes=routes, people=people(), **extra)


def facts(**changes: Any) -> NoticeFacts:
    base = NoticeFacts(postmortem_id="pm-acme-checkout-1a2b", org="acme", title="Checkout errors", severity="SEV2",
                       service="payments", team="payments", state="drafting", owner="alice", deadline="draft",
                       due_at=NOW)
    return base.model_copy(update=changes)


def notice(kind: NoticeKind, to: list[str], notification_rules: NotificationRules, *, key: str = "pm-acme-1/n1",
           at: datetime = NOW, **fact_changes: Any) -> Notice:
    return Notice(key=key, kind=kind, to=to, facts=facts(**fact_changes), at=at, rules=notification_rules,
                  thread="pm-acme-checkout-1a2b")


def deliverer(channels: dict[str, Any], ledger: Ledger, outbox: OutboxChannel, sleeps: Sleeps) -> Deliverer:
    return Deliverer(channels, ledger, outbox, sleep=sleeps)
