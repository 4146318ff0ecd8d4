"""Signed deliveries are applied once, however often and whenever they are re-sent.

A signature proves who made a body, not when it was sent: a captured, signed PagerDuty
`incident.reopened` stays valid forever, and the `X-Webhook-Id` header next to it is not signed, so a
new header id made it a new delivery. Two things together close that:

- **a bound on age**: a signed event older than the source's bound is refused (401). PagerDuty's
  `event.occurred_at` is inside the signed body (`max_event_age`, default 1 h: PagerDuty retries a
  delivery for about 20 minutes); Grafana's timestamp header is inside its signature (`max_skew`);
- **a memory of what was applied**, kept in the intake's data directory (SQLite) across restarts, for
  each signed delivery until it is too old to be accepted anyway: PagerDuty by its signed `event.id`,
  Grafana by the signed timestamp and body. A delivery found there gets its first answer again.

Sources whose bodies are not signed (Alertmanager, Opsgenie, generic; PagerDuty or Grafana without a
signing secret) have nothing a replay could be told apart by: their repeats are recognised by the
in-memory duplicate window only (`dedupe_ttl`), and the operator's protection is the transport (TLS)
and the token.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from afterword.intake.auth import Credentials
from afterword.intake.refusals import Malformed, Unauthorized
from afterword.intake.sources.common import Notification
from afterword.settings import Settings

log = logging.getLogger("afterword.intake")

# kept a little beyond the age bound, so that no clock step makes a forgotten delivery acceptable again
MARGIN_SECONDS = 60.0
PRUNE_EVERY = 500  # writes between two checks of the row count


@dataclass(frozen=True)
class Signed:
    """A signed delivery's identity, and until when (epoch seconds) it must be remembered."""

    delivery_id: str
    remember_until: float


def _age(seconds: float) -> str:
    return str(timedelta(seconds=int(seconds)))


def signed_delivery(
    notification: Notification,
    creds: Credentials,
    headers: Mapping[str, str],
    body: bytes,
    max_event_age: timedelta,
    now: float | None = None,
) -> Signed | None:
    """For a delivery whose signature was verified: refuse it when too old (401), else say how it is
    remembered. None when the source's bodies are not signed (nothing to bound)."""
    if not creds.hmac_secrets:
        return None
    now = time.time() if now is None else now
    if creds.source == "pagerduty":
        if notification.sent_at is None or not notification.delivery_id:
            raise Malformed("PagerDuty v3 webhook: event.id and event.occurred_at are required")
        occurred = notification.sent_at.timestamp()
        bound = max_event_age.total_seconds()
        if now - occurred > bound:
            raise Unauthorized(
                f"event.occurred_at is {_age(now - occurred)} ago: signed events older than {_age(bound)} are "
                "refused as replays ([intake.sources.pagerduty] max_event_age)"
            )
        return Signed(notification.delivery_id, max(occurred, now) + bound + MARGIN_SECONDS)
    if creds.source == "grafana" and creds.timestamp_header:
        stamp = headers.get(creds.timestamp_header, "")  # verified (digits, within max_skew) by auth.verify
        signed = hashlib.sha256(stamp.encode() + b":" + body).hexdigest()
        return Signed(f"signed:{signed}", int(stamp) + creds.max_skew_seconds + MARGIN_SECONDS)
    return None


def delivery_log_path(settings: Settings) -> Path:
    return settings.data_dir / "intake" / "deliveries.sqlite3"


class DeliveryLog:
    """The answers given to signed deliveries, by delivery key, each until its `remember_until`; at most
    `max_entries` (the soonest to expire go first). One SQLite file in the intake's data directory; the
    calls block (the dispatcher runs them in a thread)."""

    def __init__(self, path: Path, max_entries: int = 50_000) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # survives a crash of the intake; a power cut may lose the last
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS deliveries (key TEXT PRIMARY KEY, until REAL NOT NULL, answer TEXT NOT NULL)"
        )
        self._db.execute("CREATE INDEX IF NOT EXISTS deliveries_until ON deliveries (until)")
        self._writes = 0
        self._prune(time.time())

    def get(self, key: str, now: float | None = None) -> dict[str, Any] | None:
        now = time.time() if now is None else now
        with self._lock:
            row = self._db.execute("SELECT answer FROM deliveries WHERE key = ? AND until >= ?", (key, now)).fetchone()
        if row is None:
            return None
        answer: dict[str, Any] = json.loads(row[0])
        return answer

    def put(self, key: str, until: float, answer: Mapping[str, Any], now: float | None = None) -> None:
        now = time.time() if now is None else now
        text = json.dumps(answer, separators=(",", ":"))
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO deliveries VALUES (?, ?, ?)", (key, until, text))
            self._writes += 1
            if self._writes % PRUNE_EVERY == 0:
                self._prune(now)

    def __len__(self) -> int:
        with self._lock:
            count: int = self._db.execute("SELECT COUNT(*) FROM deliveries").fetchone()[0]
        return count

    def _prune(self, now: float) -> None:
        self._db.execute("DELETE FROM deliveries WHERE until < ?", (now,))
        (count,) = self._db.execute("SELECT COUNT(*) FROM deliveries").fetchone()
        if count > self.max_entries:
            excess = count - self.max_entries
            self._db.execute(
                "DELETE FROM deliveries WHERE key IN (SELECT key FROM deliveries ORDER BY until LIMIT ?)", (excess,)
            )
            log.warning(
                "replay memory full: forgot the %d signed deliveries closest to expiry (max %d)",
                excess,
                self.max_entries,
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()
