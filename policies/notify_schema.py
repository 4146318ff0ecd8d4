"""The `[notifications]` section: the channels (each an adapter with typed settings), the routes, quiet
hours, digests and repeated escalation. Secrets are references (`env:NAME`, `file:/path`), resolved when the
worker builds the channels, never here.

    [notifications.channels.email]
    adapter = "smtp"
    [notifications.channels.email.settings]
    host = "smtp.example.com"
    username = "postmortems"
    password = "env:SMTP_PASSWORD"
    from_address = "postmortems@example.com"

    [[notifications.routes]]
    name = "everyone"
    channels = ["slack", "email"]

A leaf of the policy package: the channel modules (afterword.notifications) import their settings from here.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from afterword.notifications.mail_address import check_address
from afterword.policies.durations import parse_wall_duration
from afterword.policies.integrations import is_reference
from afterword.settings import is_loopback
from afterword.workflows.notices import AddressKind, DigestRules, PersonAddresses, QuietHours, Route

SLACK_API = "https://slack.com/api/"
Security = Literal["starttls", "tls", "none"]


def _secret_reference(value: str) -> str:
    if not is_reference(value):
        raise ValueError('write a secret as a reference, "env:NAME" or "file:/path", never the value itself')
    return value


SecretRef = Annotated[str, AfterValidator(_secret_reference)]
"""Where a secret is (resolved when the worker builds the channel), never the secret itself."""


def check_endpoint(url: str) -> str:
    """An endpoint afterword may post to: HTTPS, or plain HTTP only to this machine's loopback."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{_shown(url)} is not an http(s) URL with a host")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ValueError(f"{_shown(url)} is plain HTTP outside loopback: use https://")
    return url


def _shown(url: str) -> str:
    # webhook URLs carry their credential in the path or query: show where, never what
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}/…" if parts.scheme else "the value"


def _wall(value: object) -> timedelta:
    if not isinstance(value, str | int | float | timedelta):
        raise ValueError(f"not a duration: {value!r}")
    return parse_wall_duration(value)


WallTime = Annotated[timedelta, BeforeValidator(_wall)]



class ChannelSettings(BaseModel):
    """A channel's own keys, strictly (an unknown key is an error that names it), and the delivery limits
    every channel has: how often to try, how long to wait between tries and for the far side."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    attempts: int = Field(default=4, ge=1, le=10, description="tries before the channel counts as failed")
    backoff: WallTime = Field(default=timedelta(seconds=1), description="wait before the second try; doubles")
    max_wait: WallTime = Field(
        default=timedelta(minutes=2),
        description="longest wait between tries, a server's Retry-After included; a longer Retry-After fails "
        "over to the next channel at once",
    )
    timeout: WallTime = Field(default=timedelta(seconds=15), description="for one request to answer")
    ca_file: Path | None = Field(
        default=None,
        description="PEM file of the CA that signed the endpoint's certificate (an internal CA); unset: public roots",
    )


class SlackSettings(ChannelSettings):
    webhook_url: SecretRef | None = Field(
        default=None, description="an incoming webhook's URL, as a reference (the URL is the credential)"
    )
    bot_token: SecretRef | None = Field(default=None, description="a bot token (xoxb-...) for chat.postMessage")
    channel: str | None = Field(
        default=None,
        description="with bot_token: the channel id to post in, mentioning the person; unset: a direct message",
    )
    api_url: str = Field(default=SLACK_API, description="the Web API's base URL (a proxy or a test receiver)")

    @model_validator(mode="after")
    def _one_way(self) -> SlackSettings:
        if (self.webhook_url is None) == (self.bot_token is None):
            raise ValueError("set exactly one of webhook_url (an incoming webhook) or bot_token (chat.postMessage)")
        if self.channel is not None and self.bot_token is None:
            raise ValueError("channel goes with bot_token: an incoming webhook posts to the channel it was made for")
        return self


class TeamsSettings(ChannelSettings):
    webhook_url: SecretRef = Field(description="the workflow's HTTP POST URL, as a reference (it carries sig=)")
    mention: bool = Field(default=True, description="mention the person by their Teams id when the roster has one")


class SmtpSettings(ChannelSettings):
    host: str = Field(description="the SMTP server (a submission server: your provider's or your relay)")
    port: int | None = Field(default=None, ge=1, le=65535, description="unset: 587 for starttls, 465 for tls, 25")
    security: Security = Field(
        default="starttls",
        description="starttls (upgrade after connecting), tls (implicit TLS from the first byte), "
        "none (plain text: loopback only)",
    )
    username: str | None = Field(default=None, description="AUTH user; unset: no authentication")
    password: SecretRef | None = Field(default=None, description="AUTH password, as a reference")
    from_address: str = Field(description="the sender, e.g. postmortems@example.com")
    from_name: str = Field(default="afterword", description="the sender's display name")
    reply_to: str | None = Field(default=None, description="where replies go, e.g. the incident team's list")
    helo_name: str | None = Field(default=None, description="the name given in EHLO; unset: the sender's domain")

    @field_validator("from_address", "reply_to")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        return None if value is None else check_address(value)

    @model_validator(mode="after")
    def _consistent(self) -> SmtpSettings:
        if self.security == "none" and not is_loopback(self.host):
            raise ValueError(f"security = \"none\" sends mail in plain text: only to loopback, not to {self.host}; "
                             "use starttls or tls")
        if (self.username is None) != (self.password is None):
            raise ValueError("set username and password together (or neither, for a relay without AUTH)")
        return self

    @property
    def effective_port(self) -> int:
        if self.port is not None:
            return self.port
        return {"starttls": 587, "tls": 465, "none": 25}[self.security]


class WebhookSettings(ChannelSettings):
    url: str = Field(description='the receiver\'s HTTPS URL, or a reference to it ("env:NAME", "file:/path")')
    secret: SecretRef = Field(description="the HMAC-SHA256 signing secret")
    previous_secret: SecretRef | None = Field(
        default=None, description="the secret being retired: requests are signed with both until it is removed"
    )
    headers: dict[str, str] = Field(default_factory=dict, description="extra request headers (no secrets)")

    @field_validator("url")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        return value if is_reference(value) else check_endpoint(value)


class OutboxSettings(ChannelSettings):
    """No keys: the file is `outbox.jsonl` in the worker's data directory."""




class _Channel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SlackChannelConfig(_Channel):
    """Slack: an incoming webhook, or chat.postMessage with a bot token."""

    adapter: Literal["slack"] = Field(description="the adapter serving this channel")
    settings: SlackSettings = Field(description="the adapter's settings")


class TeamsChannelConfig(_Channel):
    """Microsoft Teams: Adaptive Cards to a Workflows webhook."""

    adapter: Literal["teams"] = Field(description="the adapter serving this channel")
    settings: TeamsSettings = Field(description="the adapter's settings")


class SmtpChannelConfig(_Channel):
    """E-mail over SMTP."""

    adapter: Literal["smtp"] = Field(description="the adapter serving this channel")
    settings: SmtpSettings = Field(description="the adapter's settings")


class WebhookChannelConfig(_Channel):
    """A generic JSON webhook, HMAC-signed."""

    adapter: Literal["webhook"] = Field(description="the adapter serving this channel")
    settings: WebhookSettings = Field(description="the adapter's settings")


class OutboxChannelConfig(_Channel):
    """The outbox file in the worker's data directory."""

    adapter: Literal["outbox"] = Field(description="the adapter serving this channel")
    settings: OutboxSettings = Field(default_factory=OutboxSettings, description="the adapter's settings")


ChannelConfig = Annotated[
    SlackChannelConfig | TeamsChannelConfig | SmtpChannelConfig | WebhookChannelConfig | OutboxChannelConfig,
    Field(discriminator="adapter"),
]
CHANNEL_ADAPTERS = ("slack", "teams", "smtp", "webhook", "outbox")


class NotificationsPolicy(BaseModel):
    """Who is told what, where: channels, routes, quiet hours, digests and repeated escalation."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    channels: dict[str, ChannelConfig] = Field(
        default_factory=dict, description="channel name -> adapter and its settings (the outbox is always there)"
    )
    routes: list[Route] = Field(
        default_factory=list,
        description="read in order: every matching route adds its `to`; the first that names channels decides "
        "each person's channels (fallback order); none: the outbox",
    )
    quiet_hours: QuietHours | None = Field(
        default=None, description="local hours in which messages wait (the recipient's zone, else the policy's)"
    )
    urgent_severities: list[str] = Field(
        default_factory=lambda: ["SEV1"], description="escalations of these severities ignore quiet hours"
    )
    repeat_escalation: WallTime | None = Field(
        default=None, description='while overdue, escalate again this often, one step up the chain (e.g. "24h")'
    )
    digest: DigestRules = Field(default_factory=DigestRules, description="when daily and weekly digests go out")
    templates_dir: str | None = Field(
        default=None, description="a folder of <event>.md.j2 templates; relative: to the policy file's folder"
    )
    web_url: str | None = Field(
        default=None, description="base URL of the Temporal Web UI in links; unset: the worker's embedded UI"
    )

    def problems(self, people: list[PersonAddresses], known_severities: list[str]) -> list[tuple[tuple[str | int, ...],
                                                                                                   str]]:
        """(key path under [notifications], what to fix) for what one section cannot check alone."""
        found: list[tuple[tuple[str | int, ...], str]] = []
        names = set(self.channels) | {"outbox"}
        handles = {p.handle: p for p in people}
        for index, route in enumerate(self.routes):
            at: tuple[str | int, ...] = ("routes", index)
            for position, channel in enumerate(route.channels):
                if channel not in names:
                    found.append(((*at, "channels", position),
                                  f"unknown channel {channel!r}: declare it under [notifications.channels.{channel}] "
                                  f"(known: {', '.join(sorted(names))})"))
            for position, ref in enumerate(route.to):
                if ref.startswith("channel:") and ref.removeprefix("channel:") not in names:
                    found.append(((*at, "to", position), f"{ref}: no channel of that name"))
                elif not ref.startswith(("channel:", "role:", "team:")) and people and ref not in handles:
                    found.append(((*at, "to", position), f"{ref!r} is not in the roster"))
            for position, severity in enumerate(route.severities):
                if severity not in known_severities:
                    found.append(((*at, "severities", position),
                                  f"unknown severity {severity!r}: use one of {', '.join(known_severities)}"))
            needs = {self.channels[c].adapter for c in route.channels if c in self.channels}
            if route.channels and needs and people:
                for person in people:
                    if not any(_reachable(person, self.channels[c]) for c in route.channels if c in self.channels):
                        wanted = " or ".join(sorted({ADDRESS_KINDS[self.channels[c].adapter] for c in route.channels
                                                     if c in self.channels}))
                        found.append(((*at, "channels"), f"{person.handle} has no {wanted} address in the roster, "
                                      "so this route cannot reach them: add one, or add the outbox to the route"))
                        break
        return found


# what a person needs in the roster to be reached through each adapter ("handle": nothing more)
ADDRESS_KINDS: dict[str, AddressKind] = {"slack": "slack", "teams": "teams", "smtp": "email", "webhook": "handle",
                                         "outbox": "handle"}


def _reachable(person: PersonAddresses, channel: ChannelConfig) -> bool:
    kind = ADDRESS_KINDS[channel.adapter]
    return kind == "handle" or bool(getattr(person, kind))
