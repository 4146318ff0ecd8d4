"""Notifications through the e-mail and webhook channels on loopback: the cost afterword adds per
notification (routing, two template renderings, the idempotency ledger's two commits, signing) over a bare
send of a prebuilt message to the same server, measured in the same run. Checks that every notification
arrived exactly once.

    .venv/bin/python benchmarks/notify.py [--count 1000] [--rounds 3]

The SMTP server is aiosmtpd with STARTTLS and AUTH (a throwaway CA from trustme), the webhook receiver a
stdlib ThreadingHTTPServer speaking HTTP/1.1 keep-alive; both run in a process of their own, so the
receivers' work never competes with the sender's for one interpreter. Baselines: `smtplib` on one STARTTLS connection
sending the same mails prebuilt (the same bytes afterword puts on the wire), and `httpx.Client` posting
the same bodies prebuilt on one kept-alive connection. Both
sides send one message at a time, so the ratio is the per-notification overhead (target: at most 2x).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import re
import smtplib
import socket
import ssl
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from afterword.notifications.channel_base import Channel, Envelope, Rendered
from afterword.notifications.delivery import Deliverer
from afterword.notifications.ledger import Ledger
from afterword.notifications.message_render import Templates
from afterword.notifications.outbox_channel import OutboxChannel
from afterword.notifications.smtp_channel import SmtpChannel, build_mail
from afterword.notifications.webhook_channel import WebhookChannel
from afterword.policies.notify_schema import SmtpSettings, WebhookSettings
from afterword.workflows.notices import (
    ChannelInfo,
    Notice,
    NoticeFacts,
    NoticeKind,
    NotificationRules,
    PersonAddresses,
    Route,
)

USER, PASSWORD, SECRET = "bench", "bench-password", "bench-secret"
MESSAGE_ID = re.compile(rb"^Message-ID: <([^>]+)>", re.M | re.I)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Mailbox:
    def __init__(self) -> None:
        self.ids: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        found = MESSAGE_ID.search(envelope.content)
        self.ids.append(found.group(1).decode() if found else "")
        return "250 2.0.0 queued"


class Hook(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    received: list[str] = []  # delivery ids (or the baseline's sequence numbers)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        Hook.received.append(self.headers.get("X-Afterword-Delivery") or json.loads(body)["id"])
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return None


def receivers(conn: Connection, cert: str, key: str) -> None:
    """The far side, in a process of its own (as it is in real life): an SMTP server with STARTTLS and AUTH,
    and an HTTP receiver. Answers "report" with what each received, and stops on "stop"."""
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    box = Mailbox()

    def check(server: Any, session: Any, envelope: Any, mechanism: str, auth: Any) -> AuthResult:
        return AuthResult(success=isinstance(auth, LoginPassword) and auth.password == PASSWORD.encode(),
                          handled=False)

    smtp_port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=smtp_port, tls_context=server_tls, require_starttls=True,
                            auth_required=True, auth_require_tls=True, authenticator=check)
    controller.start()
    http = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    conn.send((smtp_port, http.server_address[1]))
    while (command := conn.recv()) != "stop":
        if command == "report":
            conn.send((list(box.ids), list(Hook.received)))
    controller.stop()
    http.shutdown()


def rules(channel: str, info: ChannelInfo) -> NotificationRules:
    person = PersonAddresses(handle="alice", name="Alice Example", email="alice@example.com", timezone="Europe/Berlin")
    return NotificationRules(channels={channel: info}, routes=[Route(name="all", channels=[channel])],
                             people={"alice": person})


def notices(count: int, channel: str, info: ChannelInfo, run: str) -> list[Notice]:
    now = datetime.now(UTC)
    facts = NoticeFacts(postmortem_id="pm-bench-1", org="bench", title="Checkout errors", severity="SEV2",
                        service="payments", state="drafting", owner="alice", deadline="draft", due_at=now)
    shared = rules(channel, info)
    return [Notice(key=f"{run}/n{i}", kind=NoticeKind.DRAFT_DUE_SOON, to=["alice"], facts=facts, at=now,
                   rules=shared, thread="pm-bench-1") for i in range(count)]


async def ours(channel: Channel, name: str, info: ChannelInfo, count: int, data: Path, run: str) -> tuple[float, int]:
    ledger = Ledger(data / f"ledger-{run}.sqlite3")
    deliverer = Deliverer({name: channel}, ledger, OutboxChannel("outbox", data / "outbox.jsonl"))
    templates = Templates()
    batch = notices(count, name, info, run)
    await deliverer.deliver(batch[0], templates, None)  # connect (and log in) outside the timing
    start = time.perf_counter()
    failed = 0
    for item in batch[1:]:
        outcome = await deliverer.deliver(item, templates, "http://127.0.0.1:8233/namespaces/default/workflows/pm")
        failed += sum(d.state != "sent" for d in outcome.deliveries)
    elapsed = time.perf_counter() - start
    await channel.close()
    ledger.close()
    return elapsed / (count - 1), failed


def sample(count: int, run: str, address: str | None) -> tuple[Rendered, list[Envelope]]:
    """The message afterword renders for a notice, and envelopes with ids the receivers tell apart."""
    channel = "email" if address else "hook"
    info = ChannelInfo(name=channel, adapter="smtp" if address else "webhook", address="email" if address else "handle")
    first = notices(1, channel, info, run)[0]
    message = Templates().render(first.kind, first.facts, now=first.at, recipient_name="Alice Example",
                                 recipient_handle="alice", zone="Europe/Berlin",
                                 web_link="http://127.0.0.1:8233/namespaces/default/workflows/pm")
    envelopes = [Envelope(recipient="alice", address=address, display_name="Alice Example",
                          delivery_id=f"bare-{run}-{i}", thread_id="thread-bench", at=datetime.now(UTC))
                 for i in range(count)]
    return message, envelopes


def bare_smtp(port: int, client_tls: ssl.SSLContext, count: int, run: str) -> float:
    """smtplib sending the very mails afterword builds, prebuilt: the same bytes on the wire."""
    message, envelopes = sample(count, run, "alice@example.com")
    settings = SmtpSettings(host="127.0.0.1", from_address="postmortems@bench.example")
    raws = [build_mail(message, envelope, settings) for envelope in envelopes]
    with smtplib.SMTP("127.0.0.1", port, local_hostname="bench.example", timeout=10) as smtp:
        smtp.starttls(context=client_tls)
        smtp.login(USER, PASSWORD)
        smtp.sendmail("postmortems@bench.example", ["alice@example.com"], raws[0])
        start = time.perf_counter()
        for raw in raws[1:]:
            smtp.sendmail("postmortems@bench.example", ["alice@example.com"], raw)
        elapsed = time.perf_counter() - start
    return elapsed / (count - 1)


def bare_webhook(url: str, count: int, run: str) -> float:
    """httpx posting the very bodies afterword builds, prebuilt (unsigned: the signature is ours to count)."""
    message, envelopes = sample(count, run, None)
    poster = WebhookChannel("hook", url, [SECRET.encode()], WebhookSettings(url=url, secret="env:S"))
    bodies = [poster.body(message, envelope) for envelope in envelopes]
    with httpx.Client(timeout=10) as client:
        client.post(url, content=bodies[0], headers={"Content-Type": "application/json"})
        start = time.perf_counter()
        for body in bodies[1:]:
            client.post(url, content=body, headers={"Content-Type": "application/json"}).raise_for_status()
        elapsed = time.perf_counter() - start
    return elapsed / (count - 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1000, help="notifications per channel and round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    count = max(2, args.count)

    ca = trustme.CA()
    client_tls = ssl.create_default_context()
    ca.configure_trust(client_tls)
    data = Path(tempfile.mkdtemp(prefix="afterword-notify-bench-"))
    ca_file, cert, key = data / "ca.pem", data / "cert.pem", data / "key.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    issued = ca.issue_cert("127.0.0.1")
    issued.cert_chain_pems[0].write_to_path(str(cert))
    issued.private_key_pem.write_to_path(str(key))
    parent, child = multiprocessing.get_context("spawn").Pipe()
    far_side = multiprocessing.get_context("spawn").Process(target=receivers, args=(child, str(cert), str(key)),
                                                             daemon=True)
    far_side.start()
    smtp_port, hook_port = parent.recv()
    hook_url = f"http://127.0.0.1:{hook_port}/hook"

    def received() -> tuple[list[str], list[str]]:
        parent.send("report")
        mails, hooks = parent.recv()
        return mails, hooks

    def smtp_channel() -> Channel:
        settings = SmtpSettings(host="127.0.0.1", port=smtp_port, username=USER, password="env:X",
                                from_address="postmortems@bench.example", ca_file=ca_file)
        return SmtpChannel.build("email", settings, resolve=lambda ref: PASSWORD)

    def hook_channel() -> Channel:
        settings = WebhookSettings(url=hook_url, secret="env:S")
        return WebhookChannel.build("hook", settings, resolve=lambda ref: SECRET)

    cases: list[tuple[str, Callable[[], Channel], ChannelInfo, Callable[[str], float]]] = [
        ("smtp", smtp_channel, ChannelInfo(name="email", adapter="smtp", address="email"),
         lambda run: bare_smtp(smtp_port, client_tls, count, run)),
        ("webhook", hook_channel, ChannelInfo(name="hook", adapter="webhook", address="handle"),
         lambda run: bare_webhook(hook_url, count, run)),
    ]
    print(f"{count} notifications per channel and round, {args.rounds} rounds, one at a time, loopback")
    worst = 0.0
    try:
        for label, make, info, bare in cases:
            ratios, ours_ms, bare_ms = [], [], []
            for round_ in range(args.rounds):
                run = f"{label}-{round_}"
                before = received()
                base = bare(run)
                per, failed = asyncio.run(ours(make(), info.name, info, count, data, run))
                ours_ms.append(per * 1000)
                bare_ms.append(base * 1000)
                ratios.append(per / base)
                after = received()
                side = 0 if label == "smtp" else 1
                got = after[side][len(before[side]):]
                ours_ids = [i for i in got if not i.startswith("bare-")]
                unique = len(set(ours_ids))
                if failed or unique != count or len(ours_ids) != count:
                    print(f"  {label} round {round_}: {failed} failed, {len(ours_ids)} received, {unique} distinct "
                          f"of {count}: LOSS OR DUPLICATE", file=sys.stderr)
                    return 1
            ratio = statistics.median(ratios)
            worst = max(worst, ratio)
            print(f"{label:8s} afterword {statistics.median(ours_ms):6.3f} ms/notification, bare "
                  f"{statistics.median(bare_ms):6.3f} ms/send: {ratio:.2f}x (rounds: "
                  + ", ".join(f"{r:.2f}" for r in ratios) + f"); {count} of {count} delivered once each round")
    finally:
        parent.send("stop")
        far_side.join(10)
    print(f"worst median ratio {worst:.2f}x (target <= 2x); absolute figures move with the machine's load")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
