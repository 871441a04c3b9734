"""A bench's own PostgreSQL database: created empty, migrated, dropped at the end.

    with throwaway_database("fl_bench_billing"):
        ...  # Django is set up on the new database

Over the Unix socket (as the benches measure), DEBUG off, media in a temporary directory;
`env` adds or overrides environment variables before Django starts.
"""

import contextlib
import os
import subprocess
import tempfile
from collections.abc import Iterator

PSQL = ["psql", "-h", "/var/run/postgresql", "-U", "postgres", "-d", "postgres", "-qc"]


@contextlib.contextmanager
def throwaway_database(name: str, env: dict[str, str] | None = None) -> Iterator[None]:
    subprocess.run([*PSQL, f"DROP DATABASE IF EXISTS {name}"], check=True)
    subprocess.run([*PSQL, f"CREATE DATABASE {name}"], check=True)
    os.environ["DATABASE_URL"] = f"postgres://postgres@%2Fvar%2Frun%2Fpostgresql/{name}"
    os.environ["DEBUG"] = "0"
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key")
    os.environ["DJANGO_SETTINGS_MODULE"] = "firstline.settings"
    os.environ.setdefault("MEDIA_ROOT", tempfile.mkdtemp(prefix=f"{name}-media-"))
    os.environ.update(env or {})
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    print(f"load average at start: {os.getloadavg()}")
    try:
        yield
    finally:
        from django.db import connections

        connections.close_all()
        subprocess.run([*PSQL, f"DROP DATABASE IF EXISTS {name}"], check=False)
        print(f"load average at end: {os.getloadavg()}")
