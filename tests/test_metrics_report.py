"""The monthly report: the PDF's text (Cyrillic included) and the XLSX's cells read back,
numbers as numbers; issued on the first working day once, however many workers run; a
frozen snapshot; a reissue is a new version; mailed to the partner's managers."""

import io
from datetime import UTC, date, datetime, timedelta

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from firstline.metrics import report
from firstline.metrics.models import MonthlyReport
from firstline.outbox.models import OutboxMessage
from firstline.tickets.models import Ticket
from tests.test_metrics_registry import MONTH, facts  # noqa: F401  (the fixture)


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def test_pdf_in_russian_shows_the_period_targets_and_facts(cast, facts):  # noqa: F811
    data = report.snapshot(cast.a.partner, MONTH, "ru")
    text = pdf_text(report.render_pdf(data))
    assert cast.a.partner.name in text
    assert "2026-03-01" in text and "2026-03-31" in text
    assert "Время реакции" in text and "Доля решенных на 1 линии" in text
    in_time = sum(spec["reaction_in_time"] for spec in facts) / len(facts)
    assert f"{in_time * 100:.1f}".rstrip("0").rstrip(".").replace(".", ",") in text
    assert "≥ 95" in text
    assert "firstline" not in text.lower()  # white-labelled: the partner's name only


def test_pdf_in_english(cast, facts):  # noqa: F811
    text = pdf_text(report.render_pdf(report.snapshot(cast.a.partner, MONTH, "en")))
    assert "Reaction time" in text and "Monthly support report" in text


def test_xlsx_numbers_are_numbers_and_dates_are_dates(cast, facts):  # noqa: F811
    data = report.snapshot(cast.a.partner, MONTH, "en")
    book = load_workbook(io.BytesIO(report.render_xlsx(data)))
    assert book.sheetnames == ["Summary", "Metrics", "Breaches", "Incidents", "Volume",
                               "Maturity"]
    summary = book["Summary"]
    assert summary["B2"].value == datetime(2026, 3, 1)
    metrics = {row[1]: row for row in book["Metrics"].iter_rows(min_row=2, values_only=True)}
    reaction = metrics["Reaction time"]
    expected = 100 * sum(spec["reaction_in_time"] for spec in facts) / len(facts)
    assert isinstance(reaction[4], float) and reaction[4] == pytest.approx(expected, abs=0.01)
    assert reaction[3] == 95
    assert metrics["Number of requests in the period"][4] == 40
    breaches = list(book["Breaches"].iter_rows(min_row=2, values_only=True))
    late = Ticket.objects.filter(partner=cast.a.partner, resolved_at__month=3,
                                 resolved_at__year=2026)
    late = [t for t in late if t.resolution_in_time is False or t.reaction_in_time is False]
    assert len(breaches) == min(len(late), report.MAX_BREACHES)
    assert isinstance(breaches[0][4], datetime)


def test_issue_keeps_a_frozen_snapshot_and_reissues_as_a_new_version(cast, facts):  # noqa: F811
    first = report.issue(cast.a.partner, MONTH, "ru", actor=cast.supervisor)
    value = next(r for r in first.snapshot["rows"] if r["key"] == "reaction_time")["value"]
    Ticket.objects.filter(partner=cast.a.partner).update(reaction_in_time=True)
    first.refresh_from_db()
    assert next(r for r in first.snapshot["rows"]
                if r["key"] == "reaction_time")["value"] == value
    second = report.issue(cast.a.partner, MONTH, "ru", actor=cast.supervisor)
    assert second.version == first.version + 1
    assert next(r for r in second.snapshot["rows"] if r["key"] == "reaction_time")["value"] == 1
    with first.pdf.open("rb") as handle:
        assert handle.read(4) == b"%PDF"


def test_worker_issues_last_month_once_on_the_first_working_day(cast, facts):  # noqa: F811
    # 2026-04-01 is a Wednesday: a working day.
    assert report.first_working_day(cast.a.partner, date(2026, 4, 1)) == date(2026, 4, 1)
    moment = datetime(2026, 4, 1, 9, tzinfo=UTC)
    issued = report.issue_due(moment)
    assert {r.partner_id for r in issued} == {cast.a.partner.pk, cast.b.partner.pk}
    assert all(r.month == MONTH and r.version == 1 for r in issued)
    assert report.issue_due(moment + timedelta(hours=1)) == []
    assert MonthlyReport.objects.filter(month=MONTH).count() == 2
    mailed = OutboxMessage.objects.filter(recipient=cast.a.manager.email)
    if cast.a.manager.email:
        assert mailed.count() == 1
        assert mailed.get().attachments[0]["content_type"] == "application/pdf"


def test_worker_waits_for_the_first_working_day(cast):
    from firstline.sla.models import CalendarDay, DayKind

    for day in range(1, 9):
        CalendarDay.objects.get_or_create(calendar=None, date=date(2027, 1, day),
                                          defaults={"kind": DayKind.HOLIDAY})
    assert report.issue_due(datetime(2027, 1, 5, 12, tzinfo=UTC)) == []
    issued = report.issue_due(datetime(2027, 1, 11, 9, tzinfo=UTC))
    assert [r.month for r in issued] == [date(2026, 12, 1)] * 2


def test_a_report_issued_before_the_month_ended_does_not_stop_the_worker(cast):
    early = report.issue(cast.a.partner, MONTH, "ru")
    MonthlyReport.objects.filter(pk=early.pk).update(issued_at=datetime(2026, 3, 15, tzinfo=UTC))
    issued = report.issue_due(datetime(2026, 4, 1, 9, tzinfo=UTC))
    mine = [r for r in issued if r.partner_id == cast.a.partner.pk]
    assert [r.version for r in mine] == [2]


def test_first_working_day_skips_the_new_year_holidays(cast):
    from firstline.sla.models import CalendarDay, DayKind

    for day in range(1, 9):
        CalendarDay.objects.get_or_create(calendar=None, date=date(2027, 1, day),
                                          defaults={"kind": DayKind.HOLIDAY})
    assert report.first_working_day(cast.a.partner, date(2027, 1, 1)) == date(2027, 1, 11)


def test_reports_page_issues_and_downloads(cast, facts):  # noqa: F811
    from django.urls import reverse

    from tests.conftest import client_for

    client = client_for(cast.supervisor)
    answer = client.post(reverse("metrics:reports"),
                         {"partner": cast.a.partner.pk, "month": "2026-03", "language": "ru"})
    assert answer.status_code == 302
    issued = MonthlyReport.objects.get(partner=cast.a.partner)
    download = client.get(reverse("metrics:report-file", args=[issued.pk, "xlsx"]))
    assert download.status_code == 200
    content = b"".join(download.streaming_content)
    # The test client closes the file once the content is read (not download.close(): its
    # request_finished signal would close the test's database connection).
    book = load_workbook(io.BytesIO(content))
    assert "Metrics" in book.sheetnames or "Метрики" in book.sheetnames
    noted = client.post(reverse("metrics:reports"), {
        "partner": cast.a.partner.pk, "month": "2026-03", "language": "ru",
        "notes": "Переезд ЦОД 14 марта"})
    assert noted.status_code == 302
    latest = MonthlyReport.objects.get(partner=cast.a.partner, version=2)
    assert latest.snapshot["notes"] == "Переезд ЦОД 14 марта"
    with latest.pdf.open("rb") as handle:
        assert "Переезд ЦОД 14 марта" in pdf_text(handle.read())
    bad = client.post(reverse("metrics:reports"),
                      {"partner": cast.a.partner.pk, "month": "03/2026"})
    assert bad.status_code == 302
    assert MonthlyReport.objects.count() == 2


def test_the_worker_command_issues_due_reports_once(cast, facts, time_machine):  # noqa: F811
    from django.core.management import call_command

    time_machine.move_to(datetime(2026, 4, 1, 9, tzinfo=UTC))
    out = io.StringIO()
    call_command("metrics_reports", stdout=out)
    assert out.getvalue().count("issued") == 2
    again = io.StringIO()
    call_command("metrics_reports", stdout=again)
    assert again.getvalue() == ""
