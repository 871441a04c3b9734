"""The invoice PDF over several pages: every continuation page of the usage detail starts
with its column headings, and no line is cut between two pages."""

import shutil
import subprocess
from datetime import UTC, date, datetime, timedelta

import pytest
from django.utils import translation
from pypdf import PdfReader

from firstline.billing import services
from firstline.billing.models import Plan
from firstline.billing.templatetags.invoice_detail import usage_listing
from firstline.calls.models import Call, Direction, Outcome, Source
from firstline.tickets.models import Channel, Ticket
from tests.billing_support import billing_seed  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("billing_seed")]


def _long_invoice(cast, tickets: int, calls: int):
    partner = cast.a.partner
    services.subscribe(partner=partner, plan=Plan.objects.get(code="start"),
                       starts_on=date(2025, 10, 1), actor=None)
    at = datetime(2025, 11, 3, 6, tzinfo=UTC)
    Ticket.objects.bulk_create(
        Ticket(partner=partner, contact=cast.a.contact, channel=Channel.EMAIL,
               subject=f"Request {n}", created_at=at + timedelta(minutes=7 * n), updated_at=at)
        for n in range(tickets))
    Call.objects.bulk_create(
        Call(partner=partner, source=Source.WEBHOOK, external_id=f"{partner.pk}-{n}",
             direction=Direction.INBOUND, caller=f"+7495000{n:04d}",
             started_at=at + timedelta(minutes=n), answered_at=at,
             ended_at=at + timedelta(seconds=61 + n), talk_seconds=61 + n,
             outcome=Outcome.ANSWERED)
        for n in range(calls))
    return services.issue_invoice(partner, date(2025, 11, 1),
                                  at=datetime(2025, 12, 1, 6, tzinfo=UTC), mail=False)


def test_every_continuation_page_repeats_the_lists_headings(cast, tmp_path):
    invoice = _long_invoice(cast, 230, 210)
    with invoice.pdf.open("rb") as handle:
        (tmp_path / "invoice.pdf").write_bytes(handle.read())
    pages = [page.extract_text().splitlines()
             for page in PdfReader(tmp_path / "invoice.pdf").pages]
    assert len(pages) >= 3
    ticket_head = ["Заявки", "Заявка      Создана            Канал"]
    call_head = ["Звонки", "Дата               Номер          Разговор, секунд   Минут к оплате"]
    for number, lines in enumerate(pages[1:], start=2):
        # A continuation page opens with the name of the list it continues and its columns.
        assert lines[:2] in (ticket_head, call_head), (number, lines[:3])
    for number, lines in enumerate(pages, start=1):
        assert lines[-1] == f"Partner alpha · 2025-00001 {number} / {len(pages)}"
    text = "\n".join("\n".join(lines) for lines in pages)
    # Every line whole, once: no row cut between pages, none lost or doubled.
    ticket_lines = [line for line in text.splitlines() if line.startswith("FL-")]
    call_lines = [line for line in text.splitlines() if "+7495000" in line]
    assert len(ticket_lines) == 230 and len(set(ticket_lines)) == 230
    assert ticket_lines == sorted(ticket_lines)  # in order across the page breaks
    assert len(call_lines) == 210 and all(line.endswith((" 2", " 3", " 4", " 5"))
                                          for line in call_lines)
    assert pages[-1][-2].split() == ["2025-11-03", "12:29", "+74950000209", "270", "5"]
    if shutil.which("pdftoppm"):  # what a reader sees (left in tmp_path to look at)
        subprocess.run(["pdftoppm", "-png", "-r", "60", str(tmp_path / "invoice.pdf"),
                        str(tmp_path / "page")], check=True)
        assert len(list(tmp_path.glob("page*.png"))) == len(pages)


def test_the_columns_fit_their_longest_heading_or_value():
    with translation.override("ru"):
        listing = usage_listing("calls", [
            {"date": "2025-11-03 09:00", "number": "+74950000000", "seconds": 61,
             "minutes": 2},
            {"date": "2025-11-03 09:01", "number": "+7495", "seconds": 123456789012345678,
             "minutes": None}])
    head, first, second = listing["head"], *listing["lines"]
    # Numbers end under the end of their heading, however long the heading or the number.
    assert head.index("секунд") + len("секунд") == first.index("61") + 2
    assert head.endswith("Минут к оплате") and first.endswith(" 2")
    assert len(first) == len(head)
    assert second.index("123456789012345678") < head.index("секунд")  # widened, not cut
    assert second.rstrip().endswith("123456789012345678")  # no minutes yet: left blank
    assert usage_listing("tickets", None)["lines"] == []
    # The table's rows: the same lines, a block of them a row.
    many = usage_listing("tickets", [{"number": f"FL-{n:06d}", "date": "2025-11-03 12:00",
                                      "channel": "Эл. почта"} for n in range(120)])
    assert len(many["blocks"]) == 3 and "\n".join(many["blocks"]) == "\n".join(many["lines"])
