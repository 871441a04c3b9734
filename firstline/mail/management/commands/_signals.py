"""Shared by the long-running mail commands: SIGTERM and SIGINT ask for a clean stop."""

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Set `stop` on SIGTERM/SIGINT while inside; the previous handlers come back after.

    Signal handlers can only be set in the main thread; elsewhere (tests running a command
    in a thread) this does nothing and the caller sets `stop` itself.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def request_stop(*_args: object) -> None:
        stop.set()

    for sig in previous:
        signal.signal(sig, request_stop)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
