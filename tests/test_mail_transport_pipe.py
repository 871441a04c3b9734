"""`firstline mail_in`: a message piped in by an MTA, and the exit codes the MTA acts on."""

import os
import subprocess
import sys
from io import BytesIO, StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from firstline.core.models import Partner
from firstline.mail.management.commands import mail_in
from firstline.mail.models import InboundMail, Mailbox
from firstline.tickets.models import Ticket
from tests.test_outbox_http import make_partner

RAW = (
    "From: Иван Петров <ivan@customer.example>\n"
    "To: support@alpha.example\n"
    "Subject: =?utf-8?b?0J3QtdGCINC00L7RgdGC0YPQv9CwINC6IEZUUA==?=\n"
    "Message-ID: <pipe-1@customer.example>\n"
    "Content-Type: text/plain; charset=utf-8\n"
    "Content-Transfer-Encoding: 8bit\n"
    "\n"
    "Здравствуйте! Не могу зайти на FTP.\n"
).encode()


@pytest.fixture
def alpha(db) -> Partner:
    return make_partner("alpha")


@pytest.fixture
def mailbox(alpha: Partner) -> Mailbox:
    return Mailbox.objects.create(partner=alpha, address="support@alpha.example")


def pipe(*args: str, raw: bytes = RAW, out: StringIO | None = None) -> None:
    call_command("mail_in", *args, stdin=BytesIO(raw), stdout=out or StringIO())


def refused(*args: str, raw: bytes = RAW) -> CommandError:
    with pytest.raises(CommandError) as error:
        pipe(*args, raw=raw)
    return error.value


def test_a_piped_message_is_stored_as_it_came(mailbox: Mailbox) -> None:
    out = StringIO()
    pipe("--partner", "alpha", out=out)
    row = InboundMail.objects.get()
    assert row.mailbox == mailbox
    assert row.raw_bytes() == RAW
    assert row.message_id == "pipe-1@customer.example"
    assert out.getvalue() == ""  # an MTA may mail stdout back to the sender: nothing there


def test_a_piped_letter_is_left_to_the_mail_worker_which_makes_it_a_ticket(
    mailbox: Mailbox,
) -> None:
    pipe("--partner", "alpha")
    row = InboundMail.objects.get()
    assert (row.status, row.ticket_id) == (InboundMail.Status.STORED, None)
    assert not Ticket.objects.exists()
    out = StringIO()
    call_command("mail_work", "--once", stdout=out)
    assert "1 letters processed" in out.getvalue()
    row.refresh_from_db()
    assert row.status == InboundMail.Status.PROCESSED, row.error
    assert (row.ticket.subject, row.ticket.channel) == ("Нет доступа к FTP", "email")


def test_with_process_or_the_setting_the_command_makes_the_ticket_itself(
    mailbox: Mailbox, settings
) -> None:
    pipe("--partner", "alpha", "--process")
    first = InboundMail.objects.get()
    assert first.status == InboundMail.Status.PROCESSED, first.error
    assert first.ticket.subject == "Нет доступа к FTP"
    settings.FIRSTLINE_MAIL_PROCESS_INLINE = True
    pipe("--partner", "alpha", raw=RAW.replace(b"pipe-1@", b"pipe-2@"))
    second = InboundMail.objects.get(message_id="pipe-2@customer.example")
    assert second.status == InboundMail.Status.PROCESSED, second.error
    assert second.ticket_id != first.ticket_id


def test_the_same_message_piped_twice_is_stored_once(mailbox: Mailbox) -> None:
    """An MTA that retries after a lost exit status does no harm."""
    pipe("--partner", "alpha")
    pipe("--partner", "alpha")
    assert InboundMail.objects.count() == 1


def test_a_message_can_be_read_from_a_file(mailbox: Mailbox, tmp_path: Path) -> None:
    path = tmp_path / "message.eml"
    path.write_bytes(RAW)
    call_command("mail_in", "--partner", "alpha", "--file", str(path), stdout=StringIO())
    assert InboundMail.objects.get().raw_bytes() == RAW


def test_the_mailbox_is_chosen_by_address_or_the_partners_support_address(
    mailbox: Mailbox, alpha: Partner
) -> None:
    sales = Mailbox.objects.create(partner=alpha, address="sales@alpha.example")
    pipe("--partner", "alpha", "--mailbox", "Sales@Alpha.example")
    assert InboundMail.objects.get().mailbox == sales
    # Several mailboxes and none named: the one with the partner's support address.
    pipe("--partner", "alpha", raw=RAW.replace(b"pipe-1@", b"pipe-2@"))
    assert InboundMail.objects.get(message_id="pipe-2@customer.example").mailbox == mailbox


def test_several_mailboxes_without_a_support_one_need_mailbox(alpha: Partner) -> None:
    Mailbox.objects.create(partner=alpha, address="one@alpha.example")
    Mailbox.objects.create(partner=alpha, address="two@alpha.example")
    error = refused("--partner", "alpha")
    assert error.returncode == mail_in.EX_USAGE == 64
    assert "one@alpha.example, two@alpha.example" in str(error)
    assert InboundMail.objects.count() == 0


def test_an_unknown_partner_or_mailbox_is_ex_nouser(mailbox: Mailbox, alpha: Partner) -> None:
    """67: the MTA bounces the letter with "user unknown"."""
    Mailbox.objects.create(partner=make_partner("beta"), address="help@beta.example")
    inactive = Mailbox.objects.create(partner=alpha, address="old@alpha.example",
                                      is_active=False)
    for args in (
        ("--partner", "nobody"),
        ("--partner", "alpha", "--mailbox", "nobody@alpha.example"),
        ("--partner", "alpha", "--mailbox", inactive.address),
        # Another partner's mailbox is not this partner's.
        ("--partner", "alpha", "--mailbox", "help@beta.example"),
    ):
        error = refused(*args)
        assert error.returncode == mail_in.EX_NOUSER == 67, args
    assert InboundMail.objects.count() == 0


def test_empty_input_is_refused(mailbox: Mailbox) -> None:
    assert refused("--partner", "alpha", raw=b"").returncode == mail_in.EX_NOINPUT == 66


def test_a_database_error_is_a_temporary_failure(mailbox: Mailbox) -> None:
    """75 (EX_TEMPFAIL): the MTA keeps the letter and tries again later."""
    table = InboundMail._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {table} RENAME TO {table}_away")
    try:
        error = refused("--partner", "alpha")
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {table}_away RENAME TO {table}")
    assert error.returncode == mail_in.EX_TEMPFAIL == 75
    assert "try again later" in str(error)
    pipe("--partner", "alpha")  # the retry
    assert InboundMail.objects.get().raw_bytes() == RAW


def test_the_command_exits_75_when_the_database_is_unreachable(tmp_path: Path) -> None:
    """The real process, as an MTA runs it, with a database it cannot open."""
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path}/missing/dir/firstline.sqlite3",
        "SECRET_KEY": "firstline-test-secret-key-not-for-production",
        "DEBUG": "0",
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    done = subprocess.run(
        [sys.executable, "-m", "firstline", "mail_in", "--partner", "alpha"],
        input=RAW, capture_output=True, env=env, timeout=60, check=False,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert done.returncode == 75, done.stderr.decode()
    assert b"the database is unavailable, try again later" in done.stderr
    assert done.stdout == b""
