"""Outgoing mail over real SMTP: the outbox's e-mail adapter against an aiosmtpd server.

The server requires STARTTLS with a certificate of the test CA; Django's SMTP backend
verifies it (the CA is made trusted through SSL_CERT_FILE, as a private CA would be in
production). What the server received is parsed back and compared field by field.
"""

import smtplib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
import time_machine
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from firstline.core.models import Partner
from firstline.outbox.delivery import deliver_due
from firstline.outbox.models import Channel, OutboxMessage, Status
from firstline.outbox.services import enqueue
from firstline.tickets.models import Ticket
from tests.dovecot import TlsFiles, free_port, tls_files_fixture  # noqa: F401 — a fixture
from tests.test_outbox_http import make_partner, make_ticket

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
BODY = "Здравствуйте, Иван!\n\nДоступ к FTP восстановлен. Проверьте, пожалуйста.\n\n— Первая линия"


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    over_tls: bool

    def parsed(self) -> EmailMessage:
        message = message_from_bytes(self.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        return message


class Recorder:
    """aiosmtpd handler that keeps every message; refuses recipients listed in `refuse`."""

    def __init__(self, refuse: tuple[str, ...] = ()) -> None:
        self.received: list[Received] = []
        self.refuse = refuse

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if address in self.refuse:
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.received.append(Received(
            mail_from=str(envelope.mail_from), rcpt_tos=list(envelope.rcpt_tos),
            content=bytes(envelope.original_content or b""), over_tls=session.ssl is not None,
        ))
        return "250 2.0.0 Queued"


@contextmanager
def smtp_server(tls: TlsFiles, port: int, recorder: Recorder | None = None) -> Iterator[Recorder]:
    recorder = recorder or Recorder()
    controller = Controller(
        recorder, hostname="127.0.0.1", port=port, server_hostname="smtp.test",
        tls_context=tls.server_context(), require_starttls=True, ready_timeout=10,
    )
    controller.start()
    try:
        yield recorder
    finally:
        controller.stop()


@pytest.fixture
def mailer(settings, monkeypatch, tls_files: TlsFiles) -> int:
    """MAILERS["default"] is Django's SMTP backend with STARTTLS on a port of the test's."""
    port = free_port()
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": port, "use_tls": True, "timeout": 5},
        }
    }
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_files.ca_file))
    return port


@pytest.fixture
def partner(db) -> Partner:
    return make_partner("alpha")


@pytest.fixture
def ticket(partner: Partner) -> Ticket:
    return make_ticket(partner)


def reply(partner: Partner, ticket: Ticket) -> OutboxMessage:
    return enqueue(
        partner=partner, ticket=ticket, channel=Channel.EMAIL,
        recipient="ivan@customer.example", subject="Re: Нет доступа к FTP", body=BODY,
        headers={"In-Reply-To": "<q1@customer.example>",
                 "References": "<q0@customer.example> <q1@customer.example>"},
    )


def test_a_reply_reaches_the_smtp_server_over_starttls_intact(
    mailer: int, tls_files: TlsFiles, partner: Partner, ticket: Ticket
) -> None:
    message = reply(partner, ticket)
    with smtp_server(tls_files, mailer) as server:
        assert deliver_due() == 1
    (received,) = server.received
    assert received.over_tls
    assert received.mail_from == "support@alpha.example"
    assert received.rcpt_tos == ["ivan@customer.example"]
    letter = received.parsed()
    assert letter["From"] == "support@alpha.example"
    assert letter["To"] == "ivan@customer.example"
    assert letter["Subject"] == "Re: Нет доступа к FTP"
    assert letter["Message-ID"] == message.headers["Message-ID"]
    assert letter["In-Reply-To"] == "<q1@customer.example>"
    assert letter["References"] == "<q0@customer.example> <q1@customer.example>"
    body = letter.get_body(("plain",))
    assert body is not None
    assert body.get_content_charset() == "utf-8"
    assert body.get_content().replace("\r\n", "\n").rstrip("\n") == BODY
    message.refresh_from_db()
    assert (message.status, message.attempts) == (Status.SENT, 1)
    assert message.provider_message_id == message.headers["Message-ID"]


def test_a_server_that_is_down_delays_the_letter_and_it_goes_once_when_back(
    mailer: int, tls_files: TlsFiles, partner: Partner, ticket: Ticket
) -> None:
    """Nothing lost while the server is down; sent exactly once when it is back."""
    with time_machine.travel(NOW, tick=False) as clock:
        message = reply(partner, ticket)
        assert deliver_due() == 0
        message.refresh_from_db()
        assert (message.status, message.attempts) == (Status.PENDING, 1)
        assert "ConnectionRefusedError" in message.last_error
        assert NOW + timedelta(seconds=45) <= message.next_attempt_at <= NOW + timedelta(minutes=1)

        with smtp_server(tls_files, mailer) as server:  # back, on the same address
            assert deliver_due() == 0  # the retry is not due yet
            clock.move_to(message.next_attempt_at)
            assert deliver_due() == 1
            clock.shift(timedelta(hours=3))
            assert deliver_due() == 0
    assert len(server.received) == 1
    assert server.received[0].parsed()["Message-ID"] == message.headers["Message-ID"]
    message.refresh_from_db()
    assert (message.status, message.attempts) == (Status.SENT, 2)


def test_a_recipient_the_server_refuses_fails_at_once(
    mailer: int, tls_files: TlsFiles, partner: Partner, ticket: Ticket
) -> None:
    """550 for the recipient is about this letter: it is not retried for a day."""
    message = reply(partner, ticket)
    with smtp_server(tls_files, mailer, Recorder(refuse=("ivan@customer.example",))) as server:
        assert deliver_due() == 0
    assert server.received == []
    message.refresh_from_db()
    assert message.status == Status.FAILED
    assert "550" in message.last_error


def test_the_server_certificate_is_verified(
    mailer: int, tls_files: TlsFiles, partner: Partner, ticket: Ticket, monkeypatch
) -> None:
    """Without the CA the STARTTLS handshake fails: the letter waits, it is not sent in clear."""
    monkeypatch.delenv("SSL_CERT_FILE")
    message = reply(partner, ticket)
    with smtp_server(tls_files, mailer) as server:
        assert deliver_due() == 0
    assert server.received == []
    message.refresh_from_db()
    assert message.status == Status.PENDING
    assert "CERTIFICATE_VERIFY_FAILED" in message.last_error


def test_the_recorder_refuses_mail_before_starttls(tls_files: TlsFiles) -> None:
    """The test server itself: it really insists on STARTTLS (else the tests above prove less)."""
    port = free_port()
    with smtp_server(tls_files, port) as server, smtplib.SMTP("127.0.0.1", port) as client:
        client.ehlo()
        code, _text = client.mail("support@alpha.example")
    assert code == 530
    assert server.received == []
