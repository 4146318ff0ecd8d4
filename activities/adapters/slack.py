"""Chat transcripts: a Slack export directory, or the Slack Web API where a token is configured.

An unpacked Slack export holds `channels.json`, `users.json` and `<channel>/<YYYY-MM-DD>.json` day
files of messages. The API path reads `conversations.history` for the window, page by page. Both
store one JSON item per channel in the same shape, so the timeline reads them alike. Rows name the
channel, not the person who wrote (the transcript keeps that): blameless drafts start here.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from afterword.activities.adapters import http
from afterword.activities.adapters.base import Collected, Event, SourceRejected, SourceUnavailable, Window
from afterword.workflows.models import Incident

KIND = "slack-transcript"
MAX_TEXT = 240


def _ts(message: dict[str, Any]) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(message.get("ts", "")), tz=UTC)
    except (TypeError, ValueError):
        return None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SourceRejected(f"{path}: {exc}") from None


class SlackExportSource:
    kind = KIND

    def __init__(self, name: str, path: str, channels: list[str] | None = None) -> None:
        self._name = f"slack:{name}"
        self.path = Path(path).expanduser()
        self.channels = channels or []

    @property
    def name(self) -> str:
        return self._name

    @property
    def target(self) -> str:
        return str(self.path)

    @property
    def instrument_hint(self) -> str:
        return f"instrument this: export the incident channel to {self.path} (or configure the Slack API source)"

    def _users(self) -> dict[str, str]:
        users_file = self.path / "users.json"
        if not users_file.exists():
            return {}
        users = _read_json(users_file)
        return {
            str(u.get("id")): str(u.get("name") or u.get("real_name") or u.get("id"))
            for u in users
            if isinstance(u, dict)
        }

    def _channel_names(self) -> list[str]:
        listed = self.path / "channels.json"
        if listed.exists():
            names = [str(c.get("name")) for c in _read_json(listed) if isinstance(c, dict) and c.get("name")]
        else:
            names = sorted(p.name for p in self.path.iterdir() if p.is_dir())
        if self.channels:
            missing = [c for c in self.channels if c not in names]
            if missing:
                raise SourceRejected(f"channels not in the export at {self.path}: {', '.join(missing)}")
            return list(self.channels)
        return names

    def _collect(self, window: Window) -> list[Collected]:
        if not self.path.is_dir():
            raise SourceRejected(f"no Slack export directory at {self.path}")
        users = self._users()
        collected: list[Collected] = []
        # day files follow the workspace's timezone: read one day either side of the window
        first = (window.start - timedelta(days=1)).date()
        last = (window.end + timedelta(days=1)).date()
        for channel in self._channel_names():
            messages: list[dict[str, Any]] = []
            day = first
            while day <= last:
                day_file = self.path / channel / f"{day.isoformat()}.json"
                if day_file.exists():
                    for message in _read_json(day_file):
                        at = _ts(message) if isinstance(message, dict) else None
                        if at is not None and window.contains(at):
                            messages.append(message)
                day += timedelta(days=1)
            messages.sort(key=lambda m: float(m.get("ts", 0)))
            collected.append(_transcript(channel, "export", str(self.path / channel), messages, users, window))
        return collected

    async def collect(self, incident: Incident, window: Window) -> list[Collected]:
        return await asyncio.to_thread(self._collect, window)


class SlackApiSource:
    """`conversations.history` for each configured channel id; the token comes from a variable."""

    kind = KIND

    def __init__(
        self,
        name: str,
        channels: list[str],
        token_env: str,
        api_url: str = "https://slack.com/api",
        timeout: float = 15,
    ) -> None:
        self._name = f"slack-api:{name}"
        self.channels = channels
        self.token_env = token_env
        self.api_url = api_url.rstrip("/")
        self.timeout = timeout

    @property
    def name(self) -> str:
        return self._name

    @property
    def target(self) -> str:
        return f"{self.api_url} channels {', '.join(self.channels)}"

    @property
    def instrument_hint(self) -> str:
        return f"instrument this: give the worker a Slack token in {self.token_env} with channels:history scope"

    async def _history(self, channel: str, window: Window) -> list[dict[str, Any]]:
        headers = http.bearer_headers(self.token_env)
        messages: list[dict[str, Any]] = []
        cursor = ""
        for _ in range(100):  # 100 pages of 200: far more than one incident channel holds
            params = {
                "channel": channel,
                "oldest": f"{window.start.timestamp():.6f}",
                "latest": f"{window.end.timestamp():.6f}",
                "inclusive": "true",
                "limit": "200",
            }
            if cursor:
                params["cursor"] = cursor
            response = await http.get(
                f"{self.api_url}/conversations.history", params=params, headers=headers, seconds=self.timeout
            )
            try:
                body = response.json()
            except ValueError:
                raise SourceUnavailable(f"{self.api_url}: answer is not JSON") from None
            if not body.get("ok"):
                error = body.get("error", "unknown error")
                if error in ("ratelimited", "internal_error", "fatal_error", "service_unavailable"):
                    raise SourceUnavailable(f"Slack API: {error}")
                raise SourceRejected(f"Slack API refused conversations.history for {channel}: {error}")
            messages.extend(m for m in body.get("messages", []) if isinstance(m, dict))
            cursor = str((body.get("response_metadata") or {}).get("next_cursor") or "")
            if not body.get("has_more") or not cursor:
                break
        messages.sort(key=lambda m: float(m.get("ts", 0)))
        return messages

    async def collect(self, incident: Incident, window: Window) -> list[Collected]:
        collected = []
        for channel in self.channels:
            messages = await self._history(channel, window)
            target = f"{self.api_url}/conversations.history?channel={channel}"
            collected.append(_transcript(channel, "api", target, messages, {}, window))
        return collected


def _transcript(
    channel: str, origin: str, target: str, messages: list[dict[str, Any]], users: dict[str, str], window: Window
) -> Collected:
    document = {"channel": channel, "origin": origin, "users": users, "messages": messages}
    return Collected(
        name=f"{channel}.json",
        target=target,
        media_type="application/json",
        data=json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False).encode(),
        window=window,
        note=f"{len(messages)} messages",
    )


def slack_events(data: bytes, meta: dict[str, str]) -> list[Event]:
    try:
        document = json.loads(data)
    except ValueError:
        return []
    channel = str(document.get("channel", "?"))
    events: list[Event] = []
    for message in document.get("messages", []):
        if not isinstance(message, dict) or message.get("subtype") in ("channel_join", "channel_leave"):
            continue
        at = _ts(message)
        text = " ".join(str(message.get("text", "")).split())
        if at is None or not text:
            continue
        if len(text) > MAX_TEXT:
            text = text[: MAX_TEXT - 1] + "…"
        events.append(Event(at=at, text=f"#{channel}: {text}", key=f"slack:{channel}:{message.get('ts')}"))
    return events
