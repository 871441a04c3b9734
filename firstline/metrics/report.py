"""The monthly partner report (F30): a frozen snapshot of the month's figures, rendered as PDF
(WeasyPrint) and XLSX (openpyxl), white-labelled with the partner's name and contacts.

Regular, timely, clear, concise and reliable (ГОСТ Р ИСО/МЭК 20000): the period, each metric
with its target and fact, the trend against the month before, the notable breaches with whose
part ran over, availability, satisfaction and volume. An issued report never changes; a
reissue is a new version. The worker issues version 1 on the first working day of the month
in the partner's calendar, claimed once by the unique constraint.
"""

import io
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import Count, Max, Q
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _

from firstline.core.clock import now
from firstline.core.models import Partner, User
from firstline.metrics import present, services
from firstline.metrics.facts import Scope, month_period, previous_month
from firstline.metrics.models import MonthlyReport
from firstline.outbox.models import Channel as OutboxChannel
from firstline.outbox.models import OutboxMessage
from firstline.sla.calendars import schedule_for
from firstline.sla.policy_models import SlaPolicy

STYLESHEET = Path(__file__).resolve().parent / "data" / "report.css"
MAX_BREACHES = 30
MAX_NOTES = 5000
LANGUAGES = ("ru", "en")
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _minutes(start: datetime | None, end: datetime | None) -> int | None:
    if start is None or end is None:
        return None
    return max(int((end - start).total_seconds() // 60), 0)


def breaches(scope: Scope, zone: str) -> tuple[int, list[dict[str, Any]]]:
    """Tickets resolved in the period past a deadline, with the time each line held them."""
    rows = scope.resolved().filter(Q(resolution_in_time=False) | Q(reaction_in_time=False))
    total = rows.count()
    tz = ZoneInfo(zone)
    listed = []
    for ticket in rows.select_related("service").order_by("resolved_at", "pk")[:MAX_BREACHES]:
        first_line = _minutes(ticket.created_at, ticket.handed_over_at or ticket.resolved_at)
        partner_part = _minutes(ticket.handed_over_at, ticket.resolved_at)
        missed = []
        if ticket.reaction_in_time is False:
            missed.append(_("reaction"))
        if ticket.resolution_in_time is False:
            missed.append(_("resolution"))
        listed.append({
            "number": ticket.number, "subject": ticket.subject,
            "priority": str(ticket.get_priority_display()),
            "service": ticket.service.name if ticket.service else "",
            "resolved_at": ticket.resolved_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
            "missed": ", ".join(missed),
            "first_line_minutes": first_line, "partner_minutes": partner_part,
            "whose": _("partner") if partner_part is not None and first_line is not None
            and partner_part > first_line else _("first line"),
        })
    return total, listed


def volume_by_service(scope: Scope) -> list[dict[str, Any]]:
    rows = (scope.created().values("service__name").annotate(n=Count("pk"))
            .order_by("-n", "service__name"))
    return [{"service": row["service__name"] or _("No service"), "count": row["n"]}
            for row in rows]


def incidents(partner: Partner, month: date) -> dict[str, Any]:
    """The month's incidents of the partner (overlapping the month) with their services,
    impact and local start and end, and each active service's availability in the month."""
    from firstline.incidents.models import Impact, Incident
    from firstline.incidents.services import unavailability_minutes

    start, end = month_period(month, partner.time_zone)
    tz = ZoneInfo(partner.time_zone)
    moment = now()
    rows = (Incident.objects.filter(partner=partner, started_at__lt=end)
            .filter(Q(ended_at__isnull=True) | Q(ended_at__gt=start))
            .prefetch_related("services").order_by("started_at", "pk"))
    listed = [{
        "title": incident.title,
        "services": ", ".join(sorted(service.name for service in incident.services.all())),
        "impact": str(Impact(incident.impact).label),
        "started_at": incident.started_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
        "ended_at": None if incident.ended_at is None
        else incident.ended_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
        "minutes": _minutes(incident.started_at, incident.ended_at or moment),
    } for incident in rows]
    minutes = int((end - start).total_seconds() // 60)
    down = unavailability_minutes(partner, month)
    availability = []
    for service in partner.services.filter(is_active=True).order_by("name"):
        spans = down.get(service.pk, {"full": 0, "partial": 0})
        availability.append({
            "service": service.name, "minutes": minutes, "full_minutes": spans["full"],
            "partial_minutes": spans["partial"],
            "percent": round(100 * (1 - spans["full"] / minutes), 3),
        })
    return {"listed": listed, "availability": availability}


def snapshot(partner: Partner, month: date, language: str, notes: str = "") -> dict[str, Any]:
    """Everything the report shows, as plain JSON values, in the language given."""
    with translation.override(language):
        start, end = month_period(month, partner.time_zone)
        scope = Scope((partner.pk,), start, end, month=month)
        figures = services.figures(scope, partner)
        before = services.figures(services.previous_scope(scope, partner), partner)
        rows = present.rows(figures, before)
        met = [row for row in rows if row["met"] is True]
        missed = [row for row in rows if row["met"] is False]
        total_breaches, listed = breaches(scope, partner.time_zone)
        assessment = services.assess(partner, figures)
        moment = now()
        return {
            "language": language,
            "partner": {"name": partner.name, "legal_name": partner.legal_name,
                        "support_email": partner.support_email,
                        "support_phone": partner.support_phone},
            "month": month.isoformat(),
            "period": {"start": start.date().isoformat(),
                       "end": (end - timedelta(days=1)).date().isoformat(),
                       "time_zone": partner.time_zone},
            "previous_month": previous_month(month).isoformat(),
            "generated_at": moment.astimezone(ZoneInfo(partner.time_zone))
            .strftime("%Y-%m-%d %H:%M"),
            "complete": end <= moment,
            "summary": {"met": len(met), "missed": len(missed),
                        "missed_names": [row["name"] for row in missed]},
            "levels": present.by_level(rows),
            "rows": rows,
            "breaches": {"total": total_breaches, "listed": listed},
            "volume": {"by_channel": next(r["breakdown"] for r in rows
                                          if r["key"] == "requests_count"),
                       "by_service": volume_by_service(scope)},
            "incidents": incidents(partner, month),
            "assessment": assessment.as_dict(),
            "notes": notes.strip(),
        }


# --- Rendering ----------------------------------------------------------------------------


def render_pdf(data: dict[str, Any]) -> bytes:
    from weasyprint import CSS, HTML  # heavy: loaded only when a PDF is made

    with translation.override(data["language"]):
        html = render_to_string("metrics/report_pdf.html", {"r": data})
    return HTML(string=html).write_pdf(stylesheets=[CSS(filename=str(STYLESHEET))])


def render_xlsx(data: dict[str, Any]) -> bytes:
    """One sheet per section; numbers and dates stay numbers and dates."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    bold = Font(bold=True)
    with translation.override(data["language"]):
        book = Workbook()
        cover = book.active
        cover.title = _("Summary")[:31]
        cover.append([_("Monthly report"), data["partner"]["name"]])
        cover.append([_("Period"), date.fromisoformat(data["period"]["start"]),
                      date.fromisoformat(data["period"]["end"])])
        cover.append([_("Targets met"), data["summary"]["met"]])
        cover.append([_("Targets missed"), data["summary"]["missed"]])
        cover.append([_("Maturity level"), data["assessment"]["level_label"]])
        if data.get("notes"):
            cover.append([_("Notes from the supervisor"), data["notes"]])
        for row in cover.iter_rows(max_col=1):
            row[0].font = bold
        for cell in cover["B"][1:2] + cover["C"][1:2]:
            cell.number_format = "yyyy-mm-dd"

        sheet = book.create_sheet(_("Metrics")[:31])
        heading = [_("Level"), _("Metric"), _("Unit"), _("Target"), _("Fact"), "p50", "p90",
                   "p95", _("Count"), _("Status"), _("Previous month"), _("Definition")]
        sheet.append(heading)
        for row in data["rows"]:
            share = row["unit"] == "share"
            scale = 100 if share else 1
            value = None if row["value"] is None else round(row["value"] * scale, 2)
            target = None if row["target"] is None else round(row["target"] * scale, 2)
            previous = row["trend"]["previous"]
            sheet.append([
                row["level_label"], row["name"], "%" if share else row["unit_label"], target,
                value, *(row["percentiles"].get(name) for name in ("p50", "p90", "p95")),
                row["n"], row["status_text"] or row["note"],
                None if previous is None else round(previous * scale, 2), row["definition"],
            ])

        breach_sheet = book.create_sheet(_("Breaches")[:31])
        breach_sheet.append([_("Ticket"), _("Subject"), _("Priority"), _("Service"),
                             _("Resolved"), _("Missed"), _("First line, min"),
                             _("Partner, min"), _("Whose part ran over")])
        for item in data["breaches"]["listed"]:
            breach_sheet.append([
                item["number"], item["subject"], item["priority"], item["service"],
                datetime.strptime(item["resolved_at"], "%Y-%m-%d %H:%M"), item["missed"],
                item["first_line_minutes"], item["partner_minutes"], item["whose"],
            ])
        for cell in breach_sheet["E"][1:]:
            cell.number_format = "yyyy-mm-dd hh:mm"

        found = data.get("incidents", {"listed": [], "availability": []})
        incident_sheet = book.create_sheet(_("Incidents")[:31])
        incident_sheet.append([_("Incident"), _("Services"), _("Impact"), _("Began"),
                               _("Ended"), _("Duration, min")])
        for item in found["listed"]:
            incident_sheet.append([
                item["title"], item["services"], item["impact"],
                datetime.strptime(item["started_at"], "%Y-%m-%d %H:%M"),
                None if item["ended_at"] is None
                else datetime.strptime(item["ended_at"], "%Y-%m-%d %H:%M"), item["minutes"],
            ])
        for column in ("D", "E"):
            for cell in incident_sheet[column][1:]:
                cell.number_format = "yyyy-mm-dd hh:mm"
        incident_sheet.append([])
        incident_sheet.append([_("Service"), _("Availability, %"), _("Fully unavailable, min"),
                               _("Partly unavailable, min"), _("Minutes in the month")])
        for item in found["availability"]:
            incident_sheet.append([item["service"], item["percent"], item["full_minutes"],
                                   item["partial_minutes"], item["minutes"]])

        volume = book.create_sheet(_("Volume")[:31])
        volume.append([_("Channel"), _("Tickets")])
        for channel, count in data["volume"]["by_channel"].items():
            volume.append([channel, count])
        volume.append([])
        volume.append([_("Service"), _("Tickets")])
        for item in data["volume"]["by_service"]:
            volume.append([item["service"], item["count"]])

        maturity = book.create_sheet(_("Maturity")[:31])
        maturity.append([_("Level"), _("Criterion"), _("Met"), _("Evidence")])
        for item in data["assessment"]["criteria"]:
            maturity.append([item["level_label"], item["text"], bool(item["met"]),
                             item["evidence"]])
        for each in book.worksheets:
            for cell in each[1]:
                cell.font = bold
            each.column_dimensions["B"].width = 48
        out = io.BytesIO()
        book.save(out)
        return out.getvalue()


# --- Issuing ------------------------------------------------------------------------------


def _files(report: MonthlyReport, data: dict[str, Any]) -> None:
    name = f"{report.partner.slug}-{report.month:%Y-%m}-{report.language}-v{report.version}"
    report.pdf.save(f"{name}.pdf", ContentFile(render_pdf(data)), save=False)
    report.xlsx.save(f"{name}.xlsx", ContentFile(render_xlsx(data)), save=False)
    report.save(update_fields=["pdf", "xlsx"])


def issue(partner: Partner, month: date, language: str = "ru",
          actor: User | None = None, notes: str = "") -> MonthlyReport:
    """Issue a new version of the month's report (on demand), with the supervisor's notes."""
    if language not in LANGUAGES:
        raise ValueError(language)
    if len(notes) > MAX_NOTES:
        raise ValueError("notes")
    month = month.replace(day=1)
    data = snapshot(partner, month, language, notes)
    for _attempt in range(3):
        last = (MonthlyReport.objects.filter(partner=partner, month=month, language=language)
                .aggregate(v=Max("version"))["v"] or 0)
        try:
            with transaction.atomic():
                report = MonthlyReport.objects.create(
                    partner=partner, month=month, language=language, version=last + 1,
                    snapshot=data, issued_by=actor)
        except IntegrityError:
            continue  # another process took this version number: take the next
        _files(report, data)
        return report
    raise RuntimeError("could not number the report")


def mail_managers(report: MonthlyReport) -> int:
    """The report to the partner's managers through the outbox, once per report and person."""
    managers = User.objects.filter(partner=report.partner, role=User.Role.MANAGER,
                                   is_active=True).exclude(email="")
    with translation.override(report.language):
        subject = _("Monthly support report for %(month)s: %(partner)s") % {
            "month": f"{report.month:%m.%Y}", "partner": report.partner.name}
        body = _("The support report for %(month)s is attached (PDF and XLSX).") % {
            "month": f"{report.month:%m.%Y}"}
    files = [
        {"path": report.pdf.name, "filename": report.pdf.name.rsplit("/", 1)[-1],
         "content_type": "application/pdf"},
        {"path": report.xlsx.name, "filename": report.xlsx.name.rsplit("/", 1)[-1],
         "content_type": XLSX_TYPE},
    ]
    count = 0
    for manager in managers:
        _row, created = OutboxMessage.objects.get_or_create(
            dedupe_key=f"metrics-report:{report.pk}:{manager.pk}",
            defaults={"partner": report.partner, "channel": OutboxChannel.EMAIL,
                      "recipient": manager.email, "subject": subject, "body": body,
                      "attachments": files},
        )
        count += created
    return count


def first_working_day(partner: Partner, month: date) -> date:
    """The first working day of the month in the partner's calendar (its default SLA
    policy's); without a calendar, the first weekday that is not a production holiday."""
    policy = (SlaPolicy.objects.filter(partner=partner, is_default=True)
              .select_related("calendar").first())
    day = month.replace(day=1)
    if policy is not None and policy.calendar is not None and not policy.calendar.is_24x7:
        schedule = schedule_for(policy.calendar)
        for offset in range(31):
            candidate = day + timedelta(days=offset)
            if schedule.local_hours(candidate):
                return candidate
        return day
    from firstline.sla.calendars import production_days

    holidays = {when for when, kind in production_days().items() if kind == "holiday"}
    while day.weekday() >= 5 or day in holidays:
        day += timedelta(days=1)
    return day


def issue_due(moment: datetime | None = None) -> list[MonthlyReport]:
    """The worker's step: each active partner whose local date is on or after the first
    working day of its month gets version 1 of last month's report, once (the unique
    constraint is the claim: a second worker's insert fails and it moves on)."""
    moment = moment or now()
    issued = []
    for partner in Partner.objects.filter(is_active=True).order_by("pk"):
        today = moment.astimezone(ZoneInfo(partner.time_zone)).date()
        month = today.replace(day=1)
        if today < first_working_day(partner, month):
            continue
        reported = previous_month(month)
        language = partner.language if partner.language in LANGUAGES else "ru"
        _start, month_end = month_period(reported, partner.time_zone)
        done = MonthlyReport.objects.filter(partner=partner, month=reported,
                                            issued_at__gte=month_end)
        if done.exists():
            continue  # issued after the month ended (by a worker or by hand)
        last = (MonthlyReport.objects.filter(partner=partner, month=reported, language=language)
                .aggregate(v=Max("version"))["v"] or 0)
        data = snapshot(partner, reported, language)
        try:
            with transaction.atomic():
                report = MonthlyReport.objects.create(
                    partner=partner, month=reported, language=language, version=last + 1,
                    snapshot=data)
        except IntegrityError:
            continue  # another worker claimed it
        _files(report, data)
        mail_managers(report)
        issued.append(report)
    return issued
