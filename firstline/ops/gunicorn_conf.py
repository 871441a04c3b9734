"""gunicorn settings of `firstline serve`: `firstline run`'s, plus Prometheus' multiprocess
bookkeeping (a worker that exits is marked dead, so its live gauges stop counting)."""

import os

from firstline.core.gunicorn_hooks import worker_exit  # noqa: F401 - gunicorn reads it here


def child_exit(server: object, worker: object) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[attr-defined]
