"""`firstline backup` / `firstline restore`: a restore drill on the database in use (SQLite's
backup API, or pg_dump/pg_restore after dropping the PostgreSQL database) with attachments."""

import io
import json
import shutil

import psycopg
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections

from firstline.tickets import services as ticket_services
from firstline.tickets.models import Attachment, Channel, Ticket

pytestmark = pytest.mark.django_db(transaction=True)
ON_POSTGRES = connection.vendor == "postgresql"


def snapshot() -> dict:
    tickets = sorted(Ticket.objects.values_list("id", "subject", "status", "created_at"))
    attachments = []
    for a in Attachment.objects.select_related("message"):
        with a.file.open("rb") as handle:
            attachments.append((a.message.ticket_id, a.filename, a.size, handle.read()))
    attachments.sort()
    return {"tickets": tickets, "attachments": attachments}


def drop_database() -> None:
    """The drill's "drop": the whole PostgreSQL database goes, not just its rows."""
    settings_dict = connection.settings_dict
    name = settings_dict["NAME"]
    connections.close_all()
    params = {"host": settings_dict.get("HOST") or None, "port": settings_dict.get("PORT") or None,
              "user": settings_dict.get("USER") or None,
              "password": settings_dict.get("PASSWORD") or None}
    with psycopg.connect(dbname="postgres", autocommit=True,
                         **{k: v for k, v in params.items() if v}) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        assert conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                            [name]).fetchone() is None


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


@pytest.mark.skipif(ON_POSTGRES and shutil.which("pg_dump") is None,
                    reason="pg_dump is missing (Debian postgresql-client; make system-deps)")
def test_restore_drill_gives_back_the_same_tickets_and_attachments(cast, media, tmp_path):
    ticket_services.create_ticket(
        partner=cast.a.partner, actor=cast.a.customer, channel=Channel.PORTAL,
        contact=cast.a.contact, subject="Счёт за март", text="Во вложении скриншот.",
        attachments=[SimpleUploadedFile("скриншот.png", b"\x89PNG fake image bytes",
                                        content_type="image/png")],
    )
    before = snapshot()
    assert before["attachments"] and len(before["tickets"]) >= 5
    out = io.StringIO()
    call_command("backup", output=str(tmp_path / "backups"), stdout=out)
    backup = tmp_path / "backups" / out.getvalue().strip().rsplit("/", 1)[-1]
    manifest = json.loads((backup / "manifest.json").read_text())
    assert manifest["engine"] == ("postgresql" if ON_POSTGRES else "sqlite")
    assert set(manifest["files"]) == {"media.tar.gz",
                                      "database.pgdump" if ON_POSTGRES else "database.sqlite3"}

    # Disaster: the data and the attachments are gone.
    shutil.rmtree(media)
    if ON_POSTGRES:
        drop_database()
    else:
        Ticket.objects.all().delete()
        assert snapshot() == {"tickets": [], "attachments": []}

    call_command("restore", str(backup), yes=True, stdout=io.StringIO())
    assert snapshot() == before
    # A new ticket after the restore gets the next number (the id sequence came back too).
    ticket = ticket_services.create_ticket(
        partner=cast.a.partner, actor=cast.a.customer, channel=Channel.PORTAL,
        contact=cast.a.contact, subject="after", text="after the restore")
    assert ticket.pk > max(pk for pk, *_ in before["tickets"])


def test_restore_refuses_without_yes_and_a_damaged_backup(cast, media, tmp_path):
    if ON_POSTGRES and shutil.which("pg_dump") is None:
        pytest.skip("pg_dump is missing")
    out = io.StringIO()
    call_command("backup", output=str(tmp_path), stdout=out)
    backup = tmp_path / out.getvalue().strip().rsplit("/", 1)[-1]
    count = Ticket.objects.count()
    with pytest.raises(CommandError, match="--yes"):
        call_command("restore", str(backup))
    with (backup / "media.tar.gz").open("ab") as handle:
        handle.write(b"tampered")
    with pytest.raises(CommandError, match="media.tar.gz does not match its checksum"):
        call_command("restore", str(backup), yes=True)
    with pytest.raises(CommandError, match="not a firstline backup"):
        call_command("restore", str(tmp_path), yes=True)
    assert Ticket.objects.count() == count
