"""Inbound mail throughput on PostgreSQL: `ingest_raw` over generated letters.

Usage (a throwaway database is created and dropped):
    .venv/bin/python bench/mail_ingest.py [--messages 10000] [--processes N]

The letters are a realistic mix for one partner mailbox: 60% new requests from known
customers (ticket + acknowledgement in the outbox), 15% from unknown senders (a new
contact too), 20% answers on an existing thread by In-Reply-To, 5% auto-replies (no
acknowledgement). Each letter is stored raw, parsed and processed, one transaction each, as
the transports call it. Printed: the baselines (`parse()` alone over the same letters;
`store_raw` alone, i.e. one INSERT and one commit; `create_ticket` alone, the portal's
path), ingest letters per second with its ratio to each, queries per letter, and peak
memory (the process's maximum RSS, and tracemalloc's peak over a sample of the letters).
The load average is printed too: figures from a busy machine are not comparable.

With `--processes N` only ingest is measured, as a deployment with N mail workers runs it:
after the same warm-up (20 letters, in the parent) the remaining letters are split into N
contiguous runs and ingested by N forked worker processes at once, each with its own
connection to the same database. Printed: the total letters per second (all letters over
the wall time from the common start until the last worker ends), each worker's own rate
and its peak RSS. An answer whose original is still being ingested by another worker opens
a ticket of its own, as it would in production; the result line shows the counts.
"""

import argparse
import multiprocessing
import os
import random
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
DB = "firstline_bench_mail"
PSQL = ["psql", "-h", "/var/run/postgresql", "-U", "postgres", "-d", "postgres", "-qc"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--processes", type=int, default=0,
                        help="ingest only, with N worker processes in parallel")
    args = parser.parse_args()
    subprocess.run([*PSQL, f"DROP DATABASE IF EXISTS {DB}"], check=True)
    subprocess.run([*PSQL, f"CREATE DATABASE {DB}"], check=True)
    # Over the Unix socket: on these machines TCP to 127.0.0.1 costs ~4x per round trip.
    os.environ["DATABASE_URL"] = f"postgres://postgres@%2Fvar%2Frun%2Fpostgresql/{DB}"
    # Not DEBUG: Django would keep every query of the run in memory.
    os.environ["DEBUG"] = "0"
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key")
    os.environ["DJANGO_SETTINGS_MODULE"] = "firstline.settings"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    try:
        if args.processes > 0:
            run_parallel(args.messages, args.processes)
        else:
            run(args.messages)
    finally:
        from django.db import connections

        connections.close_all()
        subprocess.run([*PSQL, f"DROP DATABASE IF EXISTS {DB}"], check=False)


def setup():  # type: ignore[no-untyped-def]
    from firstline.contacts.models import Contact, ContactEmail, Organisation
    from firstline.core.models import Partner, Tariff
    from firstline.mail.models import Mailbox

    tariff = Tariff.objects.create(code="t", name="T", requests_included=1, minutes_included=1,
                                   monthly_fee=1, first_month_fee=1, overage_request_fee=1,
                                   overage_minute_fee=1)
    partner = Partner.objects.create(name="Облакотека", slug="oblako", tariff=tariff,
                                     support_email="support@oblako.example")
    organisation = Organisation.objects.create(partner=partner, name="ООО Ромашка",
                                               contract_number="R-001")
    contacts = Contact.objects.bulk_create(
        Contact(partner=partner, organisation=organisation, name=f"Иван Петров {i}")
        for i in range(500)
    )
    ContactEmail.objects.bulk_create(
        ContactEmail(partner=partner, contact=contact, address=f"ivan{i}@romashka.example",
                     is_confirmed=True)
        for i, contact in enumerate(contacts)
    )
    return Mailbox.objects.create(partner=partner, address="help@oblako.example")


SUBJECTS = ["Нет доступа на FTP", "Не работает почта", "Вопрос", "Сайт открывается медленно",
            "VPN drops every ten minutes", "Помогите", "Ошибка 502 на сайте"]
BODY = (
    "Здравствуйте!\n\n{first}. Проверили с двух компьютеров, ошибка повторяется.\n"
    "Номер договора R-001.\n\n-- \nИван Петров\nООО Ромашка\n+7 495 000-00-00\n"
)


def letter(index: int, sender: str, subject: str, extra: str = "", body_first: str = "") -> bytes:
    text = BODY.format(first=body_first or f"Не могу зайти на сервер {index}")
    return (
        f"From: Иван Петров <{sender}>\r\nTo: help@oblako.example\r\n"
        f"Subject: {subject}\r\nMessage-ID: <bench-{index}@romashka.example>\r\n"
        f"Date: Tue, 03 Mar 2026 10:00:00 +0300\r\nMIME-Version: 1.0\r\n{extra}"
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        + text.replace("\n", "\r\n")
    ).encode("utf-8")


def generate(count: int) -> list[bytes]:
    """Letters in arrival order; answers refer to letters generated before them."""
    rng = random.Random(7)
    letters: list[bytes] = []
    for index in range(count):
        roll = rng.random()
        subject = rng.choice(SUBJECTS)
        if roll < 0.60 or index < 20:
            letters.append(letter(index, f"ivan{rng.randrange(500)}@romashka.example", subject))
        elif roll < 0.75:
            letters.append(letter(index, f"new{index}@elsewhere.example", subject))
        elif roll < 0.95:
            answered = rng.randrange(max(index - 200, 0), index)
            letters.append(letter(
                index, f"ivan{rng.randrange(500)}@romashka.example", f"Re: {subject}",
                extra=f"In-Reply-To: <bench-{answered}@romashka.example>\r\n",
                body_first="Вот результат tracert",
            ))
        else:
            letters.append(letter(index, f"ivan{rng.randrange(500)}@romashka.example",
                                  f"Автоответ: {subject}", extra="Auto-Submitted: auto-replied\r\n",
                                  body_first="Я в отпуске"))
    return letters


def run(count: int) -> None:
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    from firstline.contacts.models import Contact
    from firstline.mail.ingest import ingest_raw, store_raw
    from firstline.mail.models import InboundMail, Mailbox
    from firstline.mail.parsing import parse
    from firstline.outbox.models import OutboxMessage
    from firstline.tickets.models import Channel, Ticket
    from firstline.tickets.services import create_ticket

    mailbox = setup()
    letters = generate(count)
    size = sum(map(len, letters))
    print(f"{count} letters, {size / count:.0f} bytes each on average, PostgreSQL over the "
          f"Unix socket, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")

    start = time.perf_counter()
    for raw in letters:
        parse(raw)
    parse_seconds = time.perf_counter() - start
    parse_rate = count / parse_seconds
    print(f"baseline: parse() alone       {parse_rate:9.0f} letters/s")

    # Baselines that bound ingest from below: keeping the raw bytes (one INSERT and one
    # commit, the transport's part) and opening a ticket through the ticket services alone
    # (what the portal does), each over 1000 of the letters.
    other = Mailbox.objects.create(partner=mailbox.partner, address="baseline@oblako.example")
    start = time.perf_counter()
    for raw in letters[:1000]:
        store_raw(raw, mailbox=other)
    store_rate = 1000 / (time.perf_counter() - start)
    print(f"baseline: store_raw alone     {store_rate:9.0f} letters/s")
    contact = Contact.objects.filter(partner=mailbox.partner).first()
    start = time.perf_counter()
    for index in range(1000):
        create_ticket(partner=mailbox.partner, actor=None, channel=Channel.EMAIL,
                      subject=SUBJECTS[index % len(SUBJECTS)], text=BODY.format(first="x"),
                      contact=contact)
    ticket_rate = 1000 / (time.perf_counter() - start)
    print(f"baseline: create_ticket alone {ticket_rate:9.0f} tickets/s")

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Warm-up outside the measurement (imports, the morphology analyser, caches).
    with CaptureQueriesContext(connection) as queries:
        for raw in letters[:20]:
            ingest_raw(raw, mailbox=mailbox)
    per_letter = len(queries) / 20
    reset_queries()
    start = time.perf_counter()
    for raw in letters[20:]:
        inbound = ingest_raw(raw, mailbox=mailbox)
        if inbound.status == InboundMail.Status.FAILED:
            raise SystemExit(f"letter {inbound.pk} failed: {inbound.error}")
    ingest_seconds = time.perf_counter() - start
    ingest_rate = (count - 20) / ingest_seconds
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"ingest_raw (store+parse+act) {ingest_rate:9.0f} letters/s   "
          f"x{ingest_rate / parse_rate:.3f} of parse, x{ingest_rate / store_rate:.2f} of "
          f"store_raw, x{ingest_rate / ticket_rate:.2f} of create_ticket   "
          f"{per_letter:.0f} queries/letter")

    # Duplicates: the same letters delivered again (a poller restarted) create nothing.
    start = time.perf_counter()
    for raw in letters[:1000]:
        ingest_raw(raw, mailbox=mailbox)
    print(f"duplicate delivery           {1000 / (time.perf_counter() - start):9.0f} letters/s")

    tracemalloc.start()
    for index, raw in enumerate(letters[:500]):
        ingest_raw(raw.replace(b"<bench-", f"<again{index}-".encode(), 1), mailbox=mailbox)
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"peak memory: max RSS {rss_before / 1024:.0f} MiB before ingest, "
          f"{rss_after / 1024:.0f} MiB after {count} letters; tracemalloc peak over 500 "
          f"letters {peak / 1024 / 1024:.1f} MiB")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    print(f"result: {Ticket.objects.count()} tickets, {OutboxMessage.objects.count()} outbox "
          f"letters, {InboundMail.objects.count()} inbound rows "
          f"({InboundMail.objects.filter(status='ignored').count()} ignored)")


WARM_UP = 20


def _worker(letters: list[bytes], mailbox_pk: int, start: "multiprocessing.synchronize.Barrier",
            results: "multiprocessing.Queue[tuple[int, float, int, int]]") -> None:
    # A forked child: the parent closed its connections before forking, so this process
    # opens its own.
    from firstline.mail.ingest import ingest_raw
    from firstline.mail.models import InboundMail, Mailbox

    mailbox = Mailbox.objects.select_related("partner").get(pk=mailbox_pk)
    start.wait()
    began = time.perf_counter()
    failed = 0
    for raw in letters:
        if ingest_raw(raw, mailbox=mailbox).status == InboundMail.Status.FAILED:
            failed += 1
    seconds = time.perf_counter() - began
    from django.db import connections

    connections.close_all()
    results.put((len(letters), seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                 failed))


def run_parallel(count: int, processes: int) -> None:
    from django.db import connection, connections
    from django.test.utils import CaptureQueriesContext

    from firstline.mail.ingest import ingest_raw
    from firstline.mail.models import InboundMail
    from firstline.outbox.models import OutboxMessage
    from firstline.tickets.models import Ticket

    mailbox = setup()
    letters = generate(count)
    print(f"{count} letters, {processes} worker process(es), PostgreSQL over the Unix socket, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    with CaptureQueriesContext(connection) as queries:
        for raw in letters[:WARM_UP]:
            ingest_raw(raw, mailbox=mailbox)
    per_letter = len(queries) / WARM_UP
    rest = letters[WARM_UP:]
    size = -(-len(rest) // processes)
    runs = [rest[index * size:(index + 1) * size] for index in range(processes)]
    connections.close_all()  # never share a connection with the children

    context = multiprocessing.get_context("fork")
    start = context.Barrier(processes + 1)
    results: multiprocessing.Queue[tuple[int, float, int, int]] = context.Queue()
    workers = [context.Process(target=_worker, args=(run, mailbox.pk, start, results))
               for run in runs]
    for worker in workers:
        worker.start()
    start.wait()
    began = time.perf_counter()
    reports = [results.get() for _worker_ in workers]
    wall = time.perf_counter() - began
    for worker in workers:
        worker.join()
        if worker.exitcode:
            raise SystemExit(f"a worker failed with exit code {worker.exitcode}")
    done = sum(report[0] for report in reports)
    print(f"ingest_raw with {processes} process(es) {done / wall:9.0f} letters/s total "
          f"({done} letters in {wall:.1f} s)   {per_letter:.0f} queries/letter (warm-up)")
    for index, (letters_done, seconds, max_rss, failed) in enumerate(reports):
        print(f"  worker {index}: {letters_done} letters, {letters_done / seconds:.0f} "
              f"letters/s, peak RSS {max_rss / 1024:.0f} MiB, {failed} failed")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    print(f"result: {Ticket.objects.count()} tickets, {OutboxMessage.objects.count()} outbox "
          f"letters, {InboundMail.objects.count()} inbound rows "
          f"({InboundMail.objects.filter(status='failed').count()} failed)")


if __name__ == "__main__":
    main()
