"""Attachment names as people wrote them: kept for display and download, only the storage
path sanitised (firstline.tickets.filenames), whichever way the file arrived."""

import unicodedata
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from firstline.tickets import services as ticket_services
from firstline.tickets.filenames import MAX_NAME, display_name, storage_name
from firstline.tickets.models import Channel


@pytest.mark.parametrize(("name", "shown"), [
    ("Счёт №15 (март), итог.pdf", "Счёт №15 (март), итог.pdf"),
    ("Réunion d'équipe (v2).docx", "Réunion d'équipe (v2).docx"),
    (unicodedata.normalize("NFD", "Отчёт й.pdf"), "Отчёт й.pdf"),  # macOS: NFC again
    ("C:\\Users\\Анна\\Договор.docx", "Договор.docx"),
    ("../../etc/passwd", "passwd"),
    ("/etc/passwd", "passwd"),
    ("Отчёт 01/02.pdf", "Отчёт 01_02.pdf"),  # a date, not a directory
    ("tab\there\x00\x1f.txt", "tabhere.txt"),
    ("счёт\u202efdp.exe", "счёт_fdp.exe"),  # a right-to-left override disguising .exe
    ("  spaced   out  .pdf ", "spaced out .pdf"),
    ("...", "attachment"),
    ("", "attachment"),
    (None, "attachment"),
])
def test_the_real_name_is_kept_made_safe(name, shown):
    assert display_name(name) == shown


def test_a_long_name_is_bounded_and_keeps_its_extension():
    shown = display_name("а" * 400 + ".xlsx")
    assert len(shown) == MAX_NAME and shown.endswith(".xlsx")


@pytest.mark.parametrize("name", [
    "Счёт №15 (март), итог.pdf", "a b (1).pdf", "№№№", "../x", "Café.pdf", "x" * 300,
])
def test_the_storage_name_is_plain(name):
    stored = storage_name(name)
    assert stored and len(stored) <= 100
    assert all(char.isalnum() or char in "-_." for char in stored)


def test_a_file_uploaded_on_the_desk_keeps_its_name(cast):
    upload = SimpleUploadedFile("Скан паспорта (2 стр.), копия.pdf", b"%PDF-1.4", "application/pdf")
    ticket = ticket_services.create_ticket(
        partner=cast.a.partner, actor=cast.operator, channel=Channel.PHONE,
        subject="Скан", text="Во вложении скан.", contact=cast.a.contact, attachments=[upload],
    )
    attachment = ticket.messages.get().attachments.get()
    assert attachment.filename == "Скан паспорта (2 стр.), копия.pdf"
    assert Path(attachment.file.name).name.startswith("Скан_паспорта_2_стр._копия")
