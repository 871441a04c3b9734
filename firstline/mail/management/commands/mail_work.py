"""`firstline mail_work`: process the stored letters, as one or several worker processes.

The transports (IMAP poller, LMTP listener, pipe) store each letter before anything else;
the stored letters are the queue this command works through in batches
(`firstline.mail.ingest.process_stored`), one transaction a batch. Several workers, in this
process tree (`--processes N`) or on other machines, share the queue: each letter is taken
by one of them, and a worker that dies leaves its letters to the others.

    firstline mail_work                  # one worker, until stopped
    firstline mail_work --processes 2    # two worker processes (e.g. one per core)
    firstline mail_work --once           # work until the queue is empty, then exit

An idle worker asks every --interval seconds (default 1) whether a letter waits, by a plain
read that takes no lock (on SQLite no write lock either), and claims a batch only then: a
letter a transport stored is picked up within about a second.
"""

import logging
import multiprocessing
import threading
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, close_old_connections, connections

from firstline.mail.ingest import BATCH_SIZE, letters_waiting, process_stored
from firstline.mail.management.commands._signals import stop_on_signals
from firstline.ops.heartbeat import MAIL_WORKER, beat

logger = logging.getLogger(__name__)


def work(*, stop: threading.Event, batch: int, interval: float, once: bool) -> int:
    """Take batches until stopped (or, with `once`, until none is left); return how many
    letters were taken."""
    taken = 0
    while not stop.is_set():
        try:
            count = process_stored(limit=batch) if letters_waiting() else 0
        except DatabaseError:
            # The database is away: the letters wait, stored, until it is back.
            logger.exception("mail worker: the database failed")
            close_old_connections()
            count = 0
            if once:
                raise
        taken += count
        beat(MAIL_WORKER, every=10.0)
        if count:
            continue
        if once:
            break
        close_old_connections()  # a quiet worker does not keep a stale connection
        stop.wait(interval)
    return taken


def _child(batch: int, interval: float) -> None:
    stop = threading.Event()
    with stop_on_signals(stop):
        work(stop=stop, batch=batch, interval=interval, once=False)
    connections.close_all()


class Command(BaseCommand):
    help = "Process the stored inbound letters in batches, in one or several processes."

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Set by SIGTERM/SIGINT (or by a test): the workers finish their batch and end.
        self.stop = threading.Event()

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--processes", type=int, default=1,
                            help="Worker processes. Default 1 (this process).")
        parser.add_argument("--batch", type=int, default=BATCH_SIZE,
                            help=f"Letters per transaction. Default {BATCH_SIZE}.")
        parser.add_argument("--interval", type=float, default=1.0,
                            help="Seconds to wait when the queue is empty. Default 1.")
        parser.add_argument("--once", action="store_true",
                            help="Work until the queue is empty, then exit (one process).")

    def handle(self, *args: Any, **options: Any) -> None:
        processes, batch = options["processes"], options["batch"]
        if processes < 1:
            raise CommandError("--processes must be at least 1")
        if batch < 1:
            raise CommandError("--batch must be at least 1")
        if options["once"] or processes == 1:
            with stop_on_signals(self.stop):
                taken = work(stop=self.stop, batch=batch, interval=options["interval"],
                             once=options["once"])
            if options["once"]:
                self.stdout.write(f"{taken} letters processed")
            return
        self._supervise(processes, batch, options["interval"])

    def _supervise(self, processes: int, batch: int, interval: float) -> None:
        """Run the workers as child processes; one that dies is started again."""
        # Never share a database connection with a child.
        connections.close_all()
        context = multiprocessing.get_context("fork")
        children: list[multiprocessing.process.BaseProcess] = []

        def start() -> multiprocessing.process.BaseProcess:
            child = context.Process(target=_child, args=(batch, interval), daemon=False)
            child.start()
            return child

        with stop_on_signals(self.stop):
            children = [start() for _number in range(processes)]
            self.stdout.write(f"{processes} mail workers started")
            while not self.stop.wait(1.0):
                for index, child in enumerate(children):
                    if not child.is_alive():
                        logger.warning("mail worker %s ended (exit code %s): starting another",
                                       child.pid, child.exitcode)
                        time.sleep(1.0)  # a worker failing at once does not spin
                        children[index] = start()
        for child in children:
            child.terminate()  # SIGTERM: the child finishes its batch
        for child in children:
            child.join(timeout=60)
            if child.is_alive():
                child.kill()
