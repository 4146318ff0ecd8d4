"""Microsoft Teams: an Adaptive Card posted to a Workflows (Power Automate) webhook.

The Office 365 connector webhooks are retired; a Teams channel or chat now receives cards through a
workflow built from the template "Post to a channel when a webhook request is received". Its URL carries
a signature (`sig=`), so the policy holds a reference to it, never the URL. The body is a `message` with one
Adaptive Card attachment; a person is mentioned by their Teams user id (or UPN) through `msteams.entities`.

No maintained library speaks this: pymsteams builds the retired connectors' MessageCard format, and
`adaptivecards` (last release 2021) would only replace a dozen lines of dictionaries. aiohttp posts (http_post.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from afterword.notifications.channel_base import (
    Envelope,
    Receipt,
    Rendered,
    endpoint_setting,
)
from afterword.notifications.http_post import JsonPoster
from afterword.policies.integrations import resolve_secret
from afterword.policies.notify_schema import TeamsSettings
from afterword.workflows.notices import AddressKind, ChannelAdapter

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
CARD_VERSION = "1.4"


def adaptive_card(message: Rendered, envelope: Envelope, mention: bool) -> dict[str, Any]:
    entities: list[dict[str, Any]] = []
    body_text = message.markdown
    if mention and envelope.address:
        tag = f"<at>{envelope.display_name}</at>"
        entities.append({"type": "mention", "text": tag, "mentioned": {"id": envelope.address,
                                                                        "name": envelope.display_name}})
        body_text = f"{tag}: {body_text}"
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "body": [
            {"type": "TextBlock", "text": message.subject, "weight": "Bolder", "size": "Medium", "wrap": True},
            {"type": "TextBlock", "text": body_text, "wrap": True},
        ],
        "actions": [{"type": "Action.OpenUrl", "title": link.label, "url": link.url} for link in message.links
                    if link.url.startswith(("https://", "http://"))],
    }
    if message.facts:
        card["body"].append({"type": "FactSet", "facts": [{"title": t, "value": v} for t, v in message.facts]})
    if message.command:
        card["body"].append({"type": "TextBlock", "text": f"`{message.command}`", "wrap": True,
                             "fontType": "Monospace", "isSubtle": True})
    if entities:
        card["msteams"] = {"entities": entities}
    return {"type": "message",
            "attachments": [{"contentType": CARD_CONTENT_TYPE, "contentUrl": None, "content": card}]}


class TeamsChannel:
    adapter: ChannelAdapter = "teams"
    address_kind: AddressKind = "teams"

    def __init__(self, name: str, url: str, settings: TeamsSettings) -> None:
        self.name = name
        self.limits = settings
        self.url = url
        self.mention = settings.mention
        self.poster = JsonPoster(f"teams {name}", settings.timeout.total_seconds(), settings.ca_file)

    @classmethod
    def build(cls, name: str, settings: TeamsSettings, resolve: Callable[[str], str] = resolve_secret
              ) -> TeamsChannel:
        return cls(name, endpoint_setting(settings.webhook_url, "webhook_url", resolve), settings)

    async def send(self, message: Rendered, envelope: Envelope) -> Receipt:
        body = json.dumps(adaptive_card(message, envelope, self.mention), ensure_ascii=False).encode()
        response = await self.poster.post(self.url, body, {})
        return Receipt(provider_id=response.get("x-ms-workflow-run-id", ""))

    async def close(self) -> None:
        await self.poster.close()
