"""The partner's SLA document (F36): built from the partner's real settings in the seed's ten
sections, rendered as DOCX (python-docx: real headings and tables, editable by lawyers) and
PDF (WeasyPrint), stored as numbered versions with the content each was rendered from, so
the page can say what changed since the version before.

The content is a plain JSON snapshot: a list of sections, each a list of blocks (a
sub-heading, a paragraph, a bulleted list, a table). Both renderers and the diff read only
the snapshot, so a stored version renders the same way and compares the same way later.

Settings changes (authorised persons, the compensation table, the terms) and each
generation go through the functions here: validated, atomic, audited.
"""

import difflib
import io
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.dates import WEEKDAYS
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from firstline.agreements.models import (
    AgreementTerms,
    AgreementVersion,
    AuthorisedPerson,
    CompensationRule,
)
from firstline.contacts.models import Organisation
from firstline.core import audit
from firstline.core.clock import now
from firstline.core.models import Partner, User
from firstline.sla.calendars import weekly_summary
from firstline.sla.models import SlaPolicy, SlaTarget, TypicalRequest, UrgencyRule
from firstline.tickets.models import Priority, Status

STYLESHEET = Path(__file__).resolve().parent / "data" / "document.css"
LANGUAGES = ("ru", "en")
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
DEFAULT_NOTICE_DAYS = 3
SECTION_COUNT = 10


# --- Who may do what ----------------------------------------------------------------------


def can_use(user: User) -> bool:
    """Provider supervisors and administrators, and a partner's managers (their partner)."""
    return bool(user and user.is_authenticated and user.is_active and user.role in (
        User.Role.SUPERVISOR, User.Role.ADMIN, User.Role.MANAGER))


# --- Content ------------------------------------------------------------------------------


def policy_for(partner: Partner) -> SlaPolicy:
    """The partner's default SLA policy (the one its planned works follow too); without
    one, its first policy; without any, the error names the partner."""
    policy = (SlaPolicy.objects.filter(partner=partner).select_related("calendar")
              .order_by("-is_default", "name").first())
    if policy is None:
        raise ValidationError({"policy": _(
            "Partner %(partner)s has no SLA policy: set one in «SLA settings» before the "
            "SLA document can be generated.") % {"partner": partner.name}})
    return policy


def duration(minutes: int) -> str:
    """Business minutes as hours and minutes: "4 h", "30 min", "1 h 30 min"."""
    hours, rest = divmod(int(minutes), 60)
    if hours and rest:
        return _("%(hours)d h %(minutes)d min") % {"hours": hours, "minutes": rest}
    if hours:
        return _("%(hours)d h") % {"hours": hours}
    return _("%(minutes)d min") % {"minutes": rest}


def percent(value: Decimal) -> str:
    """Decimal("10.00") as "10%", Decimal("2.50") as "2.5%"."""
    return f"{format(Decimal(value).normalize(), 'f')}%"


def _p(text: str) -> dict[str, Any]:
    return {"kind": "p", "text": text}


def _h(text: str) -> dict[str, Any]:
    return {"kind": "h", "text": text}


def _list(items: list[str]) -> dict[str, Any]:
    return {"kind": "list", "items": items}


def _table(headers: list[str], rows: list[list[str]]) -> dict[str, Any]:
    return {"kind": "table", "headers": headers, "rows": rows}


def _priority(code: str) -> str:
    return str(Priority(code).label)


def _terms(partner: Partner) -> AgreementTerms:
    return AgreementTerms.objects.filter(partner=partner).first() or AgreementTerms(
        partner=partner)


def build(partner: Partner, language: str = "ru") -> dict[str, Any]:
    """The document's content from the partner's settings, as plain JSON values."""
    if language not in LANGUAGES:
        raise ValidationError({"language": _("Choose Russian or English.")})
    policy = policy_for(partner)
    terms = _terms(partner)
    with translation.override(language):
        sections = [
            _introduction(partner, policy),
            _definitions(),
            _interaction(partner, terms),
            _priorities(partner),
            _deadlines(partner, policy),
            _scheduled_works(partner, policy, terms),
            _compensation(partner),
            _confidentiality(partner),
            _revision(terms),
            _signatures(partner),
        ]
        for number, section in enumerate(sections, start=1):
            section["number"] = number
        return {
            "language": language,
            "title": _("Service Level Agreement (SLA)"),
            "subtitle": _("First-line technical support of %(partner)s's clients") % {
                "partner": partner.legal_name or partner.name},
            "partner": {"id": partner.pk, "name": partner.name,
                        "legal_name": partner.legal_name or partner.name,
                        "support_email": partner.support_email,
                        "support_phone": partner.support_phone},
            "policy": policy.name,
            "sections": sections,
        }


def _introduction(partner: Partner, policy: SlaPolicy) -> dict[str, Any]:
    services = list(partner.services.filter(is_active=True).order_by("name")
                    .values_list("name", flat=True))
    blocks = [
        _p(_("This agreement sets the level of technical support that %(contractor)s (the "
             "Contractor) provides to its client (the Customer): how requests are accepted, "
             "how their priority is set, within which time they are answered and resolved, "
             "how scheduled works are announced and what the Customer receives when the "
             "deadlines are not kept.") % {"contractor": partner.legal_name or partner.name}),
        _p(_("First-line support is provided around the clock on the Contractor's behalf: "
             "requests are accepted, registered, classified and diagnosed; typical requests "
             "are resolved by instruction; complex ones are handed over to the Contractor's "
             "engineers under deadline control.")),
        _p(_("The service levels below follow the SLA policy «%(policy)s».") % {
            "policy": policy.name}),
        _h(_("Services covered")),
    ]
    blocks.append(_list(services) if services else _p(_("No service is listed yet.")))
    return {"key": "introduction", "title": _("Introduction and subject"), "blocks": blocks}


def _definitions() -> dict[str, Any]:
    terms = [
        (_("Request"), _("a message from an authorised person of the Customer about a "
                         "failure, a question or a service request, registered with a number.")),
        (_("Incident"), _("an unplanned interruption or degradation of a service.")),
        (_("Priority"), _("the urgency of a request, set by the criteria of section 4.")),
        (_("Reaction time"), _("the business time from registration to the first answer "
                               "of an engineer to the Customer.")),
        (_("Resolution time"), _("the business time from registration until the request "
                                 "is resolved; the time spent waiting for the Customer "
                                 "does not count.")),
        (_("Business hours"), _("the working time of the calendar named in section 5.")),
        (_("Typical request"), _("a standard request resolved by instruction within its own "
                                 "norm.")),
        (_("Scheduled works"), _("planned works that may affect the availability of a "
                                 "service, announced in advance as section 6 says.")),
    ]
    return {"key": "definitions", "title": _("Terms and definitions"),
            "blocks": [_table([_("Term"), _("Definition")], [[a, b] for a, b in terms])]}


def _interaction(partner: Partner, terms: AgreementTerms) -> dict[str, Any]:
    contact = [[_("Phone"), partner.support_phone or _("not set")],
               [_("E-mail"), partner.support_email],
               [_("Hours"), _("24x7")]]
    written = AgreementTerms.lines(terms.written_only)
    people = (AuthorisedPerson.objects.filter(partner=partner)
              .select_related("organisation").order_by("organisation__name", "name"))
    blocks = [
        _h(_("Single point of contact")),
        _p(_("Requests are accepted at one point of contact:")),
        _table([_("Channel"), _("Contact")], contact),
        _h(_("Requests accepted only in writing")),
    ]
    if written:
        blocks.append(_p(_("The following requests are accepted only in writing (by e-mail "
                           "from an authorised person's address):")))
        blocks.append(_list(written))
    else:
        blocks.append(_p(_("Every type of request is accepted by phone and in writing.")))
    blocks.append(_h(_("Persons authorised to submit requests")))
    blocks.append(_p(_("The Customer decides who may submit requests and tells the Contractor "
                       "of any change in writing. Requests from other persons are accepted "
                       "as information only.")))
    rows = [[person.organisation.name, person.organisation.contract_number, person.name,
             person.position, person.email, person.phone] for person in people]
    if rows:
        blocks.append(_table([_("Organisation"), _("Contract"), _("Full name"), _("Position"),
                              _("E-mail"), _("Phone")], rows))
    else:
        blocks.append(_p(_("No authorised person is named yet.")))
    return {"key": "interaction", "title": _("Procedures of interaction"), "blocks": blocks}


def _criterion(rule: UrgencyRule) -> str:
    parts = []
    if rule.service_id:
        parts.append(_("service «%(service)s»") % {"service": rule.service.name})
    if rule.keyword_list():
        parts.append(_("the request mentions: %(words)s") % {
            "words": ", ".join(word.strip() for word in rule.keywords.split(",")
                               if word.strip())})
    if rule.vip_only:
        parts.append(_("VIP customers only"))
    return "; ".join(parts) or _("any request")


def _priorities(partner: Partner) -> dict[str, Any]:
    rules = UrgencyRule.objects.filter(partner=partner).select_related("service")
    blocks = [_p(_("Each request is given one of four priorities: %(list)s. The first "
                   "criterion below that a request matches, in this order, sets its "
                   "priority.") % {"list": ", ".join(str(label) for label in Priority.labels)})]
    rows = [[str(index), rule.name, _criterion(rule), _priority(rule.priority)]
            for index, rule in enumerate(rules, start=1)]
    if rows:
        blocks.append(_table(["№", _("Criterion"), _("Condition"), _("Priority")], rows))
    blocks.append(_p(_("A request that matches no criterion has the priority «%(normal)s». "
                       "The engineer may raise the priority when the request's impact "
                       "requires it.") % {"normal": _priority(Priority.NORMAL)}))
    return {"key": "priorities", "title": _("Types and priorities of requests"),
            "blocks": blocks}


def _deadlines(partner: Partner, policy: SlaPolicy) -> dict[str, Any]:
    order = {code: index for index, code in enumerate(Priority.values)}
    targets = sorted(SlaTarget.objects.filter(policy=policy),
                     key=lambda target: order.get(target.priority, 99))
    calendar = policy.calendar
    if calendar is None:
        clock = _("Deadlines are counted around the clock (24x7) in the time zone "
                  "%(zone)s.") % {"zone": partner.time_zone}
    else:
        hours = weekly_summary((item.as_weekly() for item in calendar.intervals.all()),
                               is_24x7=calendar.is_24x7)
        clock = _("Deadlines are counted in business hours of the calendar «%(calendar)s», "
                  "time zone %(zone)s: %(hours)s.") % {
            "calendar": calendar.name, "zone": calendar.time_zone, "hours": hours}
        if calendar.uses_production_calendar and not calendar.is_24x7:
            clock += " " + _("Days off, holidays and shortened days follow the Russian "
                             "production calendar.")
    paused = [str(Status(code).label) for code in policy.paused_statuses
              if code in Status.values]
    blocks = [_p(clock)]
    if paused:
        blocks.append(_p(_("The clock stops while the request is in the status: %(list)s.") % {
            "list": ", ".join(paused)}))
    blocks.append(_h(_("Targets by priority")))
    if targets:
        blocks.append(_table(
            [_("Priority"), _("Reaction time"), _("Resolution time")],
            [[_priority(t.priority), duration(t.reaction_minutes),
              duration(t.resolution_minutes)] for t in targets]))
    else:
        blocks.append(_p(_("No target is set in the SLA policy yet.")))
    typical = TypicalRequest.objects.filter(partner=partner, is_active=True).order_by("name")
    blocks.append(_h(_("Typical requests and their norms")))
    rows = [[item.name, duration(item.resolution_minutes)] for item in typical]
    if rows:
        blocks.append(_table([_("Typical request"), _("Resolution norm")], rows))
    else:
        blocks.append(_p(_("No typical request is listed yet.")))
    return {"key": "deadlines", "title": _("Deadlines and service times"), "blocks": blocks}


def _scheduled_works(partner: Partner, policy: SlaPolicy,
                     terms: AgreementTerms) -> dict[str, Any]:
    from firstline.incidents.models import MaintenancePolicy

    maintenance = (MaintenancePolicy.objects.filter(sla_policy=policy)
                   .prefetch_related("windows").first())
    days = maintenance.notice_business_days if maintenance else DEFAULT_NOTICE_DAYS
    zone = policy.calendar.time_zone if policy.calendar else partner.time_zone
    blocks = [
        _h(_("Notice")),
        _p(_("The Customer is told of scheduled works %(days)d business days in advance and "
             "once more one day before the works; for works that make a service "
             "significantly unavailable, also 15 minutes before and right after they "
             "end.") % {"days": days}),
        _p(_("The notice names the date, time and time zone, the services affected, what "
             "will be unavailable and what stays available, the support contacts and how to "
             "check the service after the works.")),
        _h(_("Hours allowed for works")),
    ]
    windows = list(maintenance.windows.all()) if maintenance else []
    if windows:
        rows = [[str(WEEKDAYS[window.weekday]) if window.weekday is not None
                 else _("every day"), f"{window.starts:%H:%M}–{window.ends:%H:%M}"]
                for window in windows]
        blocks.append(_p(_("Scheduled works are held only in these hours (time zone "
                           "%(zone)s):") % {"zone": zone}))
        blocks.append(_table([_("Day"), _("Hours")], rows))
    else:
        blocks.append(_p(_("No window is agreed: works may be held at any time with the "
                           "notice above.")))
    blocks.append(_h(_("Functions that may be affected")))
    functions = AgreementTerms.lines(terms.affected_functions) or list(
        partner.services.filter(is_active=True).order_by("name").values_list("name", flat=True))
    blocks.append(_list(functions) if functions else _p(_("No service is listed yet.")))
    return {"key": "scheduled_works", "title": _("Scheduled works"), "blocks": blocks}


def _compensation(partner: Partner) -> dict[str, Any]:
    rules = list(CompensationRule.objects.filter(partner=partner).order_by("breach_percent"))
    blocks = [_p(_("For each calendar month the share of requests resolved past their "
                   "deadline is counted; when it reaches a row of the table, the Customer is "
                   "credited the share of the monthly fee in that row (the highest row "
                   "reached applies, once per month)."))]
    if rules:
        blocks.append(_table(
            [_("Requests past the deadline, from"), _("Credit, share of the monthly fee")],
            [[percent(rule.breach_percent), percent(rule.fee_percent)] for rule in rules]))
    else:
        blocks.append(_p(_("No compensation is agreed.")))
    return {"key": "compensation", "title": _("Compensation"), "blocks": blocks}


def _confidentiality(partner: Partner) -> dict[str, Any]:
    return {"key": "confidentiality", "title": _("Confidentiality"), "blocks": [
        _p(_("Each party keeps confidential the information it receives from the other in "
             "the course of support: the content of requests, personal data, access "
             "details and the Customer's configuration; it is disclosed only as the law "
             "requires.")),
        _p(_("Access to the Customer's requests is given only to the staff who handle them, "
             "by role; every action on a request is recorded in the audit trail.")),
    ]}


def _revision(terms: AgreementTerms) -> dict[str, Any]:
    return {"key": "revision", "title": _("Revision"), "blocks": [
        _p(_("The agreement is reviewed at least every %(months)d months, and whenever the "
             "service, its priorities or deadlines change.") % {
            "months": terms.revision_months}),
        _p(_("A change takes effect as a new version of this document signed by both "
             "parties; the version and its date are on the title page.")),
    ]}


def _signatures(partner: Partner) -> dict[str, Any]:
    blank = ""
    rows = [[_("Organisation"), partner.legal_name or partner.name, blank],
            [_("Full name, position"), blank, blank],
            [_("Signature"), blank, blank],
            [_("Date"), blank, blank]]
    return {"key": "signatures", "title": _("Signatures of the parties"), "blocks": [
        _table(["", pgettext("agreement party", "Contractor"),
                pgettext("agreement party", "Customer")], rows)]}


# --- What changed -------------------------------------------------------------------------


def section_lines(section: dict[str, Any]) -> list[str]:
    """A section as lines of text, for the diff: a table row is one line."""
    lines = []
    for block in section.get("blocks", []):
        if block["kind"] in ("p", "h"):
            lines.append(block["text"])
        elif block["kind"] == "list":
            lines.extend(f"• {item}" for item in block["items"])
        elif block["kind"] == "table":
            lines.extend(" | ".join(cell for cell in row if cell) for row in block["rows"])
    return lines


def changes(before: dict[str, Any] | None, after: dict[str, Any]) -> list[dict[str, Any]]:
    """The sections that differ between two snapshots: for each, the lines removed and the
    lines added, in the document's order. Without a version before: nothing."""
    if not before:
        return []
    old = {section["number"]: section for section in before.get("sections", [])}
    found = []
    for section in after.get("sections", []):
        previous = old.get(section["number"])
        was = section_lines(previous) if previous else []
        now_lines = section_lines(section)
        if was == now_lines and (previous or {}).get("title") == section["title"]:
            continue
        removed, added = [], []
        matcher = difflib.SequenceMatcher(a=was, b=now_lines, autojunk=False)
        for tag, a1, a2, b1, b2 in matcher.get_opcodes():
            if tag in ("replace", "delete"):
                removed.extend(was[a1:a2])
            if tag in ("replace", "insert"):
                added.extend(now_lines[b1:b2])
        found.append({"number": section["number"], "title": section["title"],
                      "removed": removed, "added": added})
    return found


# --- Rendering ----------------------------------------------------------------------------


def render_docx(data: dict[str, Any], version: int, dated: str) -> bytes:
    """Real Word structure: the title, Heading 1 per section, Heading 2 per part, bulleted
    lists and bordered tables with a bold header row; everything stays editable."""
    from docx import Document
    from docx.shared import Pt

    document = Document()
    normal = document.styles["Normal"]
    normal.font.name = "Times New Roman"
    normal.font.size = Pt(11)
    document.core_properties.title = data["title"]
    document.core_properties.subject = data["subtitle"]
    document.add_heading(data["title"], level=0)
    document.add_paragraph(data["subtitle"])
    with translation.override(data["language"]):
        document.add_paragraph(_("Version %(version)d of %(date)s") % {
            "version": version, "date": dated})
    for section in data["sections"]:
        document.add_heading(f"{section['number']}. {section['title']}", level=1)
        part = 0
        for block in section["blocks"]:
            if block["kind"] == "h":
                part += 1
                document.add_heading(f"{section['number']}.{part}. {block['text']}", level=2)
            elif block["kind"] == "p":
                document.add_paragraph(block["text"])
            elif block["kind"] == "list":
                for item in block["items"]:
                    document.add_paragraph(item, style="List Bullet")
            elif block["kind"] == "table":
                table = document.add_table(rows=1, cols=len(block["headers"]))
                table.style = "Table Grid"
                for cell, text in zip(table.rows[0].cells, block["headers"], strict=True):
                    cell.text = ""
                    cell.paragraphs[0].add_run(text).bold = True
                for row in block["rows"]:
                    cells = table.add_row().cells
                    for cell, text in zip(cells, row, strict=True):
                        cell.text = str(text)
                document.add_paragraph()
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def render_pdf(data: dict[str, Any], version: int, dated: str) -> bytes:
    from weasyprint import CSS, HTML  # heavy: loaded only when a PDF is made

    with translation.override(data["language"]):
        html = render_to_string("agreements/document_pdf.html",
                                {"d": data, "version": version, "dated": dated})
    return HTML(string=html).write_pdf(stylesheets=[CSS(filename=str(STYLESHEET))])


# --- Generating ---------------------------------------------------------------------------


def generate(partner: Partner, actor: User | None = None,
             language: str = "ru") -> AgreementVersion:
    """A new version of the partner's SLA document from its current settings. A partner
    without an SLA policy is refused before anything is stored."""
    data = build(partner, language)
    moment = now()
    dated = moment.astimezone(ZoneInfo(partner.time_zone)).strftime("%d.%m.%Y")
    for _attempt in range(3):
        last = (AgreementVersion.objects.filter(partner=partner)
                .aggregate(v=Max("version"))["v"] or 0)
        number = last + 1
        docx_bytes = render_docx(data, number, dated)
        pdf_bytes = render_pdf(data, number, dated)
        try:
            with transaction.atomic():
                row = AgreementVersion.objects.create(
                    partner=partner, version=number, language=language, snapshot=data,
                    created_at=moment, created_by=actor)
                name = f"sla-{partner.slug}-v{number}"
                row.docx.save(f"{name}.docx", ContentFile(docx_bytes), save=False)
                row.pdf.save(f"{name}.pdf", ContentFile(pdf_bytes), save=False)
                row.save(update_fields=["docx", "pdf"])
                audit.record(actor=actor, partner=partner, action="agreement.generated",
                             target=row, after={"version": number, "language": language,
                                                "policy": data["policy"]})
        except IntegrityError:
            continue  # another generation took this number: take the next
        return row
    raise RuntimeError("could not number the SLA document")


def previous(version: AgreementVersion) -> AgreementVersion | None:
    return (AgreementVersion.objects.filter(partner_id=version.partner_id,
                                            version__lt=version.version)
            .order_by("-version").first())


# --- The partner's settings for the document ----------------------------------------------


def _person_values(person: AuthorisedPerson) -> dict[str, Any]:
    return {"organisation": person.organisation.name, "name": person.name,
            "position": person.position, "email": person.email, "phone": person.phone}


@transaction.atomic
def add_person(partner: Partner, actor: User | None, *, organisation: Organisation,
               name: str, position: str = "", email: str = "",
               phone: str = "") -> AuthorisedPerson:
    errors = {}
    name = name.strip()
    if organisation.partner_id != partner.pk:
        errors["organisation"] = _("The organisation is not a client of %(partner)s.") % {
            "partner": partner.name}
    if not name:
        errors["name"] = _("Give the person's full name.")
    elif AuthorisedPerson.objects.filter(organisation=organisation, name=name).exists():
        errors["name"] = _("%(name)s is already authorised for %(organisation)s.") % {
            "name": name, "organisation": organisation.name}
    if errors:
        raise ValidationError(errors)
    person = AuthorisedPerson.objects.create(
        partner=partner, organisation=organisation, name=name, position=position.strip(),
        email=email.strip(), phone=phone.strip())
    audit.record(actor=actor, partner=partner, action="agreement.person_added",
                 target=person, after=_person_values(person))
    return person


@transaction.atomic
def remove_person(person: AuthorisedPerson, actor: User | None) -> None:
    before = _person_values(person)
    audit.record(actor=actor, partner=person.partner, action="agreement.person_removed",
                 target=person, before=before)
    person.delete()


@transaction.atomic
def add_compensation(partner: Partner, actor: User | None, *, breach_percent: Decimal,
                     fee_percent: Decimal) -> CompensationRule:
    errors = {}
    for field, value in (("breach_percent", breach_percent), ("fee_percent", fee_percent)):
        if value is None or not (Decimal("0") < value <= Decimal("100")):
            errors[field] = _("Give a share from 0.01 to 100.")
    if "breach_percent" not in errors and CompensationRule.objects.filter(
            partner=partner, breach_percent=breach_percent).exists():
        errors["breach_percent"] = _("The table already has a row from %(share)s.") % {
            "share": percent(breach_percent)}
    if errors:
        raise ValidationError(errors)
    rule = CompensationRule.objects.create(partner=partner, breach_percent=breach_percent,
                                           fee_percent=fee_percent)
    audit.record(actor=actor, partner=partner, action="agreement.compensation_added",
                 target=rule, after={"breach_percent": str(breach_percent),
                                     "fee_percent": str(fee_percent)})
    return rule


@transaction.atomic
def remove_compensation(rule: CompensationRule, actor: User | None) -> None:
    audit.record(actor=actor, partner=rule.partner, action="agreement.compensation_removed",
                 target=rule, before={"breach_percent": str(rule.breach_percent),
                                      "fee_percent": str(rule.fee_percent)})
    rule.delete()


@transaction.atomic
def save_terms(partner: Partner, actor: User | None, *, written_only: str,
               affected_functions: str, revision_months: int) -> AgreementTerms:
    if not isinstance(revision_months, int) or not 1 <= revision_months <= 60:
        raise ValidationError({"revision_months": _("Give a number of months from 1 to 60.")})
    terms, _created = AgreementTerms.objects.select_for_update().get_or_create(partner=partner)
    fields = ("written_only", "affected_functions", "revision_months")
    before = {field: getattr(terms, field) for field in fields}
    terms.written_only = "\n".join(AgreementTerms.lines(written_only))
    terms.affected_functions = "\n".join(AgreementTerms.lines(affected_functions))
    terms.revision_months = revision_months
    terms.updated_at = now()
    terms.save()
    after = {field: getattr(terms, field) for field in fields}
    if after != before:
        audit.record(actor=actor, partner=partner, action="agreement.terms_changed",
                     target=terms, before=before, after=after)
    return terms
