"""The monthly report's incidents and availability: the partner's incidents overlapping the
month (local times, services, impact, duration) and each service's availability, in the PDF
text and in the XLSX's cells as real dates and numbers; others' and other months' not."""

import io
from datetime import UTC, datetime

from openpyxl import load_workbook

from firstline.incidents.models import Impact, Incident, IncidentStatus
from firstline.metrics import report
from tests.test_metrics_registry import MONTH
from tests.test_metrics_report import pdf_text

MARCH_MINUTES = 31 * 24 * 60


def incident(partner, service, title, impact, start, end):
    made = Incident.objects.create(
        partner=partner, title=title, impact=impact, started_at=start, detected_at=start,
        ended_at=end, time_zone=partner.time_zone,
        status=IncidentStatus.RESOLVED if end else IncidentStatus.OPEN)
    made.services.add(service)
    return made


def make_incidents(cast):
    a, b = cast.a.partner, cast.b.partner
    assert a.time_zone == "Europe/Moscow"  # UTC+3: the local times below rest on it
    # 90 minutes fully down, 13:00–14:30 Moscow time.
    incident(a, cast.a.service, "Storage outage", Impact.FULL,
             datetime(2026, 3, 10, 10, 0, tzinfo=UTC), datetime(2026, 3, 10, 11, 30, tzinfo=UTC))
    # Begins on 28 February in UTC, yet 1 March 01:00 in Moscow: March's; 120 min partial.
    incident(a, cast.a.service, "Slow mail", Impact.PARTIAL,
             datetime(2026, 2, 28, 22, 0, tzinfo=UTC), datetime(2026, 3, 1, 0, 0, tzinfo=UTC))
    incident(a, cast.a.service, "April thing", Impact.FULL,
             datetime(2026, 4, 5, 10, 0, tzinfo=UTC), datetime(2026, 4, 5, 11, 0, tzinfo=UTC))
    incident(b, cast.b.service, "Partner B only", Impact.FULL,
             datetime(2026, 3, 10, 10, 0, tzinfo=UTC), datetime(2026, 3, 10, 12, 0, tzinfo=UTC))


def test_snapshot_lists_the_months_incidents_and_availability(cast):
    make_incidents(cast)
    found = report.snapshot(cast.a.partner, MONTH, "en")["incidents"]
    assert [item["title"] for item in found["listed"]] == ["Slow mail", "Storage outage"]
    slow, outage = found["listed"]
    assert outage["started_at"] == "2026-03-10 13:00" and outage["ended_at"] == "2026-03-10 14:30"
    assert outage["minutes"] == 90 and outage["impact"] == "Fully unavailable"
    assert outage["services"] == cast.a.service.name
    assert slow["started_at"] == "2026-03-01 01:00" and slow["minutes"] == 120
    service = next(item for item in found["availability"]
                   if item["service"] == cast.a.service.name)
    assert service["full_minutes"] == 90 and service["partial_minutes"] == 120
    assert service["minutes"] == MARCH_MINUTES
    assert service["percent"] == round(100 * (1 - 90 / MARCH_MINUTES), 3)


def test_pdf_and_xlsx_carry_them(cast):
    make_incidents(cast)
    data = report.snapshot(cast.a.partner, MONTH, "ru")
    text = pdf_text(report.render_pdf(data))
    assert "Инциденты и доступность" in text and "Доступность, %" in text
    assert "Storage outage" in text and "2026-03-10 13:00" in text
    assert "Partner B only" not in text and "April thing" not in text
    book = load_workbook(io.BytesIO(report.render_xlsx(data)))
    sheet = book["Инциденты"]
    rows = list(sheet.iter_rows(min_row=2, values_only=True))
    outage = next(row for row in rows if row and row[0] == "Storage outage")
    assert outage[3] == datetime(2026, 3, 10, 13, 0)
    assert outage[4] == datetime(2026, 3, 10, 14, 30)
    assert outage[5] == 90
    availability = next(row for row in rows if row and row[0] == cast.a.service.name)
    assert isinstance(availability[1], float)
    assert availability[1] == round(100 * (1 - 90 / MARCH_MINUTES), 3)
    assert availability[2:5] == (90, 120, MARCH_MINUTES)


def test_no_incidents_said_so(cast):
    text = pdf_text(report.render_pdf(report.snapshot(cast.a.partner, MONTH, "ru")))
    assert "Инцидентов в месяце не было." in text
