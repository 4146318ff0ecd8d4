"""The [notifications] section as an organisation writes it: channels built at worker start with their
secrets resolved, the mistakes refused with the key to fix, and the activity that ties it together."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from temporalio.testing import ActivityEnvironment

from afterword.activities.notify import NotifyActivities
from afterword.notifications.channel_base import ChannelConfigError
from afterword.notifications.channel_registry import build_channels, channel_infos
from afterword.policies.integrations import resolve_secret
from afterword.policies.notify_schema import NotificationsPolicy
from afterword.settings import Settings
from afterword.workflows.notices import NoticeKind
from tests.notifications.builders import notice, people, rules

SECTION = """
[channels.email]
adapter = "smtp"
[channels.email.settings]
host = "smtp.example.com"
username = "postmortems"
password = "env:AFTERWORD_TEST_SMTP_PASSWORD"
from_address = "postmortems@example.com"

[channels.chat]
adapter = "slack"
[channels.chat.settings]
bot_token = "env:AFTERWORD_TEST_SLACK_TOKEN"

[channels.bridge]
adapter = "webhook"
[channels.bridge.settings]
url = "https://bridge.example.com/afterword"
secret = "file:/nonexistent/afterword-test-secret"

[[routes]]
name = "sev1"
severities = ["SEV1"]
to = ["channel:bridge"]

[[routes]]
name = "people"
channels = ["chat", "email"]
"""


def section(text: str = SECTION) -> NotificationsPolicy:
    return NotificationsPolicy.model_validate(tomllib.loads(text))


def test_a_channel_whose_secret_is_missing_stops_the_worker_naming_the_key(tmp_path: Path) -> None:
    env = {"AFTERWORD_TEST_SMTP_PASSWORD": "pw", "AFTERWORD_TEST_SLACK_TOKEN": "xoxb-1"}
    with pytest.raises(ChannelConfigError) as err:
        build_channels(section().channels, tmp_path / "outbox.jsonl", resolve=lambda ref: resolve_secret(ref, env))
    assert err.value.key == "notifications.channels.bridge.settings.secret"
    assert "cannot read the file" in str(err.value)
    del env["AFTERWORD_TEST_SLACK_TOKEN"]
    with pytest.raises(ChannelConfigError, match="AFTERWORD_TEST_SLACK_TOKEN is not set"):
        build_channels(section().channels, tmp_path / "outbox.jsonl", resolve=lambda ref: resolve_secret(ref, env))


def test_the_section_refuses_what_routing_could_not_serve() -> None:
    text = SECTION.replace('channels = ["chat", "email"]', 'channels = ["chat", "pager"]').replace(
        'to = ["channel:bridge"]', 'to = ["channel:nowhere", "zoe"]').replace('severities = ["SEV1"]',
                                                                              'severities = ["SEV0"]')
    problems = dict(section(text).problems(list(people().values()), ["SEV1", "SEV2", "SEV3"]))
    assert "unknown channel 'pager'" in problems[("routes", 1, "channels", 1)]
    assert "channel:nowhere: no channel of that name" in problems[("routes", 0, "to", 0)]
    assert "'zoe' is not in the roster" in problems[("routes", 0, "to", 1)]
    assert "unknown severity 'SEV0'" in problems[("routes", 0, "severities", 0)]
    # bob has neither a Slack id nor (for this route, which lost e-mail) any other way in
    assert "bob has no slack address" in problems[("routes", 1, "channels")]
    assert section().problems(list(people().values()), ["SEV1", "SEV2"]) == []


@pytest.mark.parametrize(("change", "message"), [
    ('host = "smtp.example.com"', 'host = "smtp.example.com"\nsecurity = "none"'),
    ('from_address = "postmortems@example.com"', 'from_address = "postmortems at example"'),
    ('url = "https://bridge.example.com/afterword"', 'url = "http://bridge.example.com/afterword"'),
    ('bot_token = "env:AFTERWORD_TEST_SLACK_TOKEN"', 'bot_token = "xoxb-123-456"'),
    ('adapter = "slack"', 'adapter = "carrier-pigeon"'),
])
def test_bad_channel_settings_are_refused_when_the_policy_is_read(change: str, message: str) -> None:
    with pytest.raises(ValueError):
        section(SECTION.replace(change, message, 1))


async def test_the_activity_delivers_through_the_workers_channels_and_reports_each_delivery(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, embedded_ui_port=18233)
    outbox_only = channel_infos(NotificationsPolicy().channels)
    activities = NotifyActivities(settings, {"acme": build_channels({}, settings.outbox_path)})
    event = notice(NoticeKind.REVIEW_REQUESTED, ["carol", "role:manager"], rules(outbox_only, []))
    outcome = await ActivityEnvironment().run(activities.deliver_notice, event)
    assert [(d.recipient, d.channel, d.state) for d in outcome.deliveries] == [
        ("carol", "outbox", "sent"), ("bob", "outbox", "sent")]
    lines = [json.loads(line) for line in settings.outbox_path.read_text().splitlines()]
    assert [line["to"] for line in lines] == ["carol", "bob"]
    assert "http://127.0.0.1:18233/namespaces/default/workflows/pm-acme-checkout-1a2b" in lines[0]["text"]
    # the same notice again (a retried activity): nothing more is written
    again = await ActivityEnvironment().run(activities.deliver_notice, event)
    assert all("already delivered" in d.detail for d in again.deliveries)
    assert len(settings.outbox_path.read_text().splitlines()) == 2
