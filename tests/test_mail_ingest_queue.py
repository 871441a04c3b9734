"""The stored letters as a queue: `process_stored` takes them in batches.

Every test of tests/test_mail_ingest.py and tests/test_mail_ingest_e2e.py runs here a second
time with the letter processed by `process_stored` instead of `process` (their `receive` and
`ingest_raw` swapped): the batch path must make exactly what the single path makes. The
tests after them check what only batches do: several letters in one transaction, one bad
letter among them, and on PostgreSQL two workers sharing the queue and a crashed worker's
letters taken over.
"""

import io
import threading

import pytest
from django.core.management import call_command
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext

from firstline.contacts.models import ContactEmail
from firstline.mail import handling, ingest
from firstline.mail.ingest import process_stored, store_raw
from firstline.mail.management.commands.mail_work import work
from firstline.mail.models import AutoReplyLog, InboundMail
from firstline.mail.parsed import Address
from firstline.outbox.models import OutboxMessage
from firstline.tickets import services as ticket_services
from firstline.tickets.models import Message, Ticket
from tests import test_mail_ingest as single
from tests import test_mail_ingest_e2e as single_e2e
from tests.test_mail_ingest import *  # noqa: F403 — the same tests, on the batch path
from tests.test_mail_ingest import acks, email_tickets, letter, make_mailbox, raw_for
from tests.test_mail_ingest_e2e import *  # noqa: F403
from tests.test_mail_ingest_e2e import eml


def _receive_in_a_batch(mailbox, parsed, raw=None) -> InboundMail:
    inbound = store_raw(raw if raw is not None else raw_for(parsed), mailbox=mailbox)
    if inbound.status == InboundMail.Status.STORED:
        assert process_stored(parse=lambda _raw: parsed) == 1
        inbound.refresh_from_db()
    return inbound


def _ingest_in_a_batch(raw, *, mailbox) -> InboundMail:
    inbound = store_raw(raw, mailbox=mailbox)
    if inbound.status == InboundMail.Status.STORED:
        assert process_stored() == 1
        inbound.refresh_from_db()
    return inbound


@pytest.fixture(autouse=True)
def through_the_queue(monkeypatch) -> None:
    monkeypatch.setattr(single, "receive", _receive_in_a_batch)
    monkeypatch.setattr(single_e2e, "ingest_raw", _ingest_in_a_batch)


# What only batches do ----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_batch_processes_its_letters_in_order_in_one_transaction(
    cast, mailbox, monkeypatch
) -> None:
    first = eml(message_id="<first@alpha.example>", subject="Нет доступа на FTP")
    answer = eml(message_id="<answer@alpha.example>", subject="Re: Нет доступа на FTP",
                 headers="In-Reply-To: <first@alpha.example>\n")
    other = eml(message_id="<other@alpha.example>", subject="Не работает почта")
    rows = [store_raw(raw, mailbox=mailbox) for raw in (first, answer, other)]
    commits = []
    commit = connection.commit
    with monkeypatch.context() as patch:
        patch.setattr(connection, "commit", lambda: commits.append(1) or commit())
        assert process_stored(limit=10) == 3
    assert commits == [1]
    for row in rows:
        row.refresh_from_db()
    assert [row.status for row in rows] == [InboundMail.Status.PROCESSED] * 3
    # The answer found the ticket its original opened a moment before, in the same batch.
    assert rows[1].ticket_id == rows[0].ticket_id != rows[2].ticket_id
    assert rows[1].ticket_message.kind == Message.Kind.INBOUND
    assert len(email_tickets(cast.a.partner)) == 2
    assert all(row.processed_at is not None and row.sender == "ivan@alpha.example"
               for row in rows)
    assert process_stored() == 0


def test_a_batch_takes_no_more_than_its_limit_oldest_first(cast, mailbox) -> None:
    rows = [store_raw(eml(message_id=f"<n{number}@alpha.example>"), mailbox=mailbox)
            for number in range(5)]
    assert process_stored(limit=2) == 2
    statuses = list(InboundMail.objects.order_by("id").values_list("status", flat=True))
    assert statuses == ["processed", "processed", "stored", "stored", "stored"]
    assert process_stored(limit=10) == 3
    assert InboundMail.objects.filter(pk__in=[row.pk for row in rows],
                                      status="processed").count() == 5


def test_one_failing_letter_costs_only_itself(cast, mailbox, monkeypatch) -> None:
    real = handling.handle

    def handle(inbound, parsed, raw, box, lookups=None):
        if "bad@alpha.example" in parsed.message_id:
            real(inbound, parsed, raw, box, lookups)  # its ticket is written, then it fails
            raise RuntimeError("disk full")
        real(inbound, parsed, raw, box, lookups)

    monkeypatch.setattr(handling, "handle", handle)
    raws = [eml(message_id="<good1@alpha.example>"), eml(message_id="<bad@alpha.example>"),
            eml(message_id="<good2@alpha.example>")]
    rows = [store_raw(raw, mailbox=mailbox) for raw in raws]
    assert process_stored(limit=10) == 3
    for row in rows:
        row.refresh_from_db()
    assert [row.status for row in rows] == ["processed", "failed", "processed"]
    assert "disk full" in rows[1].error
    # Nothing of the failed letter is left (the batch was rolled back, the letter alone too):
    # two tickets, two acknowledgements, one each.
    tickets = email_tickets(cast.a.partner)
    assert [ticket.pk for ticket in tickets] == [rows[0].ticket_id, rows[2].ticket_id]
    assert OutboxMessage.objects.filter(ticket__in=tickets).count() == 2


def test_a_parser_crash_in_a_batch_fails_that_letter_only(cast, mailbox) -> None:
    good = letter(message_id="fine@customer.example")

    def parse(raw: bytes):
        if b"garbage" in raw:
            raise LookupError("unknown encoding: x-weird")
        return good

    garbage = store_raw(b"\x00\xff garbage", mailbox=mailbox)
    fine = store_raw(raw_for(good), mailbox=mailbox)
    assert process_stored(parse=parse) == 2
    garbage.refresh_from_db()
    fine.refresh_from_db()
    assert garbage.status == "failed" and "x-weird" in garbage.error
    assert garbage.raw_bytes() == b"\x00\xff garbage"
    assert fine.status == "processed" and fine.ticket is not None


def test_a_letter_whose_raw_file_is_gone_fails_and_the_batch_goes_on(
    cast, mailbox, settings
) -> None:
    settings.FIRSTLINE_MAIL_RAW_DB_MAX_BYTES = 100
    lost = store_raw(eml(message_id="<lost@alpha.example>", body="x" * 500), mailbox=mailbox)
    lost.raw_file.delete(save=False)
    kept = store_raw(eml(message_id="<kept@alpha.example>", body="x" * 500), mailbox=mailbox)
    assert process_stored() == 2
    lost.refresh_from_db()
    kept.refresh_from_db()
    assert lost.status == "failed" and lost.error
    assert kept.status == "processed" and kept.ticket is not None
    assert process_stored() == 0


def test_two_letters_of_a_batch_cannot_both_adopt_one_message_id(cast, mailbox) -> None:
    # The header scan found no Message-ID (stored without), the parser found the same one.
    parsed = letter(message_id="folded@customer.example")
    first = store_raw(b"From: ivan@alpha.example\r\n\r\none", mailbox=mailbox)
    second = store_raw(b"From: ivan@alpha.example\r\n\r\ntwo", mailbox=mailbox)
    assert process_stored(parse=lambda _raw: parsed) == 2
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.message_id == "folded@customer.example" and second.message_id == ""
    assert first.status == second.status == "processed"


def test_a_batch_only_takes_the_mailboxes_asked_for(cast, mailbox) -> None:
    other = make_mailbox(cast.b)
    mine = store_raw(eml(message_id="<mine@alpha.example>"), mailbox=mailbox)
    theirs = store_raw(eml(message_id="<theirs@beta.example>", sender="ivan@beta.example",
                           to="help@beta.example"), mailbox=other)
    assert process_stored(mailbox_ids=[other.pk]) == 1
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.status == "stored" and theirs.status == "processed"
    assert theirs.ticket.partner == cast.b.partner  # tenancy: the mailbox's partner


def test_mail_work_once_empties_the_queue(cast, mailbox) -> None:
    for number in range(3):
        store_raw(eml(message_id=f"<w{number}@alpha.example>"), mailbox=mailbox)
    out = io.StringIO()
    call_command("mail_work", "--once", "--batch", "2", stdout=out)
    assert "3 letters processed" in out.getvalue()
    assert not InboundMail.objects.filter(status="stored").exists()


def test_an_idle_worker_only_reads_and_a_stored_letter_is_claimed(cast, mailbox) -> None:
    """The worker's poll: a plain read while the queue is empty (no transaction, no row
    lock, on SQLite no write lock); the claim only when a letter waits."""
    stop = threading.Event()
    with CaptureQueriesContext(connection) as queries:
        assert work(stop=stop, batch=20, interval=0, once=True) == 0
    mail = [query["sql"] for query in queries if "mail_inboundmail" in query["sql"]]
    assert len(mail) == 1 and mail[0].startswith("SELECT") and "FOR UPDATE" not in mail[0]
    row = store_raw(eml(message_id="<idle@alpha.example>"), mailbox=mailbox)
    assert work(stop=stop, batch=20, interval=0, once=True) == 1
    row.refresh_from_db()
    assert row.status == "processed" and row.ticket is not None


# A batch asks once what each letter would ask ----------------------------------------------


def _selects_from(queries, table: str) -> int:
    return sum(1 for query in queries
               if query["sql"].startswith("SELECT") and f'FROM "{table}"' in query["sql"])


@pytest.mark.parametrize("count", [2, 8])
def test_a_batch_looks_up_senders_references_and_reply_counts_in_one_query_each(
    cast, mailbox, count
) -> None:
    original = store_raw(eml(message_id="<orig@alpha.example>"), mailbox=mailbox)
    assert process_stored() == 1
    for number in range(count):
        known = number % 2 == 0
        store_raw(eml(
            message_id=f"<q{number}@alpha.example>",
            sender="ivan@alpha.example" if known else f"new{number}@elsewhere.example",
            subject="Re: FTP" if number % 4 == 0 else f"Вопрос {number}",
            headers="In-Reply-To: <orig@alpha.example>\n" if number % 4 == 0 else "",
        ), mailbox=mailbox)
    with CaptureQueriesContext(connection) as queries:
        assert process_stored(limit=20) == count
    assert _selects_from(queries, "contacts_contactemail") == 1
    assert _selects_from(queries, "mail_mailreference") == 1
    assert _selects_from(queries, "mail_autoreplylog") == 1
    rows = InboundMail.objects.exclude(pk=original.pk).order_by("id")
    assert {row.status for row in rows} == {"processed"}
    original.refresh_from_db()
    answers = [row for number, row in enumerate(rows) if number % 4 == 0]
    assert {row.ticket_id for row in answers} == {original.ticket_id}
    assert len(email_tickets(cast.a.partner)) == 1 + count - len(answers)


def test_the_ticket_and_messages_a_batch_inserts_are_what_the_database_holds(
    cast, mailbox, monkeypatch
) -> None:
    """Tickets and messages go in by a prebuilt INSERT (tickets.services._insert): the
    instances the batch goes on with must be the rows as read back, database defaults too."""
    made: list = []
    real = ticket_services._insert
    monkeypatch.setattr(ticket_services, "_insert",
                        lambda instance: real(instance) or made.append(instance))
    store_raw(eml(message_id="<ins@alpha.example>"), mailbox=mailbox)
    assert process_stored() == 1
    assert {type(item).__name__ for item in made} == {"Ticket", "Message"}
    for item in made:
        stored = type(item).objects.get(pk=item.pk)
        assert not item._state.adding and item._state.db == stored._state.db
        for field in type(item)._meta.concrete_fields:
            assert getattr(item, field.attname) == getattr(stored, field.attname), field.name
    (ticket,) = [item for item in made if isinstance(item, Ticket)]
    assert ticket.is_spam is False and ticket.number.startswith("FL-")


def test_two_letters_of_a_new_sender_in_one_batch_make_one_contact(cast, mailbox) -> None:
    first = store_raw(eml(message_id="<n1@x.example>", sender="Пётр <petr@new.example>",
                          subject="Вопрос один"), mailbox=mailbox)
    second = store_raw(eml(message_id="<n2@x.example>", sender="Пётр <petr@new.example>",
                           subject="Вопрос два"), mailbox=mailbox)
    assert process_stored() == 2
    first.refresh_from_db()
    second.refresh_from_db()
    (email,) = ContactEmail.objects.filter(address="petr@new.example")
    assert first.ticket.contact_id == second.ticket.contact_id == email.contact_id
    assert not email.is_confirmed


def test_the_reply_limit_holds_inside_one_batch(cast, mailbox, settings) -> None:
    settings.FIRSTLINE_MAIL_AUTOREPLY_MAX = 3
    # One automatic reply already went to Ivan within the hour: two more may go.
    AutoReplyLog.objects.create(partner=cast.a.partner, address="ivan@alpha.example")
    rows = [store_raw(eml(message_id=f"<l{number}@alpha.example>",
                          subject=f"Вопрос номер {number}"), mailbox=mailbox)
            for number in range(4)]
    assert process_stored() == 4
    for row in rows:
        row.refresh_from_db()
    assert [bool(acks(row.ticket)) for row in rows] == [True, True, False, False]
    assert all("automatic replies" in row.problems for row in rows[2:])
    assert AutoReplyLog.objects.filter(address="ivan@alpha.example").count() == 3


@pytest.mark.django_db(transaction=True)
def test_an_answer_address_the_outbox_refuses_costs_only_the_acknowledgement(
    cast, mailbox, monkeypatch
) -> None:
    refused = letter(message_id="refused@customer.example",
                     reply_to=(Address("", "not-an-address@"),), subject="Вопрос один")
    fine = letter(message_id="fine@customer.example", subject="Вопрос два")
    by_raw = {raw_for(parsed): parsed for parsed in (refused, fine)}
    rows = [store_raw(raw, mailbox=mailbox) for raw in by_raw]
    commits = []
    commit = connection.commit
    with monkeypatch.context() as patch:
        patch.setattr(connection, "commit", lambda: commits.append(1) or commit())
        assert process_stored(parse=by_raw.__getitem__) == 2
    assert commits == [1]  # one transaction: the batch was not rolled back and redone
    for row in rows:
        row.refresh_from_db()
    assert [row.status for row in rows] == ["processed", "processed"]
    assert "No acknowledgement: Not an e-mail address: not-an-address@" in rows[0].problems
    assert acks(rows[0].ticket) == [] and len(acks(rows[1].ticket)) == 1
    assert AutoReplyLog.objects.count() == 1


# Several workers (PostgreSQL) --------------------------------------------------------------

@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs several connections")
def test_two_workers_process_each_letter_exactly_once(cast, mailbox) -> None:
    count = 30
    # Each from its own new address: an acknowledgement each (the rate limit is per address),
    # and a new contact each, none twice.
    rows = [store_raw(eml(message_id=f"<c{number}@alpha.example>",
                          sender=f"client{number}@elsewhere.example",
                          subject=f"Вопрос номер {number}"), mailbox=mailbox)
            for number in range(count)]
    barrier, errors, taken = threading.Barrier(2), [], [0, 0]

    def worker(number: int) -> None:
        try:
            barrier.wait()
            while done := process_stored(limit=4):
                taken[number] += done
        except BaseException as error:  # reported by the test
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(number,)) for number in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(taken) == count
    statuses = set(InboundMail.objects.filter(pk__in=[row.pk for row in rows])
                   .values_list("status", flat=True))
    assert statuses == {"processed"}
    tickets = email_tickets(cast.a.partner)
    assert len(tickets) == count  # one ticket per letter, none twice
    assert sorted(ticket.subject for ticket in tickets) == sorted(
        f"Вопрос номер {number}" for number in range(count))
    assert OutboxMessage.objects.filter(ticket__in=tickets).count() == count
    assert Message.objects.filter(ticket__in=tickets, kind="inbound").count() == count
    assert ContactEmail.objects.filter(address__endswith="@elsewhere.example").count() == count


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs several connections")
def test_a_crashed_workers_letters_are_taken_over(cast, mailbox) -> None:
    rows = [store_raw(eml(message_id=f"<k{number}@alpha.example>"), mailbox=mailbox)
            for number in range(3)]
    claimed, crash = threading.Event(), threading.Event()
    held: list[int] = []

    def crashing_worker() -> None:
        try:
            with transaction.atomic():
                held.extend(row.pk for row in ingest._claim(10, None))
                claimed.set()
                crash.wait(10)
                raise SystemExit  # the process dies mid-batch
        except SystemExit:
            pass
        finally:
            connections.close_all()

    thread = threading.Thread(target=crashing_worker)
    thread.start()
    assert claimed.wait(10)
    assert held == [row.pk for row in rows]
    # While the other worker holds them, they are skipped, not waited for.
    assert process_stored() == 0
    crash.set()
    thread.join()
    assert process_stored() == 3
    assert set(InboundMail.objects.values_list("status", flat=True)) == {"processed"}
    assert Ticket.objects.filter(inbound_mail__in=rows).distinct().count() == 3
