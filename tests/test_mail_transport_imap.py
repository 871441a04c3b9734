"""The IMAP poller against a real Dovecot (tests/dovecot.py): TLS, storing, marking, IDLE.

Every test gets its own IMAP user with an empty INBOX; messages are delivered into the
Maildir as an MTA does, and the Maildir is read back to see what the poller did to them.
"""

import logging
import threading
import time
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from firstline.core.models import Partner
from firstline.mail import imap
from firstline.mail.ingest import ingest_raw
from firstline.mail.management.commands.mail_poll import Command as PollCommand
from firstline.mail.models import InboundMail, Mailbox
from tests import dovecot as dovecot_module
from tests.dovecot import (  # noqa: F401 — the fixtures `dovecot` and `tls_files`
    Dovecot,
    ImapUser,
    TlsFiles,
    dovecot_fixture,
    free_port,
    tls_files_fixture,
)
from tests.test_outbox_http import make_partner

KEYWORD = "$FirstlineProcessed"
# Ingest logs too (a letter it could not process); these tests look at the poller's lines.
TRANSPORT_LOGGERS = ("firstline.mail.imap", "firstline.mail.management")


def letter(number: int, subject: str = "Нет доступа к FTP") -> bytes:
    return (
        "From: Иван Петров <ivan@customer.example>\r\n"
        "To: support@alpha.example\r\n"
        f"Subject: {subject} #{number}\r\n"
        f"Message-ID: <imap-{number}-{time.time_ns()}@customer.example>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n"
        "\r\n"
        f"Здравствуйте! Письмо номер {number}.\r\n"
    ).encode()


@pytest.fixture
def imap_ca(settings, tls_files: TlsFiles) -> None:
    """The poller trusts the test CA (and verifies the server's certificate against it)."""
    settings.FIRSTLINE_IMAP_CA_FILE = str(tls_files.ca_file)


@pytest.fixture
def alpha(db) -> Partner:
    return make_partner("alpha")


@pytest.fixture
def user(dovecot: Dovecot) -> ImapUser:
    return dovecot.new_user()


def make_mailbox(
    partner: Partner, server: Dovecot, user: ImapUser, *, address: str = "support@alpha.example",
    security: str = Mailbox.Security.SSL, processed: str = "",
) -> Mailbox:
    port = server.imaps_port if security == Mailbox.Security.SSL else server.imap_port
    return Mailbox.objects.create(
        partner=partner, address=address, imap_host=server.host, imap_port=port,
        imap_security=security, imap_username=user.name, imap_password=user.password,
        imap_processed_folder=processed,
    )


def stored(mailbox: Mailbox) -> list[bytes]:
    return [row.raw_bytes() for row in InboundMail.objects.filter(mailbox=mailbox).order_by("pk")]


def test_without_dovecot_the_imap_tests_skip_except_on_ci(monkeypatch, tmp_path) -> None:
    """CI installs Dovecot, so there its absence fails the tests instead of hiding them."""
    monkeypatch.setattr(dovecot_module, "DOVECOT", str(tmp_path / "no-dovecot"))
    monkeypatch.setattr(dovecot_module.shutil, "which", lambda name: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="Dovecot is not installed"):
        dovecot_module.require_dovecot()
    monkeypatch.setenv("CI", "1")
    with pytest.raises(pytest.fail.Exception, match="CI is set, so the IMAP tests must run"):
        dovecot_module.require_dovecot()


def test_unseen_mail_is_stored_over_imaps_then_flagged_and_not_fetched_again(
    dovecot: Dovecot, user: ImapUser, alpha: Partner, imap_ca: None
) -> None:
    """Implicit TLS, verified; each message stored raw, then marked \\Seen + keyword."""
    letters = [letter(number) for number in range(3)]
    for raw in letters:
        dovecot.deliver(user, raw)
    mailbox = make_mailbox(alpha, dovecot, user)

    result = imap.poll_mailbox(mailbox, batch_size=2)  # two batches

    assert (result.found, result.stored) == (3, 3)
    assert sorted(stored(mailbox)) == sorted(letters)
    kept = dovecot.messages(user)
    assert len(kept) == 3  # still in the INBOX: the mailbox keeps processed mail in place
    assert all(dovecot.flags_of(message, user) == {"\\Seen", KEYWORD} for message in kept)
    assert sorted(message.content for message in kept) == sorted(letters)

    again = imap.poll_mailbox(mailbox)
    assert (again.found, again.stored) == (0, 0)
    assert InboundMail.objects.filter(mailbox=mailbox).count() == 3


def test_polled_letters_are_stored_and_the_mail_worker_makes_them_tickets(
    dovecot: Dovecot, user: ImapUser, alpha: Partner, imap_ca: None
) -> None:
    """The poller stores and marks; processing is the mail worker's (`mail_work`)."""
    for number in range(2):
        dovecot.deliver(user, letter(number, subject="Не работает почта"))
    mailbox = make_mailbox(alpha, dovecot, user)
    assert imap.poll_mailbox(mailbox).stored == 2
    rows = list(InboundMail.objects.filter(mailbox=mailbox).order_by("pk"))
    assert [(row.status, row.ticket_id) for row in rows] == [("stored", None)] * 2
    out = StringIO()
    call_command("mail_work", "--once", stdout=out)
    assert "2 letters processed" in out.getvalue()
    for row in rows:
        row.refresh_from_db()
    assert [row.status for row in rows] == ["processed"] * 2
    assert sorted(row.ticket.subject for row in rows) == [
        "Не работает почта #0", "Не работает почта #1"]
    assert {row.ticket.partner_id for row in rows} == {alpha.pk}


def test_starttls_and_a_processed_folder_move_mail_out_of_the_inbox(
    dovecot: Dovecot, user: ImapUser, alpha: Partner, imap_ca: None
) -> None:
    """STARTTLS before the password; stored mail moved (MOVE) to a folder made on first use."""
    letters = [letter(10), letter(11)]
    for raw in letters:
        dovecot.deliver(user, raw)
    mailbox = make_mailbox(alpha, dovecot, user, security=Mailbox.Security.STARTTLS,
                           processed="Processed/Firstline")

    result = imap.poll_mailbox(mailbox)

    assert (result.found, result.stored) == (2, 2)
    assert sorted(stored(mailbox)) == sorted(letters)
    assert dovecot.messages(user) == []
    moved = dovecot.messages(user, "Processed/Firstline")
    assert sorted(message.content for message in moved) == sorted(letters)
    assert all(dovecot.flags_of(message, user) == {"\\Seen", KEYWORD} for message in moved)
    assert imap.poll_mailbox(mailbox).found == 0


def test_without_move_the_poller_copies_deletes_and_expunges_only_its_own(
    dovecot: Dovecot, user: ImapUser, alpha: Partner, imap_ca: None
) -> None:
    """A server without MOVE: COPY, \\Deleted, UID EXPUNGE of exactly the stored messages."""
    theirs, ours = letter(20), letter(21)
    dovecot.deliver(user, theirs)
    dovecot.deliver(user, ours)
    mailbox = make_mailbox(alpha, dovecot, user, processed="Done")
    with imap.ImapSession.open(mailbox) as session:
        # A person deleted one message in the INBOX without expunging it yet: a plain
        # EXPUNGE would take it away too.
        theirs_uid, _ours_uid = session.client.search(["ALL"])
        session.client.add_flags([theirs_uid], [b"\\Seen", b"\\Deleted"])
        session.can_move = False  # as on a server without the MOVE extension
        result = session.poll()
    assert (result.found, result.stored) == (1, 1)
    assert stored(mailbox) == [ours]
    (left,) = dovecot.messages(user)
    assert left.content == theirs
    assert dovecot.flags_of(left, user) == {"\\Seen", "\\Deleted"}
    (moved,) = dovecot.messages(user, "Done")
    assert moved.content == ours
    assert dovecot.flags_of(moved, user) == {"\\Seen", KEYWORD}


def test_a_message_stored_before_a_crash_is_fetched_again_and_stored_once(
    dovecot: Dovecot, user: ImapUser, alpha: Partner, imap_ca: None
) -> None:
    """Stored but not marked (the poller died in between): the next poll deduplicates it."""
    raw = letter(30)
    dovecot.deliver(user, raw)
    mailbox = make_mailbox(alpha, dovecot, user)
    first = ingest_raw(raw, mailbox=mailbox)  # what the crashed poll had done

    result = imap.poll_mailbox(mailbox)

    assert (result.found, result.stored) == (1, 1)
    assert list(InboundMail.objects.filter(mailbox=mailbox)) == [first]
    (message,) = dovecot.messages(user)
    assert dovecot.flags_of(message, user) == {"\\Seen", KEYWORD}


def test_nothing_is_marked_when_storing_fails_and_the_next_poll_stores_it(
    dovecot: Dovecot, user: ImapUser, alpha: Partner, imap_ca: None
) -> None:
    """The database failing mid-poll leaves the mail unseen on the server for later."""
    letters = [letter(40), letter(41)]
    for raw in letters:
        dovecot.deliver(user, raw)
    mailbox = make_mailbox(alpha, dovecot, user)
    table = InboundMail._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {table} RENAME TO {table}_away")
    try:
        with pytest.raises(Exception):  # noqa: B017 — whatever the database raises
            imap.poll_mailbox(mailbox)
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {table}_away RENAME TO {table}")
    assert all(dovecot.flags_of(message, user) == set() for message in dovecot.messages(user))

    result = imap.poll_mailbox(mailbox)
    assert (result.found, result.stored) == (2, 2)
    assert sorted(stored(mailbox)) == sorted(letters)


def test_a_server_certificate_that_does_not_verify_stops_before_the_password(
    dovecot: Dovecot, user: ImapUser, alpha: Partner, settings
) -> None:
    """Without the test CA the system CAs do not know the server: no login, nothing fetched."""
    settings.FIRSTLINE_IMAP_CA_FILE = ""
    dovecot.deliver(user, letter(50))
    for security in (Mailbox.Security.SSL, Mailbox.Security.STARTTLS):
        mailbox = make_mailbox(alpha, dovecot, user, address=f"{security}@alpha.example",
                               security=security)
        with pytest.raises(imap.ssl.SSLCertVerificationError):
            imap.poll_mailbox(mailbox)
    assert InboundMail.objects.count() == 0
    assert "Login: user=<" + user.name + ">" not in dovecot.log()


def test_one_pass_polls_every_mailbox_and_reports_the_broken_one(
    dovecot: Dovecot, alpha: Partner, imap_ca: None, caplog
) -> None:
    """`firstline mail_poll`: a wrong password or a server that is down stops only its box."""
    good_user, other_user = dovecot.new_user(), dovecot.new_user()
    dovecot.deliver(good_user, letter(60))
    dovecot.deliver(other_user, letter(61))
    broken = make_mailbox(alpha, dovecot, dovecot.new_user(), address="a@alpha.example")
    broken.imap_password = "wrong"
    broken.save()
    down = make_mailbox(alpha, dovecot, dovecot.new_user(), address="b@alpha.example")
    down.imap_port = free_port()
    down.save()
    good = make_mailbox(alpha, dovecot, good_user, address="c@alpha.example")
    other = make_mailbox(make_partner("beta"), dovecot, other_user, address="d@beta.example")
    Mailbox.objects.create(partner=alpha, address="lmtp-only@alpha.example")  # no IMAP host

    out, err = StringIO(), StringIO()
    with (
        caplog.at_level(logging.WARNING, logger="firstline.mail"),
        pytest.raises(CommandError, match="2 of 4 mailboxes failed") as failed,
    ):
        call_command("mail_poll", stdout=out, stderr=err)
    assert failed.value.returncode == 1
    assert len(stored(good)) == 1 and len(stored(other)) == 1
    assert out.getvalue().splitlines() == [
        "c@alpha.example: 1 new, 1 stored", "d@beta.example: 1 new, 1 stored",
    ]
    assert "a@alpha.example: LoginError" in err.getvalue()
    assert "b@alpha.example: ConnectionRefusedError" in err.getvalue()
    transport_logs = [r for r in caplog.records if r.name.startswith(TRANSPORT_LOGGERS)]
    assert {record.getMessage().split(":")[0] for record in transport_logs} == {
        "mailbox a@alpha.example", "mailbox b@alpha.example",
    }

    call_command("mail_poll", "--mailbox", str(good.pk), stdout=out)
    assert out.getvalue().splitlines()[-1] == "c@alpha.example: 0 new, 0 stored"
    with pytest.raises(CommandError, match="no IMAP server"):
        call_command("mail_poll", "--mailbox", "lmtp-only@alpha.example")


def run_loop_until(
    command: PollCommand, done: "threading.Event", *args: str, limit: float = 30
) -> None:
    """Run `mail_poll --loop` here; a watchdog stops it when `done` is set (or at the limit)."""

    def watchdog() -> None:
        done.wait(timeout=limit)
        command.stop.set()

    guard = threading.Thread(target=watchdog)
    guard.start()
    try:
        call_command(command, "--loop", *args)
    finally:
        done.set()
        guard.join()


def wait_for_flag(server: Dovecot, user: ImapUser, count: int, *, limit: float = 20) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        marked = [m for m in server.messages(user) if "S" in m.flags]
        if len(marked) >= count:
            return True
        time.sleep(0.05)
    return False


def test_the_loop_waits_in_idle_and_picks_up_new_mail_at_once(
    dovecot: Dovecot, user: ImapUser, alpha: Partner, imap_ca: None
) -> None:
    """A message delivered while the poller is in IDLE is stored long before any timer."""
    first, second = letter(70), letter(71)
    dovecot.deliver(user, first)
    mailbox = make_mailbox(alpha, dovecot, user)
    out = StringIO()
    command = PollCommand(stdout=out)
    done = threading.Event()
    seen: dict[str, float] = {}

    def mta() -> None:
        # The first poll has marked the first letter: the poller is (about to be) in IDLE.
        if not wait_for_flag(dovecot, user, 1):
            return
        time.sleep(0.3)
        dovecot.deliver(user, second)
        seen["delivered"] = time.monotonic()
        if wait_for_flag(dovecot, user, 2):
            seen["marked"] = time.monotonic()
        done.set()

    sender = threading.Thread(target=mta)
    sender.start()
    try:
        # A poll interval and an IDLE timeout far beyond the test: only IDLE can be quick.
        run_loop_until(command, done, "--mailbox", mailbox.address, "--interval", "600",
                       "--idle-timeout", "600")
    finally:
        sender.join()
    assert sorted(stored(mailbox)) == sorted([first, second])
    assert seen["marked"] - seen["delivered"] < 15
    assert out.getvalue().splitlines() == [
        "support@alpha.example: 1 new, 1 stored", "support@alpha.example: 1 new, 1 stored",
    ]


def test_mail_that_arrives_between_the_poll_and_idle_is_not_left_waiting(
    dovecot: Dovecot, user: ImapUser, alpha: Partner, imap_ca: None
) -> None:
    """The server announces it with its IDLE continuation, in the same read: a buffered
    announcement that select() cannot see must still wake the loop, not the IDLE timer."""
    first, second = letter(75), letter(76)
    dovecot.deliver(user, first)
    mailbox = make_mailbox(alpha, dovecot, user)
    done = threading.Event()
    polls: list[int] = []

    def after_poll(_mailbox: Mailbox, result: imap.PollResult) -> None:
        polls.append(result.found)
        if len(polls) == 1:
            dovecot.deliver(user, second)  # after the SEARCH, before IDLE begins
        elif result.found:
            done.set()

    poller = imap.Poller(interval=600, idle_seconds=600, stop=done, on_result=after_poll)
    timer = threading.Timer(20, done.set)
    timer.start()
    started = time.monotonic()
    try:
        poller.run()
    finally:
        timer.cancel()
    assert sorted(stored(mailbox)) == sorted([first, second])
    assert time.monotonic() - started < 15


def test_the_loop_keeps_polling_the_good_mailboxes_while_one_is_broken(
    dovecot: Dovecot, alpha: Partner, imap_ca: None, caplog
) -> None:
    """A failing mailbox is retried with back-off; the others get their mail meanwhile."""
    good_user = dovecot.new_user()
    broken = make_mailbox(alpha, dovecot, dovecot.new_user(), address="broken@alpha.example")
    broken.imap_password = "wrong"
    broken.save()
    good = make_mailbox(alpha, dovecot, good_user, address="good@alpha.example")
    dovecot.deliver(good_user, letter(80))
    done = threading.Event()
    poller = imap.Poller(interval=0.2, idle_seconds=600, backoff_base=0.2, backoff_max=0.5,
                         stop=done)

    def mta() -> None:
        if wait_for_flag(dovecot, good_user, 1):
            dovecot.deliver(good_user, letter(81))
            wait_for_flag(dovecot, good_user, 2)
        # Until the broken mailbox has been retried at least once after its first failure.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            watch = poller.watches.get(broken.pk)
            if watch is not None and watch.failures >= 2:
                break
            time.sleep(0.05)
        done.set()

    sender = threading.Thread(target=mta)
    sender.start()
    try:
        with caplog.at_level(logging.WARNING, logger="firstline.mail"):
            poller.run()
    finally:
        done.set()
        sender.join()
    assert len(stored(good)) == 2
    assert stored(broken) == []
    failures = [
        r.getMessage() for r in caplog.records
        if r.name.startswith(TRANSPORT_LOGGERS) and "broken@alpha.example" in r.getMessage()
    ]
    assert len(failures) >= 2
    assert "LoginError" in failures[0] and "failure 1 in a row" in failures[0]
    assert "failure 2 in a row" in failures[1]
    assert poller.watches[broken.pk].failures >= 2
    assert poller.watches[good.pk].failures == 0


def test_a_server_without_idle_or_move_is_polled_every_interval_and_copied_out(
    dovecot: Dovecot, alpha: Partner, imap_ca: None
) -> None:
    """Plain IMAP4rev1 (no IDLE, MOVE or UIDPLUS): timed polls; COPY, \\Deleted, EXPUNGE."""
    user = dovecot.new_user(capabilities="IMAP4rev1")
    first, second = letter(90), letter(91)
    dovecot.deliver(user, first)
    mailbox = make_mailbox(alpha, dovecot, user, processed="Done")
    done = threading.Event()
    polls: list[int] = []
    poller = imap.Poller(interval=0.2, idle_seconds=600, stop=done,
                         on_result=lambda _mailbox, result: polls.append(result.found))

    def moved(count: int) -> bool:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if len(dovecot.messages(user, "Done")) >= count:
                return True
            time.sleep(0.05)
        return False

    def mta() -> None:
        deadline = time.monotonic() + 20
        # After the first letter is moved, a timed poll that finds nothing, then the second.
        while 0 not in polls and time.monotonic() < deadline:
            time.sleep(0.05)
        if moved(1):
            dovecot.deliver(user, second)
            moved(2)
        done.set()

    sender = threading.Thread(target=mta)
    sender.start()
    try:
        poller.run()
    finally:
        done.set()
        sender.join()
    assert sorted(stored(mailbox)) == sorted([first, second])
    assert dovecot.messages(user) == []
    moved_messages = dovecot.messages(user, "Done")
    assert sorted(message.content for message in moved_messages) == sorted([first, second])
    assert all(dovecot.flags_of(m, user) == {"\\Seen", KEYWORD} for m in moved_messages)
    # Polled again and again on the timer (finding nothing in between), never in IDLE.
    assert polls[0] == 1 and 0 in polls and polls.count(1) == 2
