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

With `--processes N` only ingest is measured, as a deployment with N mail processes runs
it, three ways interleaved over `--rounds` rounds, each on a fresh copy (CREATE DATABASE …
TEMPLATE) of the same prepared database: "ingest", each letter through `ingest_raw` (stored,
committed, processed, committed: the transports' old immediate path, the baseline);
"queue", each of N processes storing letters and processing the stored ones by
`process_stored` in batches of `--batch` (one transaction a batch); and "product", the
path the product runs: one transport process hands every letter to `ingest.receive` in
arrival order, as the LMTP listener or the IMAP poller do (stored and committed, nothing
else), while N mail worker processes run `firstline mail_work`'s own loop (`work`: a
lock-free look for waiting letters every `--interval` seconds, then batches), timed from
the first letter handed over to the last one processed; its CPU counts the transport too.
The first 20 letters warm up (in the parent, queries counted), the others are split into N
contiguous runs for N forked processes (all of them to the one transport in "product").
Printed per round: letters per second over the wall time, queries per letter, the latency
from stored to processed (p50/p95), the CPU a letter costs in the worker processes and their
PostgreSQL backends (from /proc): 2,000 ms over that is what two idle cores could ingest, a
figure a busy machine distorts far less than the wall time; and the load average before the
round. Then median (min–max) over the rounds and the queue/ingest and product/ingest
ratios. An answer whose original is still being ingested by another worker opens a ticket
of its own, as it would in production; the ticket counts show it.
"""

import argparse
import multiprocessing
import os
import random
import resource
import statistics
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
                        help="ingest only, with N worker processes in parallel: per-letter "
                             "ingest_raw against the stored-letter queue")
    parser.add_argument("--rounds", type=int, default=3,
                        help="with --processes: interleaved rounds of both. Default 3.")
    parser.add_argument("--batch", type=int, default=20,
                        help="with --processes: letters a queue transaction takes. Default 20.")
    parser.add_argument("--interval", type=float, default=1.0,
                        help="with --processes: an idle mail worker's poll in seconds "
                             "(mail_work --interval). Default 1, as the product runs it.")
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
            run_parallel(args.messages, args.processes, args.rounds, args.batch,
                         args.interval)
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
MODES = ("ingest", "queue", "product")


def _ingest_letters(letters: list[bytes], mailbox) -> None:  # type: ignore[no-untyped-def]
    """The transport calls ingest_raw for each letter: store (commit), process (commit)."""
    from firstline.mail.ingest import ingest_raw

    for raw in letters:
        ingest_raw(raw, mailbox=mailbox)


def _queue_letters(letters: list[bytes], mailbox, batch: int) -> None:  # type: ignore[no-untyped-def]
    """The transport stores each letter (its own commit, as before), a worker processes the
    stored queue in batches (one commit a batch); here one process does both in turn, the
    way a poller fetching `batch` letters at a time would."""
    from firstline.mail.ingest import process_stored, store_raw

    for start in range(0, len(letters), batch):
        for raw in letters[start:start + batch]:
            store_raw(raw, mailbox=mailbox)
        process_stored(limit=batch)
    while process_stored(limit=batch):
        pass


def _worker(mode: str, batch: int, letters: list[bytes], mailbox_pk: int,
            start: "multiprocessing.synchronize.Barrier",
            results: "multiprocessing.Queue[tuple[int, float, int, float, float]]") -> None:
    # A forked child: the parent closed its connections before forking, so this process
    # opens its own.
    from firstline.mail.models import Mailbox

    mailbox = Mailbox.objects.select_related("partner").get(pk=mailbox_pk)
    server = _server_pid()
    start.wait()
    began = time.perf_counter()
    cpu = _cpu_seconds(os.getpid()), _cpu_seconds(server)
    if mode == "ingest":
        _ingest_letters(letters, mailbox)
    else:
        _queue_letters(letters, mailbox, batch)
    seconds = time.perf_counter() - began
    client_cpu = _cpu_seconds(os.getpid()) - cpu[0]
    server_cpu = _cpu_seconds(server) - cpu[1]
    from django.db import connections

    connections.close_all()
    results.put((len(letters), seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                 client_cpu, server_cpu))


def _transport(letters: list[bytes], mailbox_pk: int,
               start: "multiprocessing.synchronize.Barrier",
               results: "multiprocessing.Queue[tuple[int, float, int, float, float]]") -> None:
    """What the LMTP listener or the IMAP poller does with each letter: ingest.receive, which
    stores it (its own commit) and leaves it to the mail workers."""
    from django.db import connections

    from firstline.mail.ingest import receive
    from firstline.mail.models import Mailbox

    mailbox = Mailbox.objects.select_related("partner").get(pk=mailbox_pk)
    server = _server_pid()
    start.wait()
    began = time.perf_counter()
    cpu = _cpu_seconds(os.getpid()), _cpu_seconds(server)
    for raw in letters:
        receive(raw, mailbox=mailbox)
    seconds = time.perf_counter() - began
    report = (0, seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
              _cpu_seconds(os.getpid()) - cpu[0], _cpu_seconds(server) - cpu[1])
    connections.close_all()
    results.put(report)


def _mail_worker(batch: int, interval: float, start: "multiprocessing.synchronize.Barrier",
                 results: "multiprocessing.Queue[tuple[int, float, int, float, float]]") -> None:
    """One `firstline mail_work` process: its own loop, until SIGTERM."""
    import signal
    import threading

    from django.db import connections

    from firstline.mail.management.commands.mail_work import work

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda _signum, _frame: stop.set())
    server = _server_pid()
    start.wait()
    began = time.perf_counter()
    cpu = _cpu_seconds(os.getpid()), _cpu_seconds(server)
    taken = work(stop=stop, batch=batch, interval=interval, once=False)
    seconds = time.perf_counter() - began
    # The same backend all along: the worker keeps its connection (CONN_MAX_AGE).
    report = (taken, seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
              _cpu_seconds(os.getpid()) - cpu[0], _cpu_seconds(server) - cpu[1])
    connections.close_all()
    results.put(report)


def _run_product(rest: list[bytes], processes: int, batch: int, interval: float,
                 mailbox_pk: int) -> tuple[list[tuple[int, float, int, float, float]], float]:
    """One transport and N mail workers at once; the wall time until every letter is
    processed."""
    from firstline.mail.ingest import letters_waiting

    context = multiprocessing.get_context("fork")
    start = context.Barrier(processes + 2)
    results: multiprocessing.Queue[tuple[int, float, int, float, float]] = context.Queue()
    transport = context.Process(target=_transport, args=(rest, mailbox_pk, start, results))
    workers = [context.Process(target=_mail_worker, args=(batch, interval, start, results))
               for _number in range(processes)]
    for process in (transport, *workers):
        process.start()
    start.wait()
    began = time.perf_counter()
    reports = [results.get()]  # the transport has handed every letter over
    while letters_waiting():
        time.sleep(0.02)
    wall = time.perf_counter() - began
    for worker in workers:
        worker.terminate()  # SIGTERM: the worker finishes its batch and reports
    reports += [results.get() for _worker in workers]
    for process in (transport, *workers):
        process.join()
        if process.exitcode:
            raise SystemExit(f"a process failed with exit code {process.exitcode}")
    return reports, wall



def _server_pid() -> int:
    """The PostgreSQL backend process serving this process's connection (same machine)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _cpu_seconds(pid: int) -> float:
    """User and system CPU seconds a process has used so far (Linux /proc): what the work
    costs whatever else the machine runs, unlike the wall time."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _use_database(name: str) -> None:
    from django.db import connections

    connections.close_all()
    connections["default"].settings_dict["NAME"] = name


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


def _one_run(mode: str, letters: list[bytes], processes: int, batch: int,
             clone: str, interval: float = 1.0) -> dict[str, float]:
    """One measurement on a fresh copy of the prepared database."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from firstline.mail.models import InboundMail, Mailbox
    from firstline.tickets.models import Ticket

    _use_database(DB)
    subprocess.run([*PSQL, f"DROP DATABASE IF EXISTS {clone}"], check=True)
    subprocess.run([*PSQL, f"CREATE DATABASE {clone} TEMPLATE {DB}"], check=True)
    _use_database(clone)
    mailbox = Mailbox.objects.select_related("partner").get(address="help@oblako.example")
    with CaptureQueriesContext(connection) as queries:
        if mode == "ingest":
            _ingest_letters(letters[:WARM_UP], mailbox)
        else:  # "queue", and "product" (the same statements: stored, then one batch)
            _queue_letters(letters[:WARM_UP], mailbox, batch)
    per_letter = len(queries) / WARM_UP
    rest = letters[WARM_UP:]
    size = -(-len(rest) // processes)
    runs = [rest[index * size:(index + 1) * size] for index in range(processes)]
    _use_database(clone)  # never share a connection with the children

    if mode == "product":
        reports, wall = _run_product(rest, processes, batch, interval, mailbox.pk)
    else:
        context = multiprocessing.get_context("fork")
        start = context.Barrier(processes + 1)
        results: multiprocessing.Queue[tuple[int, float, int, float, float]] = context.Queue()
        workers = [context.Process(target=_worker, args=(mode, batch, run, mailbox.pk, start,
                                                         results))
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
    measured = InboundMail.objects.filter(pk__gt=WARM_UP)
    left = measured.filter(status=InboundMail.Status.STORED).count()
    failed = measured.filter(status=InboundMail.Status.FAILED).count()
    if left or failed or measured.count() != done:
        raise SystemExit(f"{mode}: {left} letters left stored, {failed} failed, "
                         f"{measured.count()} rows for {done} letters")
    # Latency of a letter: from stored to processed (what a customer waits for the
    # acknowledgement, before the outbox sends it).
    latencies = [(processed - received).total_seconds() * 1000 for received, processed in
                 measured.values_list("received_at", "processed_at")]
    result = {
        "rate": done / wall, "wall": wall, "queries": per_letter,
        "p50": _percentile(latencies, 0.50), "p95": _percentile(latencies, 0.95),
        "tickets": Ticket.objects.count(),
        "rss": max(report[2] for report in reports) / 1024,
        # CPU milliseconds a letter costs, in the worker and in its PostgreSQL backend: 2,000
        # divided by it is what two idle cores could ingest, however busy this machine is.
        "client_ms": sum(report[3] for report in reports) * 1000 / done,
        "server_ms": sum(report[4] for report in reports) * 1000 / done,
    }
    result["capacity"] = 2000 / (result["client_ms"] + result["server_ms"])
    _use_database(DB)
    subprocess.run([*PSQL, f"DROP DATABASE IF EXISTS {clone}"], check=True)
    return result


def run_parallel(count: int, processes: int, rounds: int, batch: int,
                 interval: float = 1.0) -> None:
    """Per-letter ingest_raw (the baseline) against the stored-letter queue, interleaved
    round by round, each on a fresh copy of the same prepared database."""
    setup()
    letters = generate(count)
    _use_database(DB)
    print(f"{count} letters, {processes} worker process(es), {rounds} rounds, queue batches "
          f"of {batch}, PostgreSQL over the Unix socket, load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    figures: dict[str, list[dict[str, float]]] = {mode: [] for mode in MODES}
    for number in range(rounds):
        for mode in MODES:
            load = os.getloadavg()[0]
            result = _one_run(mode, letters, processes, batch, f"{DB}_{mode}", interval)
            figures[mode].append(result)
            print(f"  round {number + 1} {mode:7}: {result['rate']:6.0f} letters/s "
                  f"({count - WARM_UP} in {result['wall']:.1f} s), "
                  f"{result['queries']:.1f} queries/letter, latency p50 "
                  f"{result['p50']:.0f} ms p95 {result['p95']:.0f} ms, "
                  f"CPU {result['client_ms']:.1f} + {result['server_ms']:.1f} ms/letter "
                  f"(worker + PostgreSQL: {result['capacity']:.0f} letters/s on 2 idle cores), "
                  f"{result['tickets']:.0f} tickets, peak RSS {result['rss']:.0f} MiB, "
                  f"load {load:.1f} before", flush=True)

    def spread(mode: str, key: str) -> str:
        values = [result[key] for result in figures[mode]]
        return f"{statistics.median(values):.0f} ({min(values):.0f}–{max(values):.0f})"

    for mode in MODES:
        print(f"{mode:7}: {spread(mode, 'rate')} letters/s, p50 {spread(mode, 'p50')} ms, "
              f"p95 {spread(mode, 'p95')} ms, {figures[mode][0]['queries']:.1f} queries/letter, "
              f"CPU-bound capacity on 2 idle cores {spread(mode, 'capacity')} letters/s")
    for mode in ("queue", "product"):
        ratios = [other["rate"] / ingest["rate"]
                  for ingest, other in zip(figures["ingest"], figures[mode], strict=True)]
        print(f"{mode} / ingest: x{statistics.median(ratios):.2f} "
              f"(x{min(ratios):.2f}–x{max(ratios):.2f} over the rounds)")
        ratios = [other["capacity"] / ingest["capacity"]
                  for ingest, other in zip(figures["ingest"], figures[mode], strict=True)]
        print(f"{mode} / ingest in CPU per letter: x{statistics.median(ratios):.2f} "
              f"(x{min(ratios):.2f}–x{max(ratios):.2f})")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
