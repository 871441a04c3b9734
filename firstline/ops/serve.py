"""`firstline serve [HOST:PORT]`: the production web server alone, for a systemd unit.

The same gunicorn as `firstline run` (gthread workers sized from the cores, 4 threads each,
a listen backlog of 2048, the same timeouts), without the supervisor, migrations or demo
data: systemd keeps it up, the unit's ExecStartPre migrates and collects static files, and
the task worker and the clocks are units of their own. The process becomes gunicorn (exec),
so systemd's stop signal reaches gunicorn's master directly.

Prometheus' multiprocess mode: PROMETHEUS_MULTIPROC_DIR (the unit points it to its runtime
directory; else `$FIRSTLINE_DATA_DIR/prometheus`) is emptied at each start, as the client
library requires, so request figures sum over the workers of this server.
"""

import os
import sys
from pathlib import Path

from firstline.cli import (
    DEFAULT_BIND,
    LISTEN_BACKLOG,
    THREADS_PER_WEB_WORKER,
    parse_bind,
    web_workers,
)
from firstline.core.local_box import data_dir


def gunicorn_argv(bind: str, workers: int) -> list[str]:
    return [sys.executable, "-m", "gunicorn", "--bind", bind, "--backlog", str(LISTEN_BACKLOG),
            "--workers", str(workers), "--worker-class", "gthread",
            "--threads", str(THREADS_PER_WEB_WORKER), "--timeout", "60",
            "--graceful-timeout", "8", "--preload", "--no-control-socket",
            "--config", "python:firstline.ops.gunicorn_conf", "--error-logfile", "-",
            "firstline.wsgi:application"]


def prepare_multiproc_dir(env: dict[str, str]) -> Path:
    directory = Path(env.get("PROMETHEUS_MULTIPROC_DIR") or data_dir() / "prometheus")
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    # Only the client library's own files (counter_<pid>.db, histogram_<pid>.db...): a
    # directory named by mistake keeps everything else.
    for entry in directory.glob("*.db"):
        if entry.is_file():
            entry.unlink()
    env["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    return directory


def serve(args: list[str]) -> int:
    bind = args[0] if args else os.environ.get("FIRSTLINE_BIND", DEFAULT_BIND)
    try:
        host, port = parse_bind(bind)
        workers = web_workers()
    except ValueError as exc:
        sys.exit(f"firstline serve: {exc}")
    env = dict(os.environ)
    env["FIRSTLINE_BIND"] = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    env.setdefault("PYTHONUNBUFFERED", "1")
    try:
        prepare_multiproc_dir(env)
    except OSError as exc:
        sys.exit(f"firstline serve: PROMETHEUS_MULTIPROC_DIR: {exc}")
    argv = gunicorn_argv(env["FIRSTLINE_BIND"], workers)
    print(f"firstline serve: {workers} web workers on {env['FIRSTLINE_BIND']}", file=sys.stderr,
          flush=True)
    os.execve(sys.executable, argv, env)  # noqa: S606 - fixed argv, becomes gunicorn
    return 0  # not reached
