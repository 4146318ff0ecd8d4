"""Slack: an incoming webhook (one channel per URL), or `chat.postMessage` with a bot token.

Both send a Block Kit message (a header, the body in mrkdwn, the facts, the next step's command and link
buttons) with a plain `text` fallback for notifications and screen readers. A person is mentioned by their
Slack member id (`<@U024BE7LH>`); with a bot token and no `channel`, the bot writes to the person directly.

Built on slack-sdk (Slack's own SDK): its async clients take an `aiohttp` session we keep open and a
`base_url`, so the tests point it at a loopback receiver that answers as Slack documents. Its built-in
retries are switched off: retries, Retry-After and the fallback to the next channel are the delivery loop's,
the same for every channel.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Callable
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from afterword.notifications.channel_base import (
    ChannelError,
    Envelope,
    Permanent,
    Receipt,
    Rendered,
    Retryable,
    endpoint_setting,
    parse_retry_after,
    resolve_setting,
    tls_context,
)
from afterword.policies.integrations import resolve_secret
from afterword.policies.notify_schema import SlackSettings
from afterword.workflows.notices import AddressKind, ChannelAdapter

HEADER_LIMIT = 150
SECTION_LIMIT = 3000
# Web API errors a retry can fix; every other error (invalid_auth, channel_not_found, ...) needs a person
RETRYABLE_ERRORS = frozenset({"ratelimited", "internal_error", "fatal_error", "service_unavailable",
                              "request_timeout"})


_LINK = re.compile(r"\[([^\]\n]+)\]\(([^)\s]+)\)")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_SET_ASIDE = {"\\<": "\ue000", "\\>": "\ue001", "\\[": "\ue002", "\\]": "\ue003"}
_PUT_BACK = {"\ue000": "&lt;", "\ue001": "&gt;", "\ue002": "[", "\ue003": "]"}


def to_mrkdwn(markdown: str) -> str:
    """Slack's mrkdwn from the template's Markdown: &, < and > escaped, links and bold in Slack's syntax."""
    # characters the template escaped (values from outside) must not become links: set them aside first
    text = markdown
    for escaped, placeholder in _SET_ASIDE.items():
        text = text.replace(escaped, placeholder)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _LINK.sub(lambda m: f"<{m.group(2)}|{m.group(1)}>", text)
    text = _BOLD.sub(r"*\1*", text)
    for placeholder, literal in _PUT_BACK.items():
        text = text.replace(placeholder, literal)
    return text


def _plain(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def blocks(message: Rendered, mention: str | None) -> list[dict[str, Any]]:
    body = to_mrkdwn(message.markdown)
    if mention:
        body = f"<@{mention}> {body}"
    result: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _plain(message.subject, HEADER_LIMIT)}},
        {"type": "section", "text": {"type": "mrkdwn", "text": _plain(body, SECTION_LIMIT)}},
    ]
    if message.facts:
        result.append({"type": "section", "fields": [
            {"type": "mrkdwn", "text": f"*{title}*\n{to_mrkdwn(value)}"} for title, value in message.facts[:10]
        ]})
    if message.command:
        result.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"`{to_mrkdwn(message.command)}`"}]})
    buttons = [link for link in message.links if link.url.startswith(("https://", "http://"))]
    if buttons:
        result.append({"type": "actions", "elements": [
            {"type": "button", "text": {"type": "plain_text", "text": _plain(link.label, 75)}, "url": link.url}
            for link in buttons[:5]
        ]})
    return result


def fallback_text(message: Rendered, mention: str | None) -> str:
    text = f"{message.subject}\n{message.text}"
    return f"<@{mention}> {text}" if mention else text


class SlackChannel:
    adapter: ChannelAdapter = "slack"
    address_kind: AddressKind = "slack"

    def __init__(self, name: str, settings: SlackSettings, *, webhook_url: str | None, token: str | None,
                 ssl_context: ssl.SSLContext) -> None:
        self.name = name
        self.limits = settings
        self.webhook_url = webhook_url
        self.token = token
        self.channel = settings.channel
        self.api_url = settings.api_url
        self.timeout = settings.timeout.total_seconds()
        self.ssl = ssl_context
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def build(cls, name: str, settings: SlackSettings, resolve: Callable[[str], str] = resolve_secret
              ) -> SlackChannel:
        webhook = token = None
        if settings.webhook_url is not None:
            webhook = endpoint_setting(settings.webhook_url, "webhook_url", resolve)
        if settings.bot_token is not None:
            token = resolve_setting(settings.bot_token, "bot_token", resolve)
            endpoint_setting(settings.api_url, "api_url", resolve)
        return cls(name, settings, webhook_url=webhook, token=token, ssl_context=tls_context(settings.ca_file))

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout), connector=aiohttp.TCPConnector(ssl=self.ssl)
            )
        return self._session

    async def send(self, message: Rendered, envelope: Envelope) -> Receipt:
        mention = envelope.address
        text, block_list = fallback_text(message, mention), blocks(message, mention)
        try:
            if self.webhook_url is not None:
                return await self._send_webhook(text, block_list)
            return await self._post_message(text, block_list, envelope)
        except ChannelError:
            raise
        except TimeoutError:
            raise Retryable(f"slack {self.name}: no answer within {self.timeout:g} s") from None
        except aiohttp.ClientSSLError as exc:
            raise Permanent(f"slack {self.name}: TLS failed ({exc}); check the endpoint's certificate") from None
        except aiohttp.ClientError as exc:
            raise Retryable(f"slack {self.name}: {exc or type(exc).__name__}") from None

    async def _send_webhook(self, text: str, block_list: list[dict[str, Any]]) -> Receipt:
        assert self.webhook_url is not None
        client = AsyncWebhookClient(self.webhook_url, timeout=int(self.timeout) or 1, ssl=self.ssl,
                                    session=self._http(), retry_handlers=[])
        response = await client.send(text=text, blocks=block_list, unfurl_links=False)
        status = response.status_code
        if status == 200:
            return Receipt()
        detail = f"slack {self.name}: HTTP {status} {response.body[:200]}".rstrip()
        if status == 429 or status >= 500:
            raise Retryable(detail, retry_after=parse_retry_after(_header(response.headers, "Retry-After")))
        raise Permanent(detail)

    async def _post_message(self, text: str, block_list: list[dict[str, Any]], envelope: Envelope) -> Receipt:
        target = self.channel or envelope.address
        if not target:
            raise Permanent(f"slack {self.name}: {envelope.recipient} has no Slack member id in the roster")
        client = AsyncWebClient(token=self.token, base_url=self.api_url, timeout=int(self.timeout) or 1,
                                ssl=self.ssl, session=self._http(), retry_handlers=[])
        try:
            response = await client.chat_postMessage(channel=target, text=text, blocks=block_list,
                                                     unfurl_links=False)
        except SlackApiError as err:
            status = err.response.status_code
            data = err.response.data if isinstance(err.response.data, dict) else {}
            error = str(data.get("error") or f"HTTP {status}")
            detail = f"slack {self.name}: chat.postMessage {error}"
            if status == 429 or status >= 500 or error in RETRYABLE_ERRORS:
                raise Retryable(detail, retry_after=parse_retry_after(
                    _header(err.response.headers, "Retry-After"))) from None
            raise Permanent(detail) from None
        return Receipt(provider_id=str(response.get("ts") or ""))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _header(headers: Any, name: str) -> str | None:
    if not headers:
        return None
    value = headers.get(name) or headers.get(name.lower())
    if isinstance(value, list):
        value = value[0] if value else None
    return str(value) if value is not None else None

