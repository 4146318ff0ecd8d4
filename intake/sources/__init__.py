"""One module per alert source; each exposes `NAME` and `parse(body, headers) -> Notification`."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from afterword.intake.sources import alertmanager, generic, grafana, opsgenie, pagerduty
from afterword.intake.sources.base import Notification, Status

Parser = Callable[[bytes, Mapping[str, str]], Notification]

PARSERS: dict[str, Parser] = {
    alertmanager.NAME: alertmanager.parse,
    pagerduty.NAME: pagerduty.parse,
    grafana.NAME: grafana.parse,
    opsgenie.NAME: opsgenie.parse,
    generic.NAME: generic.parse,
}

__all__ = ["PARSERS", "Notification", "Parser", "Status"]
