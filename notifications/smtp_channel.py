"""E-mail over SMTP: STARTTLS (port 587) or implicit TLS (465), optional AUTH, a text part and an HTML part.

Every mail has a `Message-ID` derived from its notification's idempotency key (the same on every retry, so
a receiving system that deduplicates by Message-ID drops a repeat) and `In-Reply-To`/`References` naming
one id per postmortem, so a postmortem's mails thread in the reader's client. `Auto-Submitted:
auto-generated` (RFC 3834) keeps vacation responders quiet.

aiosmtplib speaks SMTP (asyncio, STARTTLS, implicit TLS, AUTH); the stdlib's `email` package builds the
message. One connection is kept open and reused, one mail at a time; a connection the server closed is
opened again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from email.charset import QP, Charset
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import format_datetime, formataddr

import aiosmtplib

from afterword.notifications.channel_base import (
    Envelope,
    Permanent,
    Receipt,
    Rendered,
    Retryable,
    resolve_setting,
    tls_context,
)
from afterword.policies.integrations import resolve_secret
from afterword.policies.notify_schema import SmtpSettings
from afterword.workflows.notices import AddressKind, ChannelAdapter

_WIRE = compat32.clone(linesep="\r\n")  # SMTP's line ending, whichever client sends the bytes
_UTF8_QP = Charset("utf-8")
_UTF8_QP.body_encoding = QP


def message_id(local: str, domain: str) -> str:
    return f"<{local}@{domain}>"


def _header_text(value: str) -> str | Header:
    return value if value.isascii() else Header(value, "utf-8")


def build_mail(message: Rendered, envelope: Envelope, settings: SmtpSettings) -> bytes:
    """The mail as it goes on the wire: multipart/alternative, text then HTML, both quoted-printable UTF-8.

    Built with the stdlib's MIME classes (compat32): the modern EmailMessage API parses every header it is
    given through its header registry, which made a notification's mail cost three times the send itself.
    """
    domain = settings.from_address.rsplit("@", 1)[1]
    # "=_" never occurs in quoted-printable text (it would be "=3D_"): the boundary cannot collide with a body
    mail = MIMEMultipart("alternative", boundary=f"=_afterword_{envelope.delivery_id}")
    mail["Subject"] = _header_text(message.subject)  # type: ignore[assignment]  # compat32 takes a Header
    mail["From"] = formataddr((settings.from_name, settings.from_address), charset="utf-8")
    mail["To"] = formataddr((envelope.display_name, envelope.address or ""), charset="utf-8")
    if settings.reply_to:
        mail["Reply-To"] = settings.reply_to
    mail["Date"] = format_datetime(envelope.at)
    mail["Message-ID"] = message_id(envelope.delivery_id, domain)
    thread = message_id(envelope.thread_id, domain)
    mail["In-Reply-To"] = thread
    mail["References"] = thread
    mail["Auto-Submitted"] = "auto-generated"
    mail["X-Afterword-Event"] = message.kind.value
    # typeshed types the charset as a name; the stdlib takes a Charset too, and only so does it use QP
    mail.attach(MIMEText(message.text, "plain", _UTF8_QP))  # type: ignore[arg-type]
    mail.attach(MIMEText(message.html, "html", _UTF8_QP))  # type: ignore[arg-type]
    return mail.as_bytes(policy=_WIRE)


class SmtpChannel:
    adapter: ChannelAdapter = "smtp"
    address_kind: AddressKind = "email"

    def __init__(self, name: str, settings: SmtpSettings, password: str | None) -> None:
        self.name = name
        self.limits = settings
        self.settings = settings
        self.password = password
        self._smtp: aiosmtplib.SMTP | None = None
        self._lock = asyncio.Lock()

    @classmethod
    def build(cls, name: str, settings: SmtpSettings, resolve: Callable[[str], str] = resolve_secret
              ) -> SmtpChannel:
        password = None if settings.password is None else resolve_setting(settings.password, "password", resolve)
        return cls(name, settings, password)

    def _client(self) -> aiosmtplib.SMTP:
        s = self.settings
        return aiosmtplib.SMTP(
            hostname=s.host, port=s.effective_port, username=s.username, password=self.password,
            use_tls=s.security == "tls", start_tls=s.security == "starttls",
            tls_context=tls_context(s.ca_file), timeout=s.timeout.total_seconds(),
            local_hostname=s.helo_name or s.from_address.rsplit("@", 1)[1],
        )

    async def _connected(self) -> aiosmtplib.SMTP:
        if self._smtp is None or not self._smtp.is_connected:
            smtp = self._client()
            await smtp.connect()
            self._smtp = smtp
        return self._smtp

    async def send(self, message: Rendered, envelope: Envelope) -> Receipt:
        if not envelope.address:
            raise Permanent(f"smtp {self.name}: {envelope.recipient} has no e-mail address in the roster")
        raw = build_mail(message, envelope, self.settings)
        sender, recipients = self.settings.from_address, [envelope.address]
        async with self._lock:
            try:
                try:
                    smtp = await self._connected()
                    _, reply = await smtp.sendmail(sender, recipients, raw)
                except aiosmtplib.SMTPServerDisconnected:
                    # a kept connection the server has since closed: once more on a fresh one
                    self._smtp = None
                    smtp = await self._connected()
                    _, reply = await smtp.sendmail(sender, recipients, raw)
            except aiosmtplib.SMTPException as exc:
                self._smtp = None
                raise _classified(self.name, exc) from None
            except OSError as exc:  # refused connection, reset, TLS failure under the SMTP layer
                self._smtp = None
                raise Retryable(f"smtp {self.name}: {exc}") from None
        return Receipt(provider_id=reply)

    async def close(self) -> None:
        async with self._lock:
            if self._smtp is not None and self._smtp.is_connected:
                try:
                    await self._smtp.quit()
                except (aiosmtplib.SMTPException, OSError):
                    self._smtp.close()
            self._smtp = None


def _classified(name: str, exc: aiosmtplib.SMTPException) -> Retryable | Permanent:
    where = f"smtp {name}"
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return Permanent(f"{where}: authentication refused ({exc.code} {exc.message}); check username and password")
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        text = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
        if codes and all(400 <= c < 500 for c in codes):
            return Retryable(f"{where}: recipient deferred ({text})")
        return Permanent(f"{where}: recipient refused ({text})")
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        if 400 <= exc.code < 500:
            return Retryable(f"{where}: {exc.code} {exc.message}")
        return Permanent(f"{where}: {exc.code} {exc.message}")
    if isinstance(exc, aiosmtplib.SMTPNotSupported):
        return Permanent(f"{where}: {exc}; check the security setting (starttls or tls)")
    cause = exc.__cause__ or exc.__context__
    if (cause is not None and "CERTIFICATE_VERIFY_FAILED" in str(cause)) or "certificate verify failed" in str(exc):
        return Permanent(f"{where}: TLS failed ({cause or exc}); check the server's certificate or set ca_file")
    return Retryable(f"{where}: {exc}")
