"""The delivery ledger: every delivery's idempotency key is recorded before the send and settled after it.

A notification's deliveries are keyed `<notice key>/<recipient>/<channel>`. Before a send, the key is
written as `sending` (with the attempt count); after the far side accepted, as `sent` with its answer. A
retried activity finds `sent` and does not send again: this is what makes a worker that died after
Slack or the SMTP server accepted a message, but before Temporal heard the activity complete, send nothing
twice. What the ledger cannot close is a crash between the far side's answer and the ledger's own commit:
then the key is still `sending`, the message goes out once more and carries the same Message-ID or delivery
id, by which a receiver can drop it.

SQLite in the worker's data directory (WAL: a commit survives the process dying; `synchronous=NORMAL`
trades the last commit on power loss for not waiting on the disk for every notification).
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

LedgerState = Literal["sending", "sent", "failed"]
_NAMESPACE = uuid.UUID("3d0c1f64-5b8e-4a4f-9b57-7a6f1f0c2e11")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    key TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    detail TEXT NOT NULL DEFAULT '',
    provider_id TEXT NOT NULL DEFAULT '',
    updated_at TEXT NOT NULL
)
"""


def delivery_key(notice_key: str, recipient: str, channel: str) -> str:
    return f"{notice_key}/{recipient}/{channel}"


def delivery_id(key: str) -> str:
    """A UUID derived from the delivery key: the webhook's delivery id and the local part of the Message-ID."""
    return str(uuid.uuid5(_NAMESPACE, key))


def thread_id(thread: str) -> str:
    """The id one postmortem's messages refer to (e-mail References/In-Reply-To)."""
    return "thread-" + hashlib.sha256(thread.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Entry:
    key: str
    state: LedgerState
    attempts: int
    detail: str
    provider_id: str


class Ledger:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)

    def get(self, key: str) -> Entry | None:
        with self._lock:
            row = self._db.execute(
                "SELECT key, state, attempts, detail, provider_id FROM deliveries WHERE key = ?", (key,)
            ).fetchone()
        return None if row is None else Entry(*row)

    def begin(self, key: str) -> Entry:
        """Record that an attempt is about to send (attempts + 1); a key already `sent` is returned unchanged."""
        now = datetime.now(UTC).isoformat()
        with self._lock:
            row = self._db.execute(
                "INSERT INTO deliveries (key, state, attempts, updated_at) VALUES (?, 'sending', 1, ?) "
                "ON CONFLICT(key) DO UPDATE SET state = 'sending', attempts = attempts + 1, updated_at = ? "
                "WHERE state != 'sent' RETURNING key, state, attempts, detail, provider_id",
                (key, now, now),
            ).fetchone()
        if row is None:  # already sent: the conflict clause changed nothing and returned nothing
            found = self.get(key)
            assert found is not None
            return found
        return Entry(*row)

    def settle(self, key: str, state: LedgerState, detail: str = "", provider_id: str = "") -> None:
        with self._lock:
            self._db.execute(
                "UPDATE deliveries SET state = ?, detail = ?, provider_id = ?, updated_at = ? WHERE key = ?",
                (state, detail, provider_id, datetime.now(UTC).isoformat(), key),
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()
