"""E-mail through a real SMTP server (aiosmtpd on loopback) with STARTTLS and AUTH, read back with the
standard `email` parser: headers, both parts, threading, and nothing sent twice."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from afterword.notifications.ledger import Ledger
from afterword.notifications.message_render import Templates
from afterword.notifications.outbox_channel import OutboxChannel
from afterword.notifications.smtp_channel import SmtpChannel
from afterword.policies.notify_schema import SmtpSettings
from afterword.workflows.notices import ChannelInfo, NoticeKind, Route
from tests.notifications.builders import NOW, Sleeps, deliverer, notice, rules
from tests.notifications.conftest import SMTP_PASSWORD, SMTP_USER, SmtpServer

EMAIL = {"email": ChannelInfo(name="email", adapter="smtp", address="email")}
TO_EMAIL = [Route(name="mail", channels=["email"])]


def smtp(port: int, ca_file: Path | None, **changes: object) -> SmtpChannel:
    settings = SmtpSettings.model_validate({
        "host": "127.0.0.1", "port": port, "security": "starttls", "username": SMTP_USER,
        "password": "env:SMTP_PASSWORD", "from_address": "postmortems@acme.example", "ca_file": ca_file,
        "backoff": "0.01s", "timeout": "5s", **changes,
    })
    return SmtpChannel.build("email", settings, resolve=lambda ref: SMTP_PASSWORD)


async def test_a_reminder_arrives_over_starttls_with_auth_both_parts_and_threading(
        smtp_starttls: SmtpServer, ca_file: Path, ledger: Ledger, outbox: OutboxChannel, sleeps: Sleeps,
        templates: Templates) -> None:
    channel = smtp(smtp_starttls.port, ca_file)
    send = deliverer({"email": channel}, ledger, outbox, sleeps)
    first = notice(NoticeKind.DRAFT_DUE_SOON, ["alice"], rules(EMAIL, TO_EMAIL), key="pm-acme-1/n1",
                   due_at=NOW + timedelta(hours=20))
    second = notice(NoticeKind.DRAFT_OVERDUE, ["alice"], rules(EMAIL, TO_EMAIL), key="pm-acme-1/n2",
                    at=NOW + timedelta(hours=21), due_at=NOW + timedelta(hours=20))
    outcomes = [await send.deliver(first, templates, "http://127.0.0.1:8233/namespaces/default/workflows/pm-1"),
                await send.deliver(second, templates, None)]
    await channel.close()

    assert [d.state for o in outcomes for d in o.deliveries] == ["sent", "sent"]
    assert smtp_starttls.box.logins == [SMTP_USER]  # one connection, kept open for the second mail
    mails = smtp_starttls.box.wait_for(2)
    assert len(mails) == 2
    mail = mails[0]
    assert mail["To"] == "Alice Example <alice@example.com>"
    assert mail["From"] == "afterword <postmortems@acme.example>"
    assert mail["Subject"] == "[SEV2] Postmortem draft due Wed 05 Mar 2025 07:00 CET: Checkout errors"
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail.get_content_type() == "multipart/alternative"
    text = mail.get_body(preferencelist=("plain",))
    html = mail.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    assert "afterword draft submit pm-acme-checkout-1a2b FILE" in text.get_content()
    assert "(in 20 h)" in text.get_content()  # the due time in Alice's zone, and how far off it is
    assert '<a href="http://127.0.0.1:8233/namespaces/default/workflows/pm-1">' in html.get_content()
    # one thread per postmortem: both mails refer to the same root, each has its own Message-ID
    ids = [m["Message-ID"] for m in mails]
    assert len(set(ids)) == 2 and all(i.endswith("@acme.example>") for i in ids)
    assert mails[0]["References"] == mails[1]["References"] == mails[1]["In-Reply-To"]


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # the TLS is implicit
async def test_implicit_tls_delivers(smtp_implicit_tls: SmtpServer, ca_file: Path, ledger: Ledger,
                                     outbox: OutboxChannel, sleeps: Sleeps, templates: Templates) -> None:
    channel = smtp(smtp_implicit_tls.port, ca_file, security="tls")
    outcome = await deliverer({"email": channel}, ledger, outbox, sleeps).deliver(
        notice(NoticeKind.REVIEW_REQUESTED, ["bob"], rules(EMAIL, TO_EMAIL)), templates, None)
    await channel.close()
    assert [d.state for d in outcome.deliveries] == ["sent"]
    assert smtp_implicit_tls.box.wait_for(1)[0]["To"] == "Bob Example <bob@example.com>"


async def test_a_retried_activity_sends_nothing_twice(smtp_starttls: SmtpServer, ca_file: Path, ledger: Ledger,
                                                      outbox: OutboxChannel, sleeps: Sleeps,
                                                      templates: Templates) -> None:
    """The server accepted the mail; the activity is run again (its worker died before Temporal heard it
    complete): the ledger knows the delivery went out."""
    event = notice(NoticeKind.OWNER_ASSIGNED, ["alice"], rules(EMAIL, TO_EMAIL))
    channel = smtp(smtp_starttls.port, ca_file)
    first = await deliverer({"email": channel}, ledger, outbox, sleeps).deliver(event, templates, None)
    await channel.close()
    again = smtp(smtp_starttls.port, ca_file)  # a fresh worker process: new connection, same data directory
    retried = await deliverer({"email": again}, Ledger(ledger.path), outbox, sleeps).deliver(event, templates, None)
    await again.close()
    assert [d.state for d in first.deliveries] == [d.state for d in retried.deliveries] == ["sent"]
    assert "already delivered" in retried.deliveries[0].detail
    assert len(smtp_starttls.box.wait_for(1)) == 1


async def test_an_answer_that_comes_too_late_is_sent_again_with_the_same_message_id(
        smtp_starttls: SmtpServer, ca_file: Path, ledger: Ledger, outbox: OutboxChannel, sleeps: Sleeps,
        templates: Templates) -> None:
    """The server stored the mail but its 250 came after our timeout: we cannot know it went out, so it goes
    again, and the receiving side can drop the repeat by its Message-ID."""
    smtp_starttls.box.answer_delay = 1.5
    channel = smtp(smtp_starttls.port, ca_file, timeout="0.5s", attempts=2)
    outcome = await deliverer({"email": channel}, ledger, outbox, sleeps).deliver(
        notice(NoticeKind.OWNER_ASSIGNED, ["alice"], rules(EMAIL, TO_EMAIL)), templates, None)
    smtp_starttls.box.answer_delay = 0
    await channel.close()
    mails = smtp_starttls.box.wait_for(2)
    assert len({m["Message-ID"] for m in mails}) == 1
    assert outcome.deliveries[0].attempts == 2


async def test_refused_authentication_falls_back_to_the_next_channel_then_the_outbox(
        smtp_starttls: SmtpServer, ca_file: Path, ledger: Ledger, outbox: OutboxChannel, sleeps: Sleeps,
        templates: Templates) -> None:
    channel = SmtpChannel.build("email", SmtpSettings.model_validate({
        "host": "127.0.0.1", "port": smtp_starttls.port, "username": SMTP_USER, "password": "env:X",
        "from_address": "postmortems@acme.example", "ca_file": ca_file, "backoff": "0.01s",
    }), resolve=lambda ref: "wrong password")
    outcome = await deliverer({"email": channel}, ledger, outbox, sleeps).deliver(
        notice(NoticeKind.DRAFT_OVERDUE, ["alice"], rules(EMAIL, TO_EMAIL)), templates, None)
    await channel.close()
    failed, fallback = outcome.deliveries
    assert failed.state == "failed" and failed.attempts == 1  # retrying a refused password cannot help
    assert "authentication refused" in failed.detail
    assert fallback.state == "outbox"
    line = json.loads(outbox.path.read_text().splitlines()[0])
    assert line["to"] == "alice" and "authentication refused" in line["undelivered"]
    assert sleeps.waits == []
    assert smtp_starttls.box.raw == []


async def test_a_temporary_refusal_is_retried_with_backoff(smtp_starttls: SmtpServer, ca_file: Path,
                                                           ledger: Ledger, outbox: OutboxChannel,
                                                           sleeps: Sleeps, templates: Templates) -> None:
    smtp_starttls.box.refuse_with = "451 4.3.0 try again later"
    channel = smtp(smtp_starttls.port, ca_file, attempts=3, backoff="1s")
    outcome = await deliverer({"email": channel}, ledger, outbox, sleeps).deliver(
        notice(NoticeKind.OWNER_ASSIGNED, ["alice"], rules(EMAIL, TO_EMAIL)), templates, None)
    await channel.close()
    assert outcome.deliveries[0].state == "failed" and outcome.deliveries[0].attempts == 3
    assert "451" in outcome.deliveries[0].detail
    assert len(sleeps.waits) == 2 and 0.8 <= sleeps.waits[0] <= 1.2 and 1.6 <= sleeps.waits[1] <= 2.4


async def test_a_server_whose_certificate_is_not_trusted_is_a_permanent_failure(
        smtp_starttls: SmtpServer, ledger: Ledger, outbox: OutboxChannel, sleeps: Sleeps,
        templates: Templates) -> None:
    channel = smtp(smtp_starttls.port, None)  # the public roots only: the test CA is unknown
    outcome = await deliverer({"email": channel}, ledger, outbox, sleeps).deliver(
        notice(NoticeKind.OWNER_ASSIGNED, ["alice"], rules(EMAIL, TO_EMAIL)), templates, None)
    await channel.close()
    assert outcome.deliveries[0].state == "failed"
    assert "certificate" in outcome.deliveries[0].detail.lower()
    assert outcome.deliveries[-1].state == "outbox"


def test_plain_text_smtp_is_refused_outside_loopback() -> None:
    with pytest.raises(ValueError, match="plain text: only to loopback"):
        SmtpSettings.model_validate({"host": "mail.example.com", "security": "none",
                                     "from_address": "a@example.com"})
    with pytest.raises(ValueError, match="not a valid e-mail address"):
        SmtpSettings.model_validate({"host": "mail.example.com", "from_address": "postmortems@"})
    with pytest.raises(ValueError, match="reference"):
        SmtpSettings.model_validate({"host": "mail.example.com", "from_address": "a@example.com",
                                     "username": "u", "password": "hunter2"})


async def test_non_ascii_subjects_and_names_survive_the_trip(smtp_starttls: SmtpServer, ca_file: Path, ledger: Ledger,
                                                             outbox: OutboxChannel, sleeps: Sleeps,
                                                             templates: Templates) -> None:
    channel = smtp(smtp_starttls.port, ca_file)
    title = "Zahlungsfehler in München — Kasse antwortet nicht mehr, seit der Umstellung auf den neuen Anbieter"
    outcome = await deliverer({"email": channel}, ledger, outbox, sleeps).deliver(
        notice(NoticeKind.APPROVED, ["alice"], rules(EMAIL, TO_EMAIL), title=title, actor="Jürgen"), templates, None)
    await channel.close()
    assert outcome.deliveries[0].state == "sent"
    (mail,) = smtp_starttls.box.wait_for(1)
    assert mail["Subject"] == f"[SEV2] Approved: {title}"
    text = mail.get_body(preferencelist=("plain",))
    assert text is not None and "Jürgen approved the postmortem" in text.get_content()


def test_the_mail_on_the_wire_has_crlf_lines_within_the_limit(templates: Templates) -> None:
    from datetime import UTC, datetime

    from afterword.notifications.channel_base import Envelope
    from afterword.notifications.smtp_channel import build_mail

    event = notice(NoticeKind.DRAFT_OVERDUE, ["alice"], rules(EMAIL, TO_EMAIL), title="x" * 300)
    message = templates.render(event.kind, event.facts, now=NOW, recipient_name="Alice", recipient_handle="alice",
                               zone="UTC", web_link=None)
    raw = build_mail(message, Envelope(recipient="alice", address="alice@example.com", display_name="Alice",
                                       delivery_id="d1", thread_id="t1", at=datetime.now(UTC)),
                     SmtpSettings(host="127.0.0.1", from_address="p@example.com"))
    assert b"\n" not in raw.replace(b"\r\n", b"")  # smtplib, for one, sends bytes as they are
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998  # RFC 5322's limit
