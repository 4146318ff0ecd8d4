"""The outbox: one JSON line per notification in the worker's data directory (`outbox.jsonl`).

The embedded default channel, and the last fallback of every route: a notification that no other channel
could deliver is written here with the reason, so it is never lost and an operator can replay it.
"""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import UTC, datetime
from pathlib import Path

from afterword.notifications.channel_base import Envelope, Receipt, Rendered
from afterword.policies.notify_schema import OutboxSettings
from afterword.workflows.notices import AddressKind, ChannelAdapter


class OutboxChannel:
    adapter: ChannelAdapter = "outbox"
    address_kind: AddressKind = "handle"

    def __init__(self, name: str, path: Path) -> None:
        self.name = name
        self.path = path
        self.limits = OutboxSettings(attempts=1)
        self._lock = threading.Lock()

    def line(self, message: Rendered, envelope: Envelope, reason: str = "") -> str:
        record: dict[str, object] = {
            "id": envelope.delivery_id,
            "at": datetime.now(UTC).isoformat(),
            "event": message.kind.value,
            "to": envelope.recipient,
            "subject": message.subject,
            "text": message.text,
            "thread": envelope.thread_id,
        }
        if reason:
            record["undelivered"] = reason
        return json.dumps(record, ensure_ascii=False)

    async def send(self, message: Rendered, envelope: Envelope) -> Receipt:
        await self.append(self.line(message, envelope))
        return Receipt(provider_id=str(self.path))

    async def append(self, line: str) -> None:
        await asyncio.to_thread(self._append, line)

    def _append(self, line: str) -> None:
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(line + "\n")

    async def close(self) -> None:
        return None
