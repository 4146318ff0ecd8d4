"""The interface every notification channel implements, and the small types it speaks.

A channel sends one rendered message to one address and says how it went: a receipt, or an error that
tells the delivery loop whether retrying can help (`Retryable`, optionally with the server's Retry-After)
or not (`Permanent`). Retries, the idempotency ledger and the fallback to the next channel live in
`delivery.py`, so every channel gets the same guarantees.
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Protocol, runtime_checkable

import certifi

from afterword.policies.integrations import SecretError, is_reference
from afterword.policies.notify_schema import ChannelSettings, check_endpoint
from afterword.workflows.notices import AddressKind, ChannelAdapter, NoticeKind


class ChannelConfigError(ValueError):
    """A channel that cannot be built; `key` is the setting at fault (relative to the channel's settings)."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.reason = message


def resolve_setting(value: str, key: str, resolve: Callable[[str], str]) -> str:
    """A setting's value: a reference is resolved (at worker start), anything else is taken as written."""
    if not is_reference(value):
        return value
    try:
        return resolve(value)
    except SecretError as err:
        raise ChannelConfigError(key, str(err)) from None


def endpoint_setting(value: str, key: str, resolve: Callable[[str], str]) -> str:
    """An endpoint setting resolved (it may be a reference: a webhook URL is often its own credential) and
    checked, or a ChannelConfigError naming `key`."""
    url = resolve_setting(value, key, resolve)
    try:
        return check_endpoint(url)
    except ValueError as err:
        raise ChannelConfigError(key, str(err)) from None


@dataclass(frozen=True)
class Link:
    label: str
    url: str


@dataclass(frozen=True)
class Rendered:
    """One message as every channel needs it: the same words in plain text, Markdown and HTML."""

    kind: NoticeKind
    subject: str
    text: str  # plain text: the e-mail's text part, every chat's fallback
    markdown: str  # the same body with untrusted values escaped: Slack, Teams and the HTML part start here
    html: str
    facts: tuple[tuple[str, str], ...] = ()  # ("Severity", "SEV2"), ("Due", "Mon 3 Mar 17:00 CET"), ...
    links: tuple[Link, ...] = ()
    command: str = ""  # the exact `afterword` command of the next step
    data: dict[str, object] = field(default_factory=dict)  # the structured event, for the signed webhook


@dataclass(frozen=True)
class Envelope:
    """Who a message goes to and the identities derived from its notice's idempotency key."""

    recipient: str  # a handle, or channel:<name>
    address: str | None  # the channel-specific address (e-mail, Slack member id, Teams id), None: the channel's own
    display_name: str
    delivery_id: str  # stable per (notice, recipient, channel): webhook delivery id, Message-ID local part
    thread_id: str  # stable per postmortem: e-mail References
    at: datetime
    contacts: dict[str, str] = field(default_factory=dict)  # the person's roster addresses, for bridges


@dataclass(frozen=True)
class Receipt:
    """What the far side answered: a message id, a timestamp, a queue id."""

    provider_id: str = ""


class ChannelError(Exception):
    """A send that did not succeed; the message says what happened and, where it helps, what to do."""


class Retryable(ChannelError):
    """Worth another try: a timeout, a 5xx, a 429 (with `retry_after` when the server gave one)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Permanent(ChannelError):
    """Retrying cannot help: a refused token, an unknown channel, a certificate that does not verify."""


@runtime_checkable
class Channel(Protocol):
    """A notification channel configured in the policy (`[notifications.channels.<name>]`)."""

    @property
    def name(self) -> str: ...

    @property
    def adapter(self) -> ChannelAdapter: ...

    @property
    def address_kind(self) -> AddressKind:
        """What a person needs in the roster to be reached here."""
        ...

    @property
    def limits(self) -> ChannelSettings:
        """Tries, backoff and timeouts for this channel."""
        ...

    async def send(self, message: Rendered, envelope: Envelope) -> Receipt:
        """Deliver once; raise Retryable or Permanent on failure."""
        ...

    async def close(self) -> None: ...


@functools.cache
def tls_context(ca_file: Path | None = None) -> ssl.SSLContext:
    """A verifying TLS context, built once per CA bundle (loading a bundle costs tens of milliseconds)."""
    return ssl.create_default_context(cafile=str(ca_file) if ca_file else certifi.where())


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
