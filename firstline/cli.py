"""The `firstline` console command.

`firstline run [HOST:PORT]` is the single-box run: it migrates, collects static files, loads
demo data into an empty database, then serves the site with gunicorn (several worker
processes, a real listen backlog) beside the background task worker, the mail worker (the
letters the transports stored become tickets), the outbox's retry loop and the clocks (SLA,
surveys, incidents, monthly reports), all kept up by
`firstline.core.supervisor`: a child that dies is restarted with back-off while the others
go on; Ctrl-C or SIGTERM stops them all. DEBUG stays off unless the environment sets it;
the signing key is generated on the first start and kept in the data directory; SITE_URL
(the base of mailed links) follows the bind unless set.

Any other arguments go to Django's management commands: `firstline migrate`,
`firstline createsuperuser`...
"""

import os
import signal
import socket
import subprocess
import sys

from firstline.core.local_box import data_dir, ensure_secret_key
from firstline.core.supervisor import Child, Supervisor

DEFAULT_BIND = "127.0.0.1:8000"
# Connections the kernel queues while every web worker is busy (Django's runserver: 10).
LISTEN_BACKLOG = 2048
THREADS_PER_WEB_WORKER = 4


def _manage(argv: list[str]) -> None:
    from django.core.management import execute_from_command_line

    execute_from_command_line(["firstline", *argv])


def prepare() -> None:
    """Migrate, collect static files, load demo data into an empty database."""
    import django
    from django.core.management import call_command

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "firstline.settings")
    django.setup()
    call_command("migrate", interactive=False, verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    call_command("seed_demo", if_empty=True)


def parse_bind(bind: str) -> tuple[str, int]:
    """"HOST:PORT", "[IPv6]:PORT" or "PORT" (on 127.0.0.1) -> (host, port)."""
    host, _, port_text = bind.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"bind: expected HOST:PORT with a port 1-65535, got {bind!r}")
    return host, int(port_text)


def listen(host: str, port: int) -> socket.socket:
    """The web server's listening socket, opened here so that it outlives web restarts."""
    family, *_, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    return socket.create_server(address[:2], family=family, backlog=LISTEN_BACKLOG)


def site_url_for(host: str, port: int) -> str:
    if host in ("0.0.0.0", "::"):  # noqa: S104 - a wildcard bind has no name; use the box's
        host = socket.getfqdn()
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def web_workers() -> int:
    """FIRSTLINE_WEB_WORKERS, or two per core (at least 2, at most 8)."""
    raw = os.environ.get("FIRSTLINE_WEB_WORKERS", "")
    if raw:
        if not raw.isdigit() or int(raw) < 1:
            raise ValueError(f"FIRSTLINE_WEB_WORKERS: expected a whole number >= 1, got {raw!r}")
        return int(raw)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(2, min(2 * (cores or 1), 8))


def mail_workers() -> int:
    """FIRSTLINE_MAIL_WORKERS, else 1: mail worker processes (one per core for a box that
    takes more than ~100 letters a second; see docs/production.md)."""
    raw = os.environ.get("FIRSTLINE_MAIL_WORKERS", "")
    if raw:
        if not raw.isdigit() or int(raw) < 1:
            raise ValueError(f"FIRSTLINE_MAIL_WORKERS: expected a whole number >= 1, got {raw!r}")
        return int(raw)
    return 1


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def _run(bind: str) -> int:
    try:
        host, port = parse_bind(bind)
        workers = web_workers()
        mail = mail_workers()
    except ValueError as exc:
        sys.exit(f"firstline run: {exc}")
    try:
        listener = listen(host, port)
    except OSError as exc:
        sys.exit(f"firstline run: cannot listen on {bind}: {exc.strerror or exc}")

    env = dict(os.environ)
    env["FIRSTLINE_BIND"] = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if not env.get("SITE_URL"):
        env["SITE_URL"] = site_url_for(host, port)
    if not env.get("SECRET_KEY"):
        try:
            env["SECRET_KEY"] = ensure_secret_key(data_dir())
        except (OSError, ValueError) as exc:
            sys.exit(f"firstline run: {exc}")
    # Console mail (the portal's sign-in links) and logs show at once, even through a pipe.
    env.setdefault("PYTHONUNBUFFERED", "1")

    python = sys.executable
    manage = [python, "-m", "firstline"]
    # SIGTERM while preparing stops like Ctrl-C (subprocess.run then kills the step).
    signal.signal(signal.SIGTERM, _interrupt)
    # One interpreter for the three steps: each Django start costs seconds on a busy box.
    try:
        prepare = subprocess.run(
            [python, "-c", "from firstline.cli import prepare; prepare()"], env=env, check=False
        )
    except KeyboardInterrupt:
        return 130
    if prepare.returncode:
        sys.exit(f"firstline run: preparing the database failed (exit {prepare.returncode})")

    fd = listener.fileno()
    web = [python, "-m", "gunicorn", "--bind", f"fd://{fd}", "--backlog", str(LISTEN_BACKLOG),
           "--workers", str(workers), "--worker-class", "gthread",
           "--threads", str(THREADS_PER_WEB_WORKER), "--timeout", "60",
           "--graceful-timeout", "8", "--preload", "--no-control-socket",
           "--config", "python:firstline.core.gunicorn_hooks", "--error-logfile", "-",
           "firstline.wsgi:application"]
    supervisor = Supervisor([
        Child("web server", web, pass_fds=(fd,)),
        Child("task worker", [*manage, "db_worker", "--interval", "1"]),
        # Stored letters (IMAP, LMTP, mail_in) processed in batches: tickets, acknowledgements.
        Child("mail worker", [*manage, "mail_work", "--processes", str(mail),
                              "--interval", "1"]),
        # Call events the webhooks stored (JSON webhook, Zadarma), applied in batches.
        Child("calls worker", [*manage, "calls_work", "--interval", "0.2"]),
        # Retries of mail, SMS and calls whose first attempt failed.
        Child("outbox loop", [*manage, "deliver_outbox", "--loop", "--interval", "5"]),
        # The SLA clock: escalation steps as they fall due.
        Child("SLA clock", [*manage, "sla_clock", "--loop", "--interval", "10"]),
        # Surveys: rating requests after their delay, NPS waves, win-back reminders.
        Child("survey clock", [*manage, "surveys_tick", "--loop", "--interval", "60"]),
        # Planned-works reminders (issue 9), each claimed once like the escalation steps.
        Child("incidents clock", [*manage, "incidents_clock", "--loop", "--interval", "30"]),
        # The monthly partner reports, issued once on the first working day of the month.
        Child("report clock", [*manage, "metrics_reports", "--loop", "--interval", "900"]),
        # Billing: usage notices at 80%/100% and last month's invoices on the first working day.
        Child("billing clock", [*manage, "billing_tick", "--loop", "--interval", "600"]),
        # Telegram bots in long-polling mode (getUpdates); idle, one query per pass.
        Child("telegram poller", [*manage, "telegram_poll", "--loop", "--interval", "5"]),
    ], env)
    print(f"firstline is running at {env['SITE_URL']}/  (listening on {env['FIRSTLINE_BIND']},"
          f" {workers} web workers; Ctrl-C stops it)", flush=True)
    if host in ("0.0.0.0", "::"):  # noqa: S104
        print("Listening on every interface: set SITE_URL to the address your customers use,"
              " and ALLOWED_HOSTS to the names they type.", flush=True)
    if env.get("DEBUG", "").strip().lower() in ("1", "true", "yes", "on"):
        print("DEBUG is on: error pages show tracebacks and settings to every visitor.",
              flush=True)
    try:
        supervisor.serve()
    finally:
        listener.close()
    return 0


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "firstline.settings")
    args = sys.argv[1:]
    if args[:1] == ["run"]:
        bind = args[1] if len(args) > 1 else os.environ.get("FIRSTLINE_BIND", DEFAULT_BIND)
        sys.exit(_run(bind))
    if args[:1] == ["serve"]:  # production web server alone (systemd unit), firstline/ops
        from firstline.ops.serve import serve

        sys.exit(serve(args[1:]))
    if args[:1] == ["install-units"]:
        args = ["install_units", *args[1:]]
    _manage(args)


if __name__ == "__main__":
    main()
