"""Outbound webhook deliveries per second on PostgreSQL, with 2 outbox worker processes.

Usage (a throwaway database is created and dropped; over the Unix socket, see DESIGN.md):
    .venv/bin/python bench/webhooks.py [--events 3000] [--rounds 3] [--workers 2]

Each round starts `--workers` processes of `firstline deliver_outbox --loop` and waits until
they are connected (a production worker runs all the time: its start-up is not a delivery
cost), publishes `--events` ticket.status_changed events (one transaction; one subscription,
so one signed outbox row each), and times from the commit until every row is sent to a local
receiver (a separate process: ThreadingHTTPServer with keep-alive and TCP_NODELAY, as nginx
has, that checks every signature and answers 200). The workers' CPU per delivery includes
their idle polling while the events are published.

Baseline in the same run: the same number of signed POSTs of the same bodies to the same
receiver, from `--workers` plain client processes through the same HTTP client
(firstline.outbox.httpclient.post: urllib, a new connection per request), no database.
The ratio says what the outbox costs on top of HTTP: the batch claim and load, the
subscription lookup and URL check per batch, the finishing UPDATE; the workers send over
kept-alive connections, which the baseline does not.

At the end: the publisher's cost per event of the webhooks' subscriber (on_event), with a
subscription, for an event nobody subscribes to, and the former per-event query alone.
"""

import argparse
import multiprocessing
import os
import resource
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DB = "firstline_bench_webhooks"
PSQL = ["psql", "-h", "/var/run/postgresql", "-U", "postgres", "-d", "postgres", "-qc"]
SECRET = "whsec_bench"  # noqa: S105 - the bench's own receiver


def receive(port_queue: "multiprocessing.Queue[int]", counter: "multiprocessing.Value") -> None:
    """The receiver process: verify the signature, count, answer 200."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    sys.path.insert(0, str(ROOT))
    from firstline.webhooks import signing

    class Handler(BaseHTTPRequestHandler):
        # Keep-alive, as any real receiver (nginx, a framework's server) allows, and no
        # Nagle delay between the header and body writes (nginx: tcp_nodelay on): else
        # every answer on a kept-alive connection waits ~40 ms for the client's delayed ACK.
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            ok = signing.verify(SECRET, self.headers.get(signing.SIGNATURE_HEADER, ""), body)
            if ok:
                with counter.get_lock():
                    counter.value += 1
            self.send_response(200 if ok else 401)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, format: str, *args: object) -> None:
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 256

    server = Server(("127.0.0.1", 0), Handler)
    port_queue.put(server.server_address[1])
    server.serve_forever(poll_interval=0.05)


def plain_client(url: str, bodies: list[bytes]) -> None:
    from firstline.outbox import httpclient
    from firstline.webhooks import signing

    for body in bodies:
        headers = {"Content-Type": "application/json",
                   signing.SIGNATURE_HEADER: signing.header(SECRET, body)}
        httpclient.raise_for_status(httpclient.post(url, body, headers, timeout=10), "bench")


def _wait_for_connections(count: int, timeout: float = 120) -> None:
    """Until `count` worker processes are connected to the bench database (set up, looping)."""
    query = f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{DB}'"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = subprocess.run(
            ["psql", "-h", "/var/run/postgresql", "-U", "postgres", "-d", "postgres", "-tAc",
             query], check=True, capture_output=True, text=True).stdout.strip()
        if int(found or 0) >= count:
            return
        time.sleep(0.1)
    raise RuntimeError("the workers did not connect to the database in time")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--limit", type=int, default=200, help="messages per worker pass")
    parser.add_argument("--profile", action="store_true",
                        help="profile publishing and one worker pass in this process, and stop")
    args = parser.parse_args()
    subprocess.run([*PSQL, f"DROP DATABASE IF EXISTS {DB}"], check=True)
    subprocess.run([*PSQL, f"CREATE DATABASE {DB}"], check=True)
    os.environ["DATABASE_URL"] = f"postgres://postgres@%2Fvar%2Frun%2Fpostgresql/{DB}"
    os.environ["DEBUG"] = "0"
    os.environ.setdefault("FIRSTLINE_INSECURE_DEV_KEY", "1")
    os.environ["DJANGO_SETTINGS_MODULE"] = "firstline.settings"
    os.environ["FIRSTLINE_WEBHOOKS_ALLOW_PRIVATE"] = "true"
    import django

    django.setup()
    from django.core.management import call_command

    port_queue: multiprocessing.Queue[int] = multiprocessing.Queue()
    counter = multiprocessing.Value("q", 0)
    receiver = multiprocessing.Process(target=receive, args=(port_queue, counter), daemon=True)
    receiver.start()
    try:
        call_command("migrate", verbosity=0)
        run(args, f"http://127.0.0.1:{port_queue.get(timeout=30)}/hook", counter)
    finally:
        receiver.terminate()
        receiver.join(10)
        from django.db import connections

        connections.close_all()
        subprocess.run([*PSQL, f"DROP DATABASE IF EXISTS {DB}"], check=False)


def _summary(rates: list[float]) -> str:
    return (f"median {statistics.median(rates):7.1f}/s  "
            f"(min {min(rates):.1f} – max {max(rates):.1f}, {len(rates)} rounds)")


def profile(args: argparse.Namespace, partner, ticket, operator) -> None:  # type: ignore[no-untyped-def]
    import cProfile
    import pstats

    from django.db import transaction

    from firstline.core import events
    from firstline.core.clock import now
    from firstline.outbox.delivery import run_pass

    for title, work in (
        ("publish", lambda: [events.publish(
            "ticket.status_changed", partner_id=partner.pk, moment=now(), ticket=ticket,
            old="open", new="open", actor=operator) for _n in range(args.events)]),
        ("deliver", lambda: run_pass(limit=args.events, worker_id="profile")),
    ):
        profiler = cProfile.Profile(time.process_time)
        started = time.perf_counter()
        with transaction.atomic() if title == "publish" else _nothing():
            profiler.runcall(work)
        print(f"{title}: {args.events / (time.perf_counter() - started):.1f}/s")
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(
            r"firstline|urllib|http/client|socket", 25)


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def run(args: argparse.Namespace, url: str, counter: "multiprocessing.Value") -> None:
    from django.db import connections, transaction

    from firstline.core import events
    from firstline.core.clock import now
    from firstline.core.models import Partner, Tariff, User
    from firstline.outbox.models import Channel, OutboxMessage, Status
    from firstline.tickets import services as ticket_services
    from firstline.tickets.models import Channel as TicketChannel
    from firstline.webhooks.adapter import EventHookAdapter
    from firstline.webhooks.models import Delivery, Subscription

    tariff = Tariff.objects.create(code="t", name="T", requests_included=1, minutes_included=1,
                                   monthly_fee=1, first_month_fee=1, overage_request_fee=1,
                                   overage_minute_fee=1)
    partner = Partner.objects.create(name="Bench", slug="bench", tariff=tariff,
                                     support_email="support@bench.example")
    operator = User.objects.create_user("op", role=User.Role.OPERATOR)
    ticket = ticket_services.create_ticket(partner=partner, actor=operator,
                                           channel=TicketChannel.PHONE, subject="Bench",
                                           text="Bench")
    Subscription.objects.create(partner=partner, url=url, secret=SECRET,
                                events=["ticket.status_changed"])
    if args.profile:
        profile(args, partner, ticket, operator)
        return
    print(f"webhooks bench: {args.events} deliveries a round, {args.workers} worker "
          f"processes, {args.rounds} rounds, PostgreSQL; the machine is shared.")

    enqueue_rates, outbox_rates, plain_rates = [], [], []
    worker_cpu: list[float] = []
    adapter_cpu: list[float] = []
    adapter_rates: list[float] = []
    plain_cpu: list[float] = []
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    firstline = str(Path(sys.executable).with_name("firstline"))
    # What starting a worker costs (Django set-up, one empty pass): subtracted below, since a
    # production worker pays it once, not per round.
    cpu_before = _children_cpu()
    subprocess.run([firstline, "deliver_outbox", "--limit", "1"], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    startup_cpu = _children_cpu() - cpu_before
    for round_number in range(1, args.rounds + 1):
        # The workers start first and wait on an empty outbox (as in production, where they
        # run all the time): the clock measures deliveries, not Python and Django starting.
        connections.close_all()
        cpu_before = _children_cpu()
        workers = [subprocess.Popen(
            [firstline, "deliver_outbox", "--loop", "--interval", "0.05",
             "--limit", str(args.limit), "--worker-id", f"bench-{n}"],
            env=env, stdout=subprocess.DEVNULL) for n in range(args.workers)]
        try:
            _wait_for_connections(args.workers)
            # Enqueue: what the publishers pay (in their transaction).
            started = time.perf_counter()
            with transaction.atomic():
                for index in range(args.events):
                    events.publish("ticket.status_changed", partner_id=partner.pk,
                                   moment=now(), ticket=ticket, old="open",
                                   new=f"open-{index}", actor=operator)
                before = counter.value
                started_delivery = time.perf_counter()
            enqueue_rates.append(args.events / (started_delivery - started))
            pending = OutboxMessage.objects.filter(channel=Channel.EVENT_HOOK).exclude(
                status__in=[Status.SENT, Status.FAILED])
            while pending.exists():
                time.sleep(0.02)
            elapsed = time.perf_counter() - started_delivery
        finally:
            for worker in workers:
                worker.send_signal(signal.SIGTERM)
            for worker in workers:
                worker.wait(30)
        bodies = [body.encode() for body in OutboxMessage.objects.filter(
            channel=Channel.EVENT_HOOK).values_list("body", flat=True)]
        assert len(bodies) == args.events, len(bodies)
        spent = _children_cpu() - cpu_before - args.workers * startup_cpu
        worker_cpu.append(max(spent, 0.0) * 1000 / args.events)
        failed = OutboxMessage.objects.filter(channel=Channel.EVENT_HOOK).exclude(
            status=Status.SENT).count()
        received = counter.value - before
        outbox_rates.append(args.events / elapsed)

        # The adapter alone, in this process: sign, URL check, POST; no claim, no finish.
        messages = list(OutboxMessage.objects.filter(channel=Channel.EVENT_HOOK))
        hook = EventHookAdapter()
        cpu_started, started = time.process_time(), time.perf_counter()
        for message in messages:
            hook.send(message)
        adapter_cpu.append((time.process_time() - cpu_started) * 1000 / len(messages))
        adapter_rates.append(len(messages) / (time.perf_counter() - started))

        # Baseline: the same bodies, signed, POSTed by plain clients, no database.
        chunks = [bodies[n::args.workers] for n in range(args.workers)]
        before_plain = counter.value
        cpu_before = _children_cpu()
        started = time.perf_counter()
        context = multiprocessing.get_context("fork")
        clients = [context.Process(target=plain_client, args=(url, chunk)) for chunk in chunks]
        for client in clients:
            client.start()
        for client in clients:
            client.join()
        plain_elapsed = time.perf_counter() - started
        plain_cpu.append((_children_cpu() - cpu_before) * 1000 / args.events)
        plain_rates.append(args.events / plain_elapsed)
        plain_received = counter.value - before_plain
        print(f"round {round_number}: outbox {outbox_rates[-1]:7.1f}/s ({elapsed:.2f} s, "
              f"{received} verified by the receiver, {failed} not sent), plain client "
              f"{plain_rates[-1]:7.1f}/s ({plain_received} verified), enqueue "
              f"{enqueue_rates[-1]:7.1f} events/s; adapter alone {adapter_rates[-1]:7.1f}/s "
              f"(1 process); CPU per delivery: worker {worker_cpu[-1]:.2f} ms, of which the "
              f"adapter {adapter_cpu[-1]:.2f} ms; plain client {plain_cpu[-1]:.2f} ms")
        sent_ids = OutboxMessage.objects.filter(channel=Channel.EVENT_HOOK).values("pk")
        Delivery.objects.filter(message__in=sent_ids).delete()
        OutboxMessage.objects.filter(channel=Channel.EVENT_HOOK).delete()

    print(f"outbox, {args.workers} workers: {_summary(outbox_rates)}")
    print(f"plain client, {args.workers} procs: {_summary(plain_rates)}")
    print(f"enqueue (publish):  {_summary(enqueue_rates)}")
    print(f"adapter alone, 1 process: {_summary(adapter_rates)}; CPU "
          f"{statistics.median(adapter_cpu):.2f} ms per delivery, the rest of the worker's "
          f"{statistics.median(worker_cpu):.2f} ms is the outbox loop (claim, load, finish)")
    print(f"worker start-up (subtracted): {startup_cpu:.2f} s CPU each")
    print(f"worker CPU per delivery: median {statistics.median(worker_cpu):.2f} ms "
          f"(min {min(worker_cpu):.2f} – max {max(worker_cpu):.2f}); plain client "
          f"{statistics.median(plain_cpu):.2f} ms; on 2 idle cores, 2 workers would top out "
          f"near {2000 / statistics.median(worker_cpu):.0f}/s before PostgreSQL's share")
    print(f"outbox / plain: {statistics.median(outbox_rates) / statistics.median(plain_rates):.2f}")
    subscriber_cost(partner, ticket, operator, args.events)


def subscriber_cost(partner, ticket, operator, count: int) -> None:  # type: ignore[no-untyped-def]
    """What the webhooks' subscriber adds to a publisher's transaction, per event."""
    from django.db import transaction
    from django.db.models import Q

    from firstline.core.clock import now
    from firstline.webhooks import services
    from firstline.webhooks.models import Subscription

    def old_lookup(event: str) -> None:
        # The query the subscriber used to run on every event (before the cache).
        list(Subscription.objects.filter(Q(partner_id=partner.pk) | Q(partner__isnull=True),
                                         is_active=True))

    def subscriber(event: str) -> None:
        services.on_event(event=event, partner_id=partner.pk, moment=now(), ticket=ticket,
                          old="open", new="open", actor=operator, target="resolution")

    for title, event, call in (
        ("subscribed event (ticket.status_changed): on_event", "ticket.status_changed",
         subscriber),
        ("event nobody subscribes to (sla.breached): on_event", "sla.breached", subscriber),
        ("the former per-event subscription query alone", "sla.breached", old_lookup),
    ):
        with transaction.atomic():
            call(event)  # warm the cache
            started = time.perf_counter()
            for _n in range(count):
                call(event)
            spent = (time.perf_counter() - started) * 1000 / count
            transaction.set_rollback(True)
        print(f"publisher's cost, {title}: {spent:.3f} ms per event")


if __name__ == "__main__":
    main()
