"""Real parts for the notification tests: an SMTP server (aiosmtpd) with STARTTLS and AUTH, another with
implicit TLS, and loopback HTTP(S) receivers (pytest-httpserver) that answer as Slack, Teams and webhook
endpoints do. Certificates come from a throwaway CA (trustme) that only these tests trust."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from pytest_httpserver import HTTPServer

from afterword.notifications.ledger import Ledger
from afterword.notifications.message_render import Templates
from afterword.notifications.outbox_channel import OutboxChannel
from tests.notifications.builders import Sleeps, free_port

SMTP_USER, SMTP_PASSWORD = "afterword", "correct horse battery staple"


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture(scope="session")
def server_tls(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@dataclass
class Mailbox:
    """What the SMTP server accepted, and how it should behave next."""

    raw: list[bytes] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    answer_delay: float = 0.0  # hold the reply to DATA (after storing the mail): an answer that comes too late
    refuse_with: str | None = None  # e.g. "451 4.3.0 try again later"
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def messages(self) -> list[EmailMessage]:
        return [message_from_bytes(raw, policy=policy.default) for raw in self.raw]  # type: ignore[misc]

    def wait_for(self, count: int, seconds: float = 5.0) -> list[EmailMessage]:
        deadline = time.monotonic() + seconds
        while len(self.raw) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.messages


class _Handler:
    def __init__(self, box: Mailbox) -> None:
        self.box = box

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        if self.box.refuse_with:
            return self.box.refuse_with
        with self.box.lock:
            self.box.raw.append(bytes(envelope.original_content or envelope.content))  # type: ignore[arg-type]
        if self.box.answer_delay:
            import asyncio

            await asyncio.sleep(self.box.answer_delay)
        return "250 2.0.0 queued"


def _authenticator(box: Mailbox) -> Any:
    def check(server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, auth_data: Any) -> AuthResult:
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login.decode() == SMTP_USER
              and auth_data.password.decode() == SMTP_PASSWORD)
        if ok:
            box.logins.append(SMTP_USER)
        return AuthResult(success=ok, handled=False)

    return check


@dataclass
class SmtpServer:
    port: int
    box: Mailbox


@pytest.fixture
def smtp_starttls(server_tls: ssl.SSLContext) -> Iterator[SmtpServer]:
    """A submission server: STARTTLS required before AUTH, AUTH required before mail."""
    box = Mailbox()
    port = free_port()
    controller = Controller(
        _Handler(box), hostname="127.0.0.1", port=port, tls_context=server_tls, require_starttls=True,
        auth_required=True, auth_require_tls=True, authenticator=_authenticator(box),
    )
    controller.start()
    try:
        yield SmtpServer(port, box)
    finally:
        controller.stop()


@pytest.fixture
def smtp_implicit_tls(server_tls: ssl.SSLContext, ca: trustme.CA) -> Iterator[SmtpServer]:
    """TLS from the first byte (port 465 style), with AUTH."""
    box = Mailbox()
    port = free_port()
    client = ssl.create_default_context()
    ca.configure_trust(client)
    controller = Controller(
        _Handler(box), hostname="127.0.0.1", port=port, ssl_context=server_tls, auth_required=True,
        auth_require_tls=False, authenticator=_authenticator(box),
    )
    # the controller's own readiness probe connects with TLS: it must trust the throwaway CA too
    controller._trigger_server = _tls_trigger(controller, client)  # type: ignore[method-assign]
    controller.start()
    try:
        yield SmtpServer(port, box)
    finally:
        controller.stop()


def _tls_trigger(controller: Controller, client: ssl.SSLContext) -> Any:
    def trigger() -> None:
        with socket.create_connection((controller.hostname, controller.port), timeout=5) as raw, \
                client.wrap_socket(raw, server_hostname=controller.hostname) as sock:
            sock.recv(1024)

    return trigger


@pytest.fixture
def https_server(server_tls: ssl.SSLContext) -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=server_tls)
    server.start()
    try:
        yield server
    finally:
        server.clear()
        if server.is_running():
            server.stop()


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def outbox(tmp_path: Path) -> OutboxChannel:
    return OutboxChannel("outbox", tmp_path / "outbox.jsonl")


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    book = Ledger(tmp_path / "deliveries.sqlite3")
    yield book
    book.close()


@pytest.fixture
def templates() -> Templates:
    return Templates()


