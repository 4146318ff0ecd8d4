"""Notifications: the activity that delivers a workflow's notices through the policy's channels, and the
outbox line of the first release (`notify`, kept for the workflows already running it).

`deliver_notice` routes a notice, renders it from the organisation's templates and delivers each message
once (delivery.py): it never raises for a channel that failed; its outcome says what happened to every
delivery, and the workflow records that in its status and audit trail. It heartbeats while it waits
between tries, so a worker that dies mid-notice is noticed within a heartbeat timeout and the retried
activity (on this or another worker) finds in the ledger what already went out.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from temporalio import activity

from afterword.gates.outbound import redact_model
from afterword.notifications.channel_base import Channel
from afterword.notifications.delivery import Deliverer
from afterword.notifications.ledger import Ledger
from afterword.notifications.message_render import templates_for
from afterword.notifications.outbox_channel import OutboxChannel
from afterword.settings import Settings
from afterword.workflows.models import Notification
from afterword.workflows.notices import Notice, NoticeOutcome

log = logging.getLogger("afterword.notify")


class NotifyActivities:
    def __init__(self, settings: Settings, channels: Mapping[str, Mapping[str, Channel]] | None = None) -> None:
        """`channels`: org -> channel name -> channel, as built at worker start (channel_registry)."""
        self.settings = settings
        self.outbox = settings.outbox_path
        self._lock = threading.Lock()
        self.channels = channels or {}
        self.outbox_channel = OutboxChannel("outbox", settings.outbox_path)
        self._ledger: Ledger | None = None

    @property
    def ledger(self) -> Ledger:
        if self._ledger is None:  # opened on first use: a worker that never notifies never creates the file
            self._ledger = Ledger(self.settings.data_dir / "deliveries.sqlite3")
        return self._ledger

    def web_link(self, notice: Notice) -> str | None:
        base = notice.rules.web_url
        if base is None and self.settings.temporal_address is None:  # the embedded server's Web UI
            base = f"http://127.0.0.1:{self.settings.embedded_ui_port}"
        if base is None:
            return None
        namespace = quote(self.settings.namespace, safe="")
        return f"{base.rstrip('/')}/namespaces/{namespace}/workflows/{quote(notice.facts.postmortem_id, safe='')}"

    @activity.defn
    async def deliver_notice(self, notice: Notice) -> NoticeOutcome:
        # what people and alert senders wrote (titles, comments, item texts) leaves with its secrets redacted;
        # the rules and addresses are the policy's own and travel as they are
        notice = notice.model_copy(update={"facts": redact_model(notice.facts)})
        channels = self.channels.get(notice.facts.org, {})
        templates_dir = Path(notice.rules.templates_dir) if notice.rules.templates_dir else None
        deliverer = Deliverer(channels, self.ledger, self.outbox_channel, beat=activity.heartbeat)
        outcome = await deliverer.deliver(notice, templates_for(templates_dir), self.web_link(notice))
        for delivery in outcome.deliveries:
            log.info("%s %s to %s via %s: %s %s", notice.key, notice.kind.value, delivery.recipient, delivery.channel,
                     delivery.state, delivery.detail)
        return outcome

    @activity.defn
    async def notify(self, note: Notification) -> None:
        # every notification, from any workflow and for any channel, passes here: what leaves is redacted
        # for its readers (internal: secrets out), whatever the workflow put in it
        note = redact_model(note)
        info = activity.info()
        line = json.dumps(
            {
                "id": f"{info.workflow_id}/{info.activity_id}",
                "at": datetime.now(UTC).isoformat(),
                **note.model_dump(mode="json"),
            },
            ensure_ascii=False,
        )
        await asyncio.to_thread(self._append, line)
        log.info("%s to %s: %s", note.kind, ", ".join(note.to), note.subject)

    def _append(self, line: str) -> None:
        with self._lock:
            self.outbox.parent.mkdir(parents=True, exist_ok=True)
            with open(self.outbox, "a", encoding="utf-8") as fh:
                fh.write(line + "\n")
