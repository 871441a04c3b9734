"""The `firstline` console command.

`firstline run` starts the web server, the background task worker, the outbox's retry loop
and the SLA clock together (and loads demo data into an empty database first); Ctrl-C stops
them all. Any other arguments go to Django's management commands: `firstline migrate`,
`firstline createsuperuser`...
"""

import os
import signal
import subprocess
import sys
import time


def _manage(argv: list[str]) -> None:
    from django.core.management import execute_from_command_line

    execute_from_command_line(["firstline", *argv])


def _run(bind: str) -> int:
    python = sys.executable
    env = dict(os.environ)
    manage = [python, "-m", "firstline"]
    subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], check=True, env=env)
    subprocess.run([*manage, "collectstatic", "--noinput", "-v", "0"], check=True, env=env)
    subprocess.run([*manage, "seed_demo", "--if-empty"], check=True, env=env)
    children = [
        subprocess.Popen([*manage, "runserver", "--noreload", bind], env=env),
        subprocess.Popen([*manage, "db_worker", "--interval", "1"], env=env),
        # Retries of mail, SMS and calls whose first attempt failed.
        subprocess.Popen([*manage, "deliver_outbox", "--loop", "--interval", "5"], env=env),
        # The SLA clock: escalation steps as they fall due.
        subprocess.Popen([*manage, "sla_clock", "--loop", "--interval", "10"], env=env),
    ]
    print(f"firstline is running at http://{bind}/  (Ctrl-C stops it)", flush=True)

    def stop() -> None:
        for child in children:
            if child.poll() is None:
                child.terminate()
        deadline = time.monotonic() + 10
        for child in children:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()

    stopping = False

    def request_stop(*_args: object) -> None:
        nonlocal stopping
        stopping = True

    # Explicit handlers: a process started in the background inherits SIGINT as ignored,
    # and SIGTERM (systemd, docker stop) must stop both children as Ctrl-C does.
    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        while not stopping and all(child.poll() is None for child in children):
            time.sleep(0.3)
    finally:
        stop()
    return max(child.returncode or 0 for child in children)


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "firstline.settings")
    args = sys.argv[1:]
    if args[:1] == ["run"]:
        bind = args[1] if len(args) > 1 else os.environ.get("FIRSTLINE_BIND", "127.0.0.1:8000")
        sys.exit(_run(bind))
    _manage(args)


if __name__ == "__main__":
    main()
