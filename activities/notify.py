"""Notifications: every reminder and escalation is appended to an outbox file and logged.

The outbox (JSON lines) is the embedded default that chat/e-mail integrations read from; each line
carries the activity's identity so that a retried activity can be told apart from a second message.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from datetime import UTC, datetime

from temporalio import activity

from afterword.gates.outbound import redact_model
from afterword.settings import Settings
from afterword.workflows.models import Notification

log = logging.getLogger("afterword.notify")


class NotifyActivities:
    def __init__(self, settings: Settings) -> None:
        self.outbox = settings.outbox_path
        self._lock = threading.Lock()

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
