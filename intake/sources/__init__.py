"""One module per alert source; each exposes `NAME` and `parse(body, headers) -> Notification`."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from pydantic import ValidationError

from afterword.intake.sources import alertmanager, generic, grafana, opsgenie, pagerduty
from afterword.intake.sources.common import Notification, Status, refusal

Parser = Callable[[bytes, Mapping[str, str]], Notification]


def _guarded(name: str, parse: Parser) -> Parser:
    """A payload that passes a source's own model but not the Notification bounds is still a 400."""

    def guarded(body: bytes, headers: Mapping[str, str]) -> Notification:
        try:
            return parse(body, headers)
        except ValidationError as exc:
            raise refusal(exc, f"{name} payload") from None

    return guarded


PARSERS: dict[str, Parser] = {
    module.NAME: _guarded(module.NAME, module.parse) for module in (alertmanager, pagerduty, grafana, opsgenie, generic)
}


def detect_source(data: object) -> str | None:
    """Which source a saved payload came from, by its shape (for replaying files); None if unclear."""
    if not isinstance(data, dict):
        return None
    if data.get("schema") == generic.SCHEMA_V1:
        return generic.NAME
    if isinstance(data.get("event"), dict) and "event_type" in data["event"]:
        return pagerduty.NAME
    if isinstance(data.get("alert"), dict) and "action" in data:
        return opsgenie.NAME
    if "groupKey" in data:
        return grafana.NAME if "orgId" in data or data.get("version") == "1" else alertmanager.NAME
    return None


__all__ = ["PARSERS", "Notification", "Parser", "Status", "detect_source"]
