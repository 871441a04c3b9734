"""gunicorn settings of `firstline run` (`--config python:firstline.core.gunicorn_hooks`).

A stopping web worker skips the interpreter's teardown: with the app preloaded, tearing down
Django's module graph in every worker touches (and so copies) the whole shared heap, which
made stopping the box take 5-10 s on a busy 2-core machine. Nothing is lost by it: the
worker has finished its requests when the hook runs, output is flushed, and open database
connections end with the process (PostgreSQL notices the closed socket; SQLite has
committed before each answer).
"""

import os
import sys


def worker_exit(server: object, worker: object) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
