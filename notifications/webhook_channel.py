"""A generic JSON webhook, signed, so that any other chat or paging tool can be bridged.

Each request carries:
    X-Afterword-Delivery   a UUID derived from the notification's idempotency key: the same on every retry,
                           so a receiver that saw it already can answer 2xx and drop the repeat
    X-Afterword-Event      the event kind (draft_overdue, review_requested, ...)
    X-Afterword-Timestamp  Unix seconds when this attempt was signed
    X-Afterword-Signature  v1=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>; while a secret is rotated,
                           one v1= value per secret, comma-separated (accept the request if any matches)

The stdlib's `hmac` signs; aiohttp posts (see http_post.py). A receiver verifies with `verify_signature`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterable

from afterword.notifications.channel_base import (
    Envelope,
    Receipt,
    Rendered,
    endpoint_setting,
    resolve_setting,
)
from afterword.notifications.http_post import JsonPoster
from afterword.policies.integrations import resolve_secret
from afterword.policies.notify_schema import WebhookSettings
from afterword.workflows.notices import AddressKind, ChannelAdapter

DELIVERY_HEADER = "X-Afterword-Delivery"
EVENT_HEADER = "X-Afterword-Event"
TIMESTAMP_HEADER = "X-Afterword-Timestamp"
SIGNATURE_HEADER = "X-Afterword-Signature"
SIGNATURE_VERSION = "v1"
TOLERANCE_SECONDS = 300


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_VERSION}={digest}"


def signature_header(secrets: Iterable[bytes], timestamp: int, body: bytes) -> str:
    return ", ".join(sign(secret, timestamp, body) for secret in secrets)


def verify_signature(secret: bytes, timestamp: str, body: bytes, header: str, *,
                     now: float | None = None, tolerance: int = TOLERANCE_SECONDS) -> bool:
    """Whether `header` holds a valid signature of `body` by `secret`, signed within `tolerance` seconds."""
    try:
        stamp = int(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - stamp) > tolerance:
        return False
    expected = sign(secret, stamp, body)
    return any(hmac.compare_digest(expected, value.strip()) for value in header.split(","))


class WebhookChannel:
    adapter: ChannelAdapter = "webhook"
    address_kind: AddressKind = "handle"

    def __init__(self, name: str, url: str, secrets: list[bytes], settings: WebhookSettings) -> None:
        self.name = name
        self.limits = settings
        self.url = url
        self.secrets = secrets
        self.extra_headers = dict(settings.headers)
        self.poster = JsonPoster(f"webhook {name}", settings.timeout.total_seconds(), settings.ca_file)

    @classmethod
    def build(cls, name: str, settings: WebhookSettings, resolve: Callable[[str], str] = resolve_secret
              ) -> WebhookChannel:
        url = endpoint_setting(settings.url, "url", resolve)
        secrets = [resolve_setting(settings.secret, "secret", resolve).encode()]
        if settings.previous_secret is not None:
            secrets.append(resolve_setting(settings.previous_secret, "previous_secret", resolve).encode())
        return cls(name, url, secrets, settings)

    def body(self, message: Rendered, envelope: Envelope) -> bytes:
        payload = {
            "id": envelope.delivery_id,
            "event": message.kind.value,
            "at": envelope.at.isoformat(),
            "recipient": {"handle": envelope.recipient, "name": envelope.display_name, **envelope.contacts},
            "thread": envelope.thread_id,
            "subject": message.subject,
            "text": message.text,
            "markdown": message.markdown,
            "facts": dict(message.facts),
            "links": {link.label: link.url for link in message.links},
            "command": message.command,
            "notice": message.data,
        }
        return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=str).encode()

    async def send(self, message: Rendered, envelope: Envelope) -> Receipt:
        body = self.body(message, envelope)
        stamp = int(time.time())
        headers = {
            **self.extra_headers,
            DELIVERY_HEADER: envelope.delivery_id,
            EVENT_HEADER: message.kind.value,
            TIMESTAMP_HEADER: str(stamp),
            SIGNATURE_HEADER: signature_header(self.secrets, stamp, body),
        }
        response = await self.poster.post(self.url, body, headers)
        return Receipt(provider_id=response.get("X-Request-Id", ""))

    async def close(self) -> None:
        await self.poster.close()

