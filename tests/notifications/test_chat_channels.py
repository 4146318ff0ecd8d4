"""Slack, Teams and the signed webhook against loopback receivers that answer as the vendors document:
the request shapes, the signature, and the failure paths (500, 429 with Retry-After, timeouts, TLS)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from afterword.notifications.channel_base import ChannelConfigError
from afterword.notifications.ledger import Ledger, delivery_id, delivery_key
from afterword.notifications.message_render import Templates
from afterword.notifications.outbox_channel import OutboxChannel
from afterword.notifications.slack_channel import SlackChannel, to_mrkdwn
from afterword.notifications.teams_channel import CARD_CONTENT_TYPE, TeamsChannel
from afterword.notifications.webhook_channel import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookChannel,
    verify_signature,
)
from afterword.policies.notify_schema import SlackSettings, TeamsSettings, WebhookSettings
from afterword.workflows.notices import ChannelInfo, ItemFacts, NoticeKind, Route
from tests.notifications.builders import NOW, Sleeps, deliverer, notice, rules

SLACK = {"slack": ChannelInfo(name="slack", adapter="slack", address="slack"),
         "email": ChannelInfo(name="email", adapter="smtp", address="email")}
VIA_SLACK = [Route(name="chat", channels=["slack"])]
FAST = {"backoff": "0.01s", "timeout": "2s"}


def slack_webhook(url: str, **changes: object) -> SlackChannel:
    settings = SlackSettings.model_validate({"webhook_url": "env:SLACK_WEBHOOK", **FAST, **changes})
    return SlackChannel.build("slack", settings, resolve=lambda ref: url)


def slack_bot(api: str, **changes: object) -> SlackChannel:
    settings = SlackSettings.model_validate({"bot_token": "env:SLACK_TOKEN", "api_url": api, **FAST, **changes})
    return SlackChannel.build("slack", settings, resolve=lambda ref: "xoxb-test-token")


class Answers:
    """A receiver that gives the listed answers in turn (the last one from then on) and keeps the requests."""

    def __init__(self, *answers: Response) -> None:
        self.answers = list(answers)
        self.requests: list[tuple[dict[str, str], bytes]] = []

    def __call__(self, request: Request) -> Response:
        self.requests.append((dict(request.headers), request.get_data()))
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]

    def bodies(self) -> list[dict[str, object]]:
        return [json.loads(body) for _, body in self.requests]


async def test_slack_incoming_webhook_gets_block_kit_with_a_mention(
        httpserver: HTTPServer, ledger: Ledger, outbox: OutboxChannel, sleeps: Sleeps, templates: Templates) -> None:
    receiver = Answers(Response("ok", content_type="text/plain"))
    httpserver.expect_request("/services/T000/B000/XXXX", method="POST").respond_with_handler(receiver)
    channel = slack_webhook(httpserver.url_for("/services/T000/B000/XXXX"))
    outcome = await deliverer({"slack": channel}, ledger, outbox, sleeps).deliver(
        notice(NoticeKind.REVIEW_REQUESTED, ["alice"], rules(SLACK, VIA_SLACK), title="Checkout <!channel> & co"),
        templates, "http://127.0.0.1:8233/namespaces/default/workflows/pm-acme-checkout-1a2b")
    await channel.close()
    assert [d.state for d in outcome.deliveries] == ["sent"]
    (body,) = receiver.bodies()
    assert body["unfurl_links"] is False
    assert isinstance(body["text"], str) and body["text"].startswith("<@U0ALICE> ")
    blocks = body["blocks"]
    assert isinstance(blocks, list)
    assert [b["type"] for b in blocks] == ["header", "section", "section", "context", "actions"]
    assert blocks[0]["text"] == {"type": "plain_text", "text": "[SEV2] Review requested: Checkout <!channel> & co"}
    section = blocks[1]["text"]["text"]
    assert section.startswith("<@U0ALICE> ") and "*Checkout &lt;!channel&gt; &amp; co*" in section
    assert "`afterword approve pm-acme-checkout-1a2b`" in blocks[3]["elements"][0]["text"]
    assert blocks[4]["elements"][0]["url"] == "http://127.0.0.1:8233/namespaces/default/workflows/pm-acme-checkout-1a2b"


async def test_slack_chat_post_message_with_a_bot_token(httpserver: HTTPServer, ledger: Ledger,
                                                         outbox: OutboxChannel, sleeps: Sleeps,
                                                         templates: Templates) -> None:
    receiver = Answers(Response(json.dumps({"ok": True, "channel": "D0ALICE", "ts": "1712345678.000100"}),
                                content_type="application/json"))
    httpserver.expect_request("/api/chat.postMessage", method="POST").respond_with_handler(receiver)
    channel = slack_bot(httpserver.url_for("/api/"))
    outcome = await deliverer({"slack": channel}, ledger, outbox, sleeps).deliver(
        notice(NoticeKind.OWNER_ASSIGNED, ["alice"], rules(SLACK, VIA_SLACK)), templates, None)
    await channel.close()
    assert outcome.deliveries[0].state == "sent" and outcome.deliveries[0].detail == "1712345678.000100"
    headers, raw = receiver.requests[0]
    assert headers["Authorization"] == "Bearer xoxb-test-token"
    sent = json.loads(raw) if headers.get("Content-Type", "").startswith("application/json") else None
    assert sent is not None and sent["channel"] == "U0ALICE"  # no channel set: a direct message to the person
    assert sent["blocks"][0]["type"] == "header"


async def test_slack_429_waits_for_retry_after_then_delivers(httpserver: HTTPServer, ledger: Ledger,
                                                             outbox: OutboxChannel, sleeps: Sleeps,
                                                             templates: Templates) -> None:
    receiver = Answers(
        Response(json.dumps({"ok": False, "error": "ratelimited"}), status=429, headers={"Retry-After": "7"},
                 content_type="application/json"),
        Response(json.dumps({"ok": True, "ts": "1.2"}), content_type="application/json"),
    )
    httpserver.expect_request("/api/chat.postMessage").respond_with_handler(receiver)
    channel = slack_bot(httpserver.url_for("/api/"), channel="C0INCIDENTS")
    outcome = await deliverer({"slack": channel}, ledger, outbox, sleeps).deliver(
        notice(NoticeKind.DRAFT_OVERDUE, ["alice"], rules(SLACK, VIA_SLACK)), templates, None)
    await channel.close()
    assert sleeps.waits == [7.0]
    assert outcome.deliveries[0].state == "sent" and outcome.deliveries[0].attempts == 2
    assert [b["channel"] for b in receiver.bodies()] == ["C0INCIDENTS", "C0INCIDENTS"]


async def test_a_retry_after_beyond_max_wait_falls_back_to_the_next_channel(
        httpserver: HTTPServer, ledger: Ledger, outbox: OutboxChannel, sleeps: Sleeps, templates: Templates) -> None:
    receiver = Answers(Response("rate limited", status=429, headers={"Retry-After": "3600"}))
    httpserver.expect_request("/hook").respond_with_handler(receiver)
    channel = slack_webhook(httpserver.url_for("/hook"), max_wait="2m")
    routes = [Route(name="chat-then-mail", channels=["slack", "email"])]
    outcome = await deliverer({"slack": channel}, ledger, outbox, sleeps).deliver(
        notice(NoticeKind.DRAFT_OVERDUE, ["alice"], rules(SLACK, routes)), templates, None)
    await channel.close()
    assert sleeps.waits == []
    assert [(d.channel, d.state) for d in outcome.deliveries] == [
        ("slack", "failed"), ("email", "failed"), ("outbox", "outbox")]
    assert "Retry-After exceeds max_wait" in outcome.deliveries[0].detail
    assert "not configured on this worker" in outcome.deliveries[1].detail


async def test_slack_errors_that_retrying_cannot_fix_are_not_retried(httpserver: HTTPServer, ledger: Ledger,
                                                                     outbox: OutboxChannel, sleeps: Sleeps,
                                                                     templates: Templates) -> None:
    receiver = Answers(Response(json.dumps({"ok": False, "error": "invalid_auth"}), content_type="application/json"))
    httpserver.expect_request("/api/chat.postMessage").respond_with_handler(receiver)
    channel = slack_bot(httpserver.url_for("/api/"))
    outcome = await deliverer({"slack": channel}, ledger, outbox, sleeps).deliver(
        notice(NoticeKind.OWNER_ASSIGNED, ["alice"], rules(SLACK, VIA_SLACK)), templates, None)
    await channel.close()
    assert len(receiver.requests) == 1
    assert outcome.deliveries[0].state == "failed" and "invalid_auth" in outcome.deliveries[0].detail
    assert outcome.deliveries[-1].state == "outbox"


async def test_a_5xx_is_retried_with_backoff_and_then_fails_over(httpserver: HTTPServer, ledger: Ledger,
                                                                 outbox: OutboxChannel, sleeps: Sleeps,
                                                                 templates: Templates) -> None:
    receiver = Answers(Response("rollup_error", status=500))
    httpserver.expect_request("/hook").respond_with_handler(receiver)
    channel = slack_webhook(httpserver.url_for("/hook"), attempts=3, backoff="2s")
    outcome = await deliverer({"slack": channel}, ledger, outbox, sleeps).deliver(
        notice(NoticeKind.OWNER_ASSIGNED, ["alice"], rules(SLACK, VIA_SLACK)), templates, None)
    await channel.close()
    assert len(receiver.requests) == 3
    assert len(sleeps.waits) == 2 and 1.6 <= sleeps.waits[0] <= 2.4 and 3.2 <= sleeps.waits[1] <= 4.8
    assert outcome.deliveries[0].state == "failed" and "HTTP 500" in outcome.deliveries[0].detail
    assert outcome.deliveries[-1].state == "outbox"


async def test_a_receiver_that_does_not_answer_in_time_is_retried(httpserver: HTTPServer, ledger: Ledger,
                                                                  outbox: OutboxChannel, sleeps: Sleeps,
                                                                  templates: Templates,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", "afterword.notify")
    calls: list[float] = []

    def slow_then_fine(request: Request) -> Response:
        calls.append(time.monotonic())
        if len(calls) == 1:
            time.sleep(1.5)
        return Response("", status=202)

    httpserver.expect_request("/teams").respond_with_handler(slow_then_fine)
    channel = TeamsChannel.build("teams", TeamsSettings.model_validate(
        {"webhook_url": "env:TEAMS_URL", "timeout": "0.5s", "backoff": "0.01s"}),
        resolve=lambda ref: httpserver.url_for("/teams"))
    routes = [Route(name="teams", channels=["teams"])]
    outcome = await deliverer({"teams": channel}, ledger, outbox, sleeps).deliver(
        notice(NoticeKind.OWNER_ASSIGNED, ["alice"],
               rules({"teams": ChannelInfo(name="teams", adapter="teams", address="teams")}, routes)),
        templates, None)
    await channel.close()
    # the first try timed out; one of the next (the receiver answers one request at a time) got through
    assert outcome.deliveries[0].state == "sent" and outcome.deliveries[0].attempts >= 2
    assert "no answer within 0.5 s" in " ".join(r.getMessage() for r in caplog.records)


async def test_an_untrusted_certificate_is_a_tls_error_that_is_not_retried(
        https_server: HTTPServer, ledger: Ledger, outbox: OutboxChannel, sleeps: Sleeps, templates: Templates,
        ca_file: Path) -> None:
    https_server.expect_request("/hook").respond_with_data("ok")
    url = https_server.url_for("/hook")
    assert url.startswith("https://")
    untrusting = slack_webhook(url)
    outcome = await deliverer({"slack": untrusting}, ledger, outbox, sleeps).deliver(
        notice(NoticeKind.OWNER_ASSIGNED, ["alice"], rules(SLACK, VIA_SLACK), key="n-tls-1"), templates, None)
    await untrusting.close()
    assert outcome.deliveries[0].state == "failed" and outcome.deliveries[0].attempts == 1
    assert "TLS failed" in outcome.deliveries[0].detail
    trusting = slack_webhook(url, ca_file=str(ca_file))  # the same receiver, its CA configured: delivered
    outcome = await deliverer({"slack": trusting}, ledger, outbox, sleeps).deliver(
        notice(NoticeKind.OWNER_ASSIGNED, ["alice"], rules(SLACK, VIA_SLACK), key="n-tls-2"), templates, None)
    await trusting.close()
    assert outcome.deliveries[0].state == "sent"


async def test_teams_gets_an_adaptive_card_mentioning_the_person(httpserver: HTTPServer, ledger: Ledger,
                                                                 outbox: OutboxChannel, sleeps: Sleeps,
                                                                 templates: Templates) -> None:
    receiver = Answers(Response("", status=202))
    httpserver.expect_request("/workflows/abc/triggers/manual/paths/invoke").respond_with_handler(receiver)
    channel = TeamsChannel.build("teams", TeamsSettings.model_validate({"webhook_url": "env:TEAMS_URL", **FAST}),
                                 resolve=lambda ref: httpserver.url_for("/workflows/abc/triggers/manual/paths/invoke"))
    routes = [Route(name="teams", channels=["teams"])]
    outcome = await deliverer({"teams": channel}, ledger, outbox, sleeps).deliver(
        notice(NoticeKind.DRAFT_OVERDUE, ["alice"],
               rules({"teams": ChannelInfo(name="teams", adapter="teams", address="teams")}, routes)),
        templates, "https://temporal.example/namespaces/default/workflows/pm-acme-checkout-1a2b")
    await channel.close()
    assert outcome.deliveries[0].state == "sent"
    (body,) = receiver.bodies()
    assert body["type"] == "message"
    (attachment,) = body["attachments"]  # type: ignore[misc]
    assert attachment["contentType"] == CARD_CONTENT_TYPE
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    assert card["body"][0]["text"] == "[SEV2] OVERDUE postmortem draft: Checkout errors"
    assert card["body"][1]["text"].startswith("<at>Alice Example</at>: ")
    assert card["msteams"]["entities"] == [{"type": "mention", "text": "<at>Alice Example</at>",
                                            "mentioned": {"id": "29:alice-aad-id", "name": "Alice Example"}}]
    assert {"title": "Severity", "value": "SEV2"} in card["body"][2]["facts"]
    assert card["actions"][0]["url"].endswith("/workflows/pm-acme-checkout-1a2b")


async def test_the_generic_webhook_is_signed_with_both_secrets_and_keeps_its_delivery_id(
        httpserver: HTTPServer, ledger: Ledger, outbox: OutboxChannel, sleeps: Sleeps, templates: Templates) -> None:
    receiver = Answers(Response("busy", status=503), Response("", status=204))
    httpserver.expect_request("/bridge").respond_with_handler(receiver)
    secrets = {"env:HOOK_SECRET": "new-secret", "env:HOOK_SECRET_OLD": "old-secret"}
    channel = WebhookChannel.build("bridge", WebhookSettings.model_validate({
        "url": httpserver.url_for("/bridge"), "secret": "env:HOOK_SECRET", "previous_secret": "env:HOOK_SECRET_OLD",
        **FAST}), resolve=secrets.__getitem__)
    routes = [Route(name="bridge", channels=["bridge"])]
    event = notice(NoticeKind.ACTION_OVERDUE, ["bob"],
                   rules({"bridge": ChannelInfo(name="bridge", adapter="webhook", address="handle")}, routes),
                   key="pm-acme-1/ai-1/n3", item=ItemFacts(item_id="ai-1", title="Bound the pool size", owner="bob",
                                                           due=NOW, success_criterion="no pool exhaustion for 30 days"))
    outcome = await deliverer({"bridge": channel}, ledger, outbox, sleeps).deliver(event, templates, None)
    await channel.close()
    assert outcome.deliveries[0].state == "sent" and outcome.deliveries[0].attempts == 2
    expected_id = delivery_id(delivery_key("pm-acme-1/ai-1/n3", "bob", "bridge"))
    for headers, raw in receiver.requests:
        assert headers[DELIVERY_HEADER] == expected_id  # the same on the retry: the receiver can drop repeats
        signature, stamp = headers[SIGNATURE_HEADER], headers[TIMESTAMP_HEADER]
        assert verify_signature(b"new-secret", stamp, raw, signature)
        assert verify_signature(b"old-secret", stamp, raw, signature)  # receivers not yet rotated still accept
        assert not verify_signature(b"another-secret", stamp, raw, signature)
        assert not verify_signature(b"new-secret", stamp, raw + b" ", signature)
        assert not verify_signature(b"new-secret", str(int(stamp) - 3600), raw, signature)
    body = receiver.bodies()[0]
    assert body["event"] == "action_overdue" and body["id"] == expected_id
    assert body["recipient"] == {"handle": "bob", "name": "Bob Example", "email": "bob@example.com"}


def test_endpoints_must_be_https_outside_loopback_and_secrets_references() -> None:
    settings = SlackSettings.model_validate({"webhook_url": "env:SLACK_WEBHOOK"})
    with pytest.raises(ChannelConfigError, match=r"webhook_url: .*plain HTTP outside loopback"):
        SlackChannel.build("slack", settings, resolve=lambda ref: "http://hooks.example.com/services/T/B/X")
    with pytest.raises(ChannelConfigError, match=r"webhook_url: .*SLACK_WEBHOOK is not set"):
        SlackChannel.build("slack", settings, resolve=_unset)
    with pytest.raises(ValueError, match="exactly one of webhook_url"):
        SlackSettings.model_validate({})
    with pytest.raises(ValueError, match="never the value"):
        SlackSettings.model_validate({"bot_token": "xoxb-1234"})


def _unset(ref: str) -> str:
    from afterword.policies.integrations import resolve_secret

    return resolve_secret(ref, env={})


def test_mrkdwn_escapes_what_slack_reads_as_markup() -> None:
    assert to_mrkdwn("**a** <b> & [x](https://e.example) \\[y\\]") == "*a* &lt;b&gt; &amp; <https://e.example|x> [y]"
