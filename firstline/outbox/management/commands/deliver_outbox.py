"""`firstline deliver_outbox`: one delivery pass, or the outbox worker with --loop.

The task enqueued on commit sends new messages at once; this loop is what sends retries
when they fall due, and what catches up after the task queue or a worker was down.
"""

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections, connection

from firstline.ops.heartbeat import beat
from firstline.outbox.delivery import PassResult, default_worker_id, run_pass

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Deliver due outgoing messages: one pass, or continuously with --loop."

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Set by SIGTERM/SIGINT (or by a test): finish the message in hand, then stop.
        self.stop = threading.Event()

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--loop", action="store_true", help="Keep delivering until stopped.")
        parser.add_argument(
            "--interval", type=float, default=5.0,
            help="Seconds to wait when nothing is due (with --loop). Default 5.",
        )
        parser.add_argument("--limit", type=int, default=50, help="Messages per pass.")
        parser.add_argument("--worker-id", default="", help="Name recorded on claimed rows.")

    def handle(self, *args: Any, **options: Any) -> None:
        worker = options["worker_id"] or default_worker_id()
        limit = max(1, options["limit"])
        if not options["loop"]:
            self._report(run_pass(limit=limit, worker_id=worker), always=True)
            return
        interval = max(0.01, options["interval"])
        with self._stop_on_signals():
            while not self.stop.is_set():
                if not connection.in_atomic_block:
                    # A long-running process: drop connections the database closed meanwhile
                    # (not inside a caller's transaction, which is where tests run this).
                    close_old_connections()
                # At most once a second: a busy loop goes round many times a second, and
                # every worker writes the same heartbeat row.
                beat("outbox loop", every=1.0)
                try:
                    result = run_pass(limit=limit, worker_id=worker)
                except Exception:
                    # The database restarting must not end the worker; try again shortly.
                    logger.exception("outbox delivery pass failed")
                    result = PassResult()
                self._report(result, always=False)
                if result.claimed < limit:
                    self.stop.wait(interval)

    def _report(self, result: PassResult, *, always: bool) -> None:
        if always or result.claimed:
            self.stdout.write(
                f"outbox: {result.sent} sent, {result.retrying} to retry, "
                f"{result.failed} failed"
            )

    @contextmanager
    def _stop_on_signals(self) -> Iterator[None]:
        # Signal handlers can only be set in the main thread (tests run the loop in another).
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

        def request_stop(*_args: object) -> None:
            self.stop.set()

        for sig in previous:
            signal.signal(sig, request_stop)
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
