"""Keeps the processes of `firstline run` up: restart on a crash, stop all on request.

A child that exits on its own (a crash, an out-of-memory kill, a bug) is started again after
a back-off that doubles with each quick exit (1 s, 2 s, 4 s ... at most 60 s) and starts
over once the child has stayed up for a while; every exit and restart is logged; the other
children are left alone. Only SIGINT (Ctrl-C) or SIGTERM stops everything: each child gets
SIGTERM, and whatever is still running after the timeout is killed with its process group.

Each child runs in a process group of its own, so a Ctrl-C in the terminal reaches only the
supervisor, which then stops the children in order instead of racing their own exits; on
Linux each child also gets SIGTERM should the supervisor itself die, so no web server is
left holding the port.
"""

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

PR_SET_PDEATHSIG = 1


def log_to_stderr(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} firstline: {message}", file=sys.stderr, flush=True)


@dataclass
class Child:
    """One supervised command, under a name the log uses ("the SLA clock")."""

    name: str
    argv: Sequence[str]
    pass_fds: tuple[int, ...] = ()
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    quick_exits: int = 0
    restart_at: float | None = None
    restarts: int = 0
    pids: list[int] = field(default_factory=list)


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with code {returncode}"


def _die_with_parent(parent_pid: int) -> Callable[[], None]:
    """A preexec hook: on Linux, SIGTERM this child when the supervisor dies."""

    def hook() -> None:
        if sys.platform != "linux":
            return
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent_pid:  # the supervisor died before the prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return hook


class Supervisor:
    def __init__(
        self,
        children: Sequence[Child],
        env: dict[str, str],
        *,
        backoff_first: float = 1.0,
        backoff_max: float = 60.0,
        stable_after: float = 60.0,
        stop_timeout: float = 10.0,
        poll_interval: float = 0.2,
        log: Callable[[str], None] = log_to_stderr,
    ) -> None:
        self.children = list(children)
        self.env = env
        self.backoff_first = backoff_first
        self.backoff_max = backoff_max
        self.stable_after = stable_after
        self.stop_timeout = stop_timeout
        self.poll_interval = poll_interval
        self.log = log
        self.stop_requested = False
        self.kill_requested = False

    def backoff(self, quick_exits: int) -> float:
        """The wait before the restart that follows `quick_exits` exits in a row."""
        return min(self.backoff_max, self.backoff_first * 2 ** max(0, quick_exits - 1))

    def start(self, child: Child) -> None:
        child.process = subprocess.Popen(  # noqa: S603 - fixed argv built by the caller
            list(child.argv),
            env=self.env,
            pass_fds=child.pass_fds,
            process_group=0,
            preexec_fn=_die_with_parent(os.getpid()),  # no threads here, so preexec is safe
        )
        child.started_at = time.monotonic()
        child.restart_at = None
        child.pids.append(child.process.pid)

    def start_all(self) -> None:
        for child in self.children:
            self.start(child)

    def check(self) -> None:
        """One pass: notice exited children, schedule their restart, start those due."""
        now = time.monotonic()
        for child in self.children:
            if child.process is not None and child.restart_at is None:
                returncode = child.process.poll()
                if returncode is None:
                    continue
                if now - child.started_at >= self.stable_after:
                    child.quick_exits = 0
                child.quick_exits += 1
                delay = self.backoff(child.quick_exits)
                child.restart_at = now + delay
                self.log(
                    f"the {child.name} (pid {child.process.pid}) {describe_exit(returncode)}; "
                    f"restarting it in {delay:g} s"
                )
            if child.restart_at is not None and now >= child.restart_at:
                self.start(child)
                child.restarts += 1
                assert child.process is not None
                self.log(f"the {child.name} is running again (pid {child.process.pid})")

    def request_stop(self, signum: int, _frame: object = None) -> None:
        if self.stop_requested:
            self.kill_requested = True  # a second Ctrl-C: do not wait for a clean stop
        self.stop_requested = True

    def serve(self) -> None:
        """Start the children and keep them up until SIGINT or SIGTERM, then stop them."""
        # Explicit handlers: a process started in the background inherits SIGINT as ignored,
        # and SIGTERM (systemd, docker stop) must stop the children as Ctrl-C does.
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        for sig in previous:
            signal.signal(sig, self.request_stop)
        try:
            self.start_all()
            while not self.stop_requested:
                self.check()
                time.sleep(self.poll_interval)
        finally:
            self.stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def stop_all(self) -> None:
        """SIGTERM to every child; after the timeout, SIGKILL to the group of any left."""
        running = [c for c in self.children if c.process and c.process.poll() is None]
        for child in running:
            assert child.process is not None
            child.process.terminate()
        deadline = time.monotonic() + self.stop_timeout
        while running and time.monotonic() < deadline and not self.kill_requested:
            running = [c for c in running if c.process and c.process.poll() is None]
            time.sleep(0.05)
        for child in running:
            assert child.process is not None
            if child.process.poll() is None:
                self.log(f"the {child.name} did not stop in time; killing it")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.process.pid, signal.SIGKILL)
            child.process.wait()
