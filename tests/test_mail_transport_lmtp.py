"""The LMTP/SMTP listener over a real socket: what an MTA sees, and what gets stored.

The listener runs on a free loopback port; Python's smtplib plays the MTA. Its database
thread uses the test's own connection (as Django's LiveServerThread does for in-memory
SQLite), so it sees the test's rows and everything is rolled back afterwards.
"""

import smtplib
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection, connections

from firstline.core.models import Partner
from firstline.mail.lmtp import LmtpServer
from firstline.mail.management.commands.mail_lmtp import Command as LmtpCommand
from firstline.mail.models import InboundMail, Mailbox
from tests.test_outbox_http import make_partner

MESSAGE = (
    "From: Иван Петров <ivan@customer.example>\r\n"
    "To: support@alpha.example\r\n"
    "Subject: =?utf-8?b?0J3QtdGCINC00L7RgdGC0YPQv9CwINC6IEZUUA==?=\r\n"
    "Message-ID: <lmtp-1@customer.example>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n"
    "\r\n"
    "Здравствуйте! Не могу зайти на FTP с утра.\r\n"
    ".a line that starts with a dot (dot-stuffed on the wire)\r\n"
    "\r\n"
    "-- \r\n"
    "Иван\r\n"
).encode()


def message(message_id: str, body: str = "Сервер не отвечает.") -> bytes:
    return (
        "From: ivan@customer.example\r\n"
        "To: support@alpha.example\r\n"
        "Subject: test\r\n"
        f"Message-ID: <{message_id}>\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n"
        "\r\n"
        f"{body}\r\n"
    ).encode()


@pytest.fixture
def alpha(db) -> Partner:
    return make_partner("alpha")


@pytest.fixture
def mailbox(alpha: Partner) -> Mailbox:
    return Mailbox.objects.create(partner=alpha, address="support@alpha.example")


@pytest.fixture
def beta_mailbox(db) -> Mailbox:
    return Mailbox.objects.create(partner=make_partner("beta"), address="help@beta.example")


@pytest.fixture
def db_thread(db) -> Iterator[ThreadPoolExecutor]:
    """The listener's database thread, on the test's connection (and its transaction)."""
    shared = connections["default"]
    shared.inc_thread_sharing()

    def use_shared_connection() -> None:
        connections["default"] = shared

    executor = ThreadPoolExecutor(max_workers=1, initializer=use_shared_connection)
    try:
        yield executor
    finally:
        executor.shutdown(wait=True)
        shared.dec_thread_sharing()


@pytest.fixture
def lmtp(db_thread: ThreadPoolExecutor) -> Iterator[LmtpServer]:
    with LmtpServer("127.0.0.1", 0, executor=db_thread, hostname="desk.test") as server:
        yield server


def lmtp_client(server: LmtpServer) -> smtplib.LMTP:
    client = smtplib.LMTP("127.0.0.1", server.port, local_hostname="mta.test")
    code, _text = client.ehlo()  # sends LHLO
    assert code == 250
    return client


def stored(mailbox: Mailbox) -> list[bytes]:
    return [row.raw_bytes() for row in InboundMail.objects.filter(mailbox=mailbox).order_by("pk")]


def test_lmtp_stores_the_exact_bytes_for_each_recipient_and_answers_each(
    lmtp: LmtpServer, mailbox: Mailbox, beta_mailbox: Mailbox
) -> None:
    """One 250 per recipient after DATA (RFC 2033), each only once the raw bytes are stored."""
    client = lmtp_client(lmtp)
    try:
        assert client.mail("ivan@customer.example")[0] == 250
        assert client.rcpt("Support@Alpha.example")[0] == 250  # addresses match in any case
        assert client.rcpt("help@beta.example")[0] == 250
        first = client.data(MESSAGE)
        second = client.getreply()  # smtplib reads one reply; LMTP sends one per recipient
    finally:
        client.quit()
        client.close()
    assert first[0] == 250 and b"support@alpha.example" in first[1].lower()
    assert second[0] == 250 and b"help@beta.example" in second[1]
    assert stored(mailbox) == [MESSAGE]
    assert stored(beta_mailbox) == [MESSAGE]
    row = InboundMail.objects.get(mailbox=mailbox)
    assert (row.partner_id, row.message_id, row.size) == (
        mailbox.partner_id, "lmtp-1@customer.example", len(MESSAGE)
    )


def test_the_stored_letter_becomes_a_ticket_through_the_mail_worker(
    lmtp: LmtpServer, mailbox: Mailbox
) -> None:
    """250 means stored; the ticket and the acknowledgement are the mail worker's work."""
    client = lmtp_client(lmtp)
    try:
        assert client.sendmail("ivan@customer.example", ["support@alpha.example"],
                               MESSAGE) == {}
    finally:
        client.quit()
        client.close()
    row = InboundMail.objects.get(mailbox=mailbox)
    assert (row.status, row.ticket_id) == (InboundMail.Status.STORED, None)
    out = StringIO()
    call_command("mail_work", "--once", stdout=out)
    assert "1 letters processed" in out.getvalue()
    row.refresh_from_db()
    assert row.status == InboundMail.Status.PROCESSED, row.error
    assert row.ticket.subject == "Нет доступа к FTP"
    assert row.ticket.partner == mailbox.partner
    assert row.ticket.contact.emails.get().address == "ivan@customer.example"


def test_with_inline_processing_set_the_listener_makes_the_ticket_itself(
    lmtp: LmtpServer, mailbox: Mailbox, settings
) -> None:
    settings.FIRSTLINE_MAIL_PROCESS_INLINE = True
    client = lmtp_client(lmtp)
    try:
        assert client.sendmail("ivan@customer.example", ["support@alpha.example"],
                               MESSAGE) == {}
    finally:
        client.quit()
        client.close()
    row = InboundMail.objects.get(mailbox=mailbox)
    assert row.status == InboundMail.Status.PROCESSED, row.error
    assert row.ticket.subject == "Нет доступа к FTP"


def test_an_unknown_or_inactive_recipient_is_refused_with_550(
    lmtp: LmtpServer, mailbox: Mailbox, beta_mailbox: Mailbox
) -> None:
    """The MTA bounces mail for addresses the desk does not serve; the others still go."""
    beta_mailbox.is_active = False
    beta_mailbox.save()
    client = lmtp_client(lmtp)
    try:
        client.mail("ivan@customer.example")
        unknown = client.rcpt("nobody@alpha.example")
        inactive = client.rcpt("help@beta.example")
        known = client.rcpt("support@alpha.example")
        reply = client.data(message("only-alpha@customer.example"))
    finally:
        client.quit()
        client.close()
    assert unknown[0] == 550 and b"5.1.1" in unknown[1]
    assert inactive[0] == 550
    assert known[0] == 250
    assert reply[0] == 250
    assert InboundMail.objects.count() == 1
    assert InboundMail.objects.get().mailbox == mailbox


def test_a_message_without_a_known_recipient_is_never_accepted(lmtp: LmtpServer, db) -> None:
    client = lmtp_client(lmtp)
    try:
        client.mail("ivan@customer.example")
        assert client.rcpt("support@unknown.example")[0] == 550
        assert client.docmd("DATA")[0] == 503  # no valid recipient: no DATA
    finally:
        client.quit()
        client.close()
    assert InboundMail.objects.count() == 0


def test_a_failure_to_store_answers_451_and_the_retry_stores_it_once(
    lmtp: LmtpServer, mailbox: Mailbox, beta_mailbox: Mailbox
) -> None:
    """A real storage failure (the table gone) is temporary: the MTA keeps the letter."""
    raw = message("retry-1@customer.example")
    table = InboundMail._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {table} RENAME TO {table}_away")
    client = lmtp_client(lmtp)
    try:
        client.mail("ivan@customer.example")
        client.rcpt("support@alpha.example")
        client.rcpt("help@beta.example")
        first, second = client.data(raw), client.getreply()
    finally:
        client.quit()
        client.close()
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {table}_away RENAME TO {table}")
    assert first[0] == 451 and b"4.3.0" in first[1]
    assert second[0] == 451
    assert InboundMail.objects.count() == 0

    # The MTA tries again later, twice even (its own retry after a lost answer): one row.
    for _attempt in range(2):
        client = lmtp_client(lmtp)
        try:
            assert client.sendmail("ivan@customer.example", ["support@alpha.example"], raw) == {}
        finally:
            client.quit()
            client.close()
    assert stored(mailbox) == [raw]
    assert stored(beta_mailbox) == []


def test_a_bounce_with_the_null_sender_is_accepted(lmtp: LmtpServer, mailbox: Mailbox) -> None:
    """Bounces of the desk's own mail come with MAIL FROM:<>; they must not be refused."""
    raw = message("bounce-1@mailer.example")
    client = lmtp_client(lmtp)
    try:
        assert client.sendmail("", ["support@alpha.example"], raw) == {}
    finally:
        client.quit()
        client.close()
    assert stored(mailbox) == [raw]


def test_a_message_over_the_size_limit_is_refused_with_552(
    db_thread: ThreadPoolExecutor, mailbox: Mailbox
) -> None:
    with LmtpServer("127.0.0.1", 0, executor=db_thread, max_message_bytes=1000) as server:
        client = lmtp_client(server)
        try:
            assert b"SIZE 1000" in (client.ehlo_resp or b"")
            client.mail("ivan@customer.example")
            client.rcpt("support@alpha.example")
            code, _text = client.data(message("big@customer.example", "\r\n".join(["x" * 70] * 30)))
        finally:
            client.quit()
            client.close()
    assert code == 552
    assert InboundMail.objects.count() == 0


def test_smtp_mode_answers_once_for_all_recipients(
    db_thread: ThreadPoolExecutor, mailbox: Mailbox, beta_mailbox: Mailbox
) -> None:
    """For an MTA that can only relay by SMTP: 250 once everything is stored."""
    raw = message("smtp-1@customer.example")
    with (
        LmtpServer("127.0.0.1", 0, smtp=True, executor=db_thread) as server,
        smtplib.SMTP("127.0.0.1", server.port, local_hostname="mta.test") as client,
    ):
        refused = client.sendmail(
            "ivan@customer.example", ["support@alpha.example", "help@beta.example"], raw
        )
    assert refused == {}
    assert stored(mailbox) == [raw]
    assert stored(beta_mailbox) == [raw]


def test_smtp_mode_answers_451_when_any_copy_could_not_be_stored(
    db_thread: ThreadPoolExecutor, mailbox: Mailbox
) -> None:
    table = InboundMail._meta.db_table
    with LmtpServer("127.0.0.1", 0, smtp=True, executor=db_thread) as server:
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {table} RENAME TO {table}_away")
        try:
            with (
                smtplib.SMTP("127.0.0.1", server.port, local_hostname="mta.test") as client,
                pytest.raises(smtplib.SMTPDataError) as refused,
            ):
                client.sendmail("ivan@customer.example", ["support@alpha.example"],
                                message("smtp-2@customer.example"))
        finally:
            with connection.cursor() as cursor:
                cursor.execute(f"ALTER TABLE {table}_away RENAME TO {table}")
    assert refused.value.smtp_code == 451
    assert InboundMail.objects.count() == 0


def test_the_command_listens_until_stopped(
    db_thread: ThreadPoolExecutor, mailbox: Mailbox
) -> None:
    """`firstline mail_lmtp --port 0` serves LMTP until SIGTERM (here: its stop event)."""
    out = StringIO()
    command = LmtpCommand(stdout=out)
    errors: list[BaseException] = []

    def serve() -> None:
        try:
            call_command(command, "--host", "127.0.0.1", "--port", "0", "--max-size", "50000",
                         "--hostname", "desk.test", executor=db_thread)
        except BaseException as exc:  # reported to the test thread
            errors.append(exc)

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        assert command.started.wait(timeout=30)
        assert command.server is not None
        client = lmtp_client(command.server)
        try:
            raw = message("command-1@customer.example")
            assert client.sendmail("ivan@customer.example", ["support@alpha.example"], raw) == {}
        finally:
            client.quit()
            client.close()
    finally:
        command.stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()
    assert errors == []
    assert stored(mailbox) == [raw]
    assert out.getvalue().startswith("LMTP listening on 127.0.0.1:")
    assert "(messages up to 50000 bytes)" in out.getvalue()
