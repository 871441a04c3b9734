"""Backups of a running box and their restore: the database and the attachments.

A backup is a directory `firstline-backup-<UTC time>/` with
- `database.pgdump` (PostgreSQL: `pg_dump --format=custom`, one consistent snapshot while
  the desk keeps working) or `database.sqlite3` (SQLite: the online backup API, consistent
  too);
- `media.tar.gz`: MEDIA_ROOT (attachments, large raw letters), taken after the database,
  so every file a dumped row names is in it (files are written before their row commits);
- `manifest.json`: when, which engine, and each file's size and SHA-256, checked before a
  restore touches anything.

Restore replaces the database's contents (PostgreSQL: `pg_restore --clean --if-exists` in
one transaction, creating the database first when it was dropped; SQLite: the backup API
into the database file) and MEDIA_ROOT (the old one is kept beside it as
`media.before-restore-<time>` until you delete it). Stop the firstline units first.
"""

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connections

PG_DUMP = "database.pgdump"
SQLITE_DUMP = "database.sqlite3"
MEDIA = "media.tar.gz"
MANIFEST = "manifest.json"


class BackupError(Exception):
    pass


def _database() -> dict[str, Any]:
    return settings.DATABASES["default"]


def engine() -> str:
    name = _database()["ENGINE"]
    if name.endswith("postgresql"):
        return "postgresql"
    if name.endswith("sqlite3"):
        return "sqlite"
    raise BackupError(f"backups know PostgreSQL and SQLite, not {name}")


def pg_env(database: str | None = None) -> dict[str, str]:
    db = _database()
    env = dict(os.environ)
    for key, var in (("HOST", "PGHOST"), ("PORT", "PGPORT"), ("USER", "PGUSER"),
                     ("PASSWORD", "PGPASSWORD")):
        if db.get(key):
            env[var] = str(db[key])
    env["PGDATABASE"] = database or db["NAME"]
    return env


def _run(argv: list[str], env: dict[str, str]) -> None:
    try:
        result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    except FileNotFoundError as exc:
        raise BackupError(f"{argv[0]} is not installed (Debian: postgresql-client)") from exc
    if result.returncode:
        raise BackupError(f"{argv[0]} failed (exit {result.returncode}): {result.stderr.strip()}")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def create(output: Path, *, now: datetime | None = None) -> Path:
    """Write a backup directory under `output`; returns its path."""
    kind = engine()
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    target = output / f"firstline-backup-{stamp}"
    target.mkdir(parents=True, exist_ok=False, mode=0o700)
    if kind == "postgresql":
        _run(["pg_dump", "--format=custom", "--no-owner", "--no-privileges",
              "--file", str(target / PG_DUMP)], pg_env())
        files = [PG_DUMP]
    else:
        # Through Django's own connection: the same database whatever NAME spells (a file, or
        # the shared in-memory database of a test run).
        connection = connections["default"]
        connection.ensure_connection()
        destination = sqlite3.connect(target / SQLITE_DUMP)
        try:
            connection.connection.backup(destination)
        finally:
            destination.close()
        files = [SQLITE_DUMP]
    media_root = Path(settings.MEDIA_ROOT)
    with tarfile.open(target / MEDIA, "w:gz") as archive:
        if media_root.is_dir():
            archive.add(media_root, arcname="media")
    files.append(MEDIA)
    manifest = {
        "format": 1,
        "created_at": datetime.now(UTC).isoformat(),
        "engine": kind,
        "files": {name: {"bytes": (target / name).stat().st_size,
                         "sha256": _sha256(target / name)} for name in files},
    }
    (target / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return target


def read_manifest(source: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((source / MANIFEST).read_text())
    except FileNotFoundError as exc:
        raise BackupError(f"{source} is not a firstline backup (no {MANIFEST})") from exc
    except json.JSONDecodeError as exc:
        raise BackupError(f"{source / MANIFEST} is damaged: {exc}") from exc
    for name, facts in manifest.get("files", {}).items():
        path = source / name
        if not path.is_file():
            raise BackupError(f"{path} is missing")
        if path.stat().st_size != facts["bytes"] or _sha256(path) != facts["sha256"]:
            raise BackupError(f"{path} does not match its checksum in {MANIFEST}")
    return manifest


def _ensure_pg_database() -> None:
    import psycopg
    from psycopg import sql

    name = _database()["NAME"]
    env = pg_env("postgres")
    params = {"host": env.get("PGHOST"), "port": env.get("PGPORT"), "user": env.get("PGUSER"),
              "password": env.get("PGPASSWORD"), "dbname": "postgres"}
    with psycopg.connect(**{k: v for k, v in params.items() if v}, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def restore(source: Path) -> dict[str, Any]:
    manifest = read_manifest(source)
    kind = engine()
    if manifest["engine"] != kind:
        raise BackupError(f"the backup is of {manifest['engine']}, this database is {kind}")
    if kind == "postgresql":
        connections.close_all()
        _ensure_pg_database()
        _run(["pg_restore", "--clean", "--if-exists", "--no-owner", "--no-privileges",
              "--single-transaction", "--exit-on-error", "--dbname", _database()["NAME"],
              str(source / PG_DUMP)], pg_env())
    else:
        connection = connections["default"]
        connection.ensure_connection()
        backup = sqlite3.connect(source / SQLITE_DUMP)
        try:
            backup.backup(connection.connection)
        finally:
            backup.close()
    _restore_media(source / MEDIA)
    return manifest


def _restore_media(archive_path: Path) -> None:
    media_root = Path(settings.MEDIA_ROOT)
    media_root.parent.mkdir(parents=True, exist_ok=True)
    staging = media_root.parent / f".{media_root.name}.restoring"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    with tarfile.open(archive_path, "r:gz") as archive:
        archive.extractall(staging, filter="data")
    restored = staging / "media"
    restored.mkdir(exist_ok=True)
    if media_root.exists():
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        media_root.rename(media_root.parent / f"{media_root.name}.before-restore-{stamp}")
    restored.rename(media_root)
    shutil.rmtree(staging)
