"""Building the channels a policy configures, at worker start: each adapter's builder resolves its secret
references and checks its endpoint, and a channel that cannot be built stops the worker with the key to fix.

    channels = build_channels(policy.notifications.channels, data_dir / "outbox.jsonl")
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from afterword.notifications.channel_base import Channel, ChannelConfigError
from afterword.notifications.outbox_channel import OutboxChannel
from afterword.notifications.slack_channel import SlackChannel
from afterword.notifications.smtp_channel import SmtpChannel
from afterword.notifications.teams_channel import TeamsChannel
from afterword.notifications.webhook_channel import WebhookChannel
from afterword.policies.integrations import resolve_secret
from afterword.policies.notify_schema import ADDRESS_KINDS, ChannelConfig
from afterword.workflows.notices import AddressKind, ChannelInfo

Builder = Callable[[str, Any, Callable[[str], str]], Channel]
BUILDERS: dict[str, Builder] = {
    "slack": SlackChannel.build,
    "teams": TeamsChannel.build,
    "smtp": SmtpChannel.build,
    "webhook": WebhookChannel.build,
}


def address_kind(config: ChannelConfig) -> AddressKind:
    """What a person needs in the roster for this channel."""
    return ADDRESS_KINDS[config.adapter]


def channel_infos(configs: Mapping[str, ChannelConfig]) -> dict[str, ChannelInfo]:
    return {name: ChannelInfo(name=name, adapter=c.adapter, address=address_kind(c)) for name, c in configs.items()}


def build_channels(configs: Mapping[str, ChannelConfig], outbox_path: Path,
                   resolve: Callable[[str], str] = resolve_secret) -> dict[str, Channel]:
    """Every configured channel, plus the outbox (always there: the last fallback of every route).

    Raises ChannelConfigError whose key is the full policy key (notifications.channels.<name>.settings.<key>).
    """
    built: dict[str, Channel] = {"outbox": OutboxChannel("outbox", outbox_path)}
    for name, config in configs.items():
        if config.adapter == "outbox":
            built[name] = OutboxChannel(name, outbox_path)
            continue
        try:
            built[name] = BUILDERS[config.adapter](name, config.settings, resolve)
        except ChannelConfigError as err:
            raise ChannelConfigError(f"notifications.channels.{name}.settings.{err.key}", err.reason) from None
    return built
