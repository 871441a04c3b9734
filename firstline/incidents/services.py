"""Every change to incidents and announcements goes through these functions (issue 9).

The desk, the API, the alert webhooks and the worker call them alike. Each runs in one
transaction and raises ValidationError naming the field (or the missing announcement part)
before it writes anything; outgoing letters go to the outbox in the same transaction, with
one AnnouncementDelivery row per recipient, so an announcement goes to all of its audience
or to none of it.
"""

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils.translation import gettext as _

from firstline.contacts.models import Contact, ContactEmail, ContactPhone, letter_language
from firstline.core import audit, events
from firstline.core.clock import now
from firstline.core.models import Partner, Service, User, validate_time_zone
from firstline.incidents import parts as part_rules
from firstline.incidents import render
from firstline.incidents.models import (
    Announcement,
    AnnouncementDelivery,
    AnnouncementKind,
    AnnouncementStatus,
    AnnouncementTemplate,
    Audience,
    ContactService,
    Impact,
    Incident,
    IncidentStatus,
    IncidentTicket,
    PlannedWorks,
    Subscription,
)
from firstline.outbox import services as outbox
from firstline.outbox.models import Channel
from firstline.tenancy import partners_for
from firstline.tickets.models import ACTIVE_STATUSES, Status, Ticket

UNSUBSCRIBE_SALT = "firstline.incidents.unsubscribe"
CONFIRM_SALT = "firstline.incidents.subscribe"
CONFIRM_MAX_AGE = 7 * 24 * 3600


def ensure_can_manage(actor: User | None, partner: Partner) -> None:
    """Provider staff and the partner's own accounts run its incidents; nobody else."""
    if actor is None:
        return  # the worker and the alert webhooks act for the system
    if not (actor.is_provider_staff or actor.is_partner_user):
        raise PermissionDenied(_("Only support staff and partner accounts can do this."))
    if not partners_for(actor).filter(pk=partner.pk).exists():
        raise PermissionDenied(_("This partner is not available to you."))


def available_zones() -> set[str]:
    from zoneinfo import available_timezones

    return available_timezones()


def _check_zone(errors: dict[str, Any], time_zone: str) -> None:
    try:
        validate_time_zone(time_zone)
    except ValidationError:
        errors["time_zone"] = _("Unknown time zone “%(value)s”.") % {"value": time_zone}


def _check_services(errors: dict[str, Any], partner: Partner, services: Sequence[Service],
                    *, required: bool = True) -> None:
    if required and not services:
        errors["services"] = _("Name at least one affected service.")
    elif any(service.partner_id != partner.pk for service in services):
        errors["services"] = _("A service belongs to another partner.")


# Incidents ------------------------------------------------------------------------------


@transaction.atomic
def open_incident(
    *,
    partner: Partner,
    actor: User | None,
    title: str,
    services: Sequence[Service],
    impact: str,
    started_at: datetime,
    time_zone: str,
    detected_at: datetime | None = None,
) -> Incident:
    ensure_can_manage(actor, partner)
    errors: dict[str, Any] = {}
    title = (title or "").strip()
    if not title:
        errors["title"] = _("Name the incident.")
    if impact not in Impact.values:
        errors["impact"] = _("Impact is “partial” or “full”.")
    _check_services(errors, partner, services)
    _check_zone(errors, time_zone)
    moment = now()
    detected_at = detected_at or moment
    if started_at is None or started_at.tzinfo is None:
        errors["started_at"] = _("Give the time it began with its time zone.")
    elif started_at > moment + timedelta(minutes=5):
        errors["started_at"] = _("An incident cannot begin in the future.")
    elif detected_at < started_at:
        errors["detected_at"] = _("An incident cannot be detected before it began.")
    if errors:
        raise ValidationError(errors)
    # The services' rows, as an alert payload takes them before it looks for their open
    # incident (firstline.incidents.alerts, same order and mode): a payload at this moment
    # waits and then joins this incident instead of opening a second one beside it.
    list(Service.objects.select_for_update(no_key=True)
         .filter(pk__in=sorted({service.pk for service in services})).order_by("pk")
         .values_list("pk", flat=True))
    incident = Incident.objects.create(
        partner=partner, title=title[:300], impact=impact, started_at=started_at,
        detected_at=detected_at, time_zone=time_zone, created_by=actor,
    )
    incident.services.set(services)
    audit.record(actor=actor, partner=partner, action="incident.opened", target=incident,
                 after={"title": title, "impact": impact, "started_at": started_at,
                        "services": [service.name for service in services]})
    # Told inside this transaction (firstline.core.events): outbound webhooks and the like.
    events.publish("incident.opened", partner_id=partner.pk, moment=moment,
                   incident=incident, actor=actor)
    _changed(partner)
    return incident


def incident_services(incident: Incident) -> list[Service]:
    return list(incident.services.order_by("name"))


_WORD = re.compile(r"\w{4,}", re.UNICODE)


def candidate_tickets(incident: Incident, limit: int = 50) -> QuerySet[Ticket]:
    """Tickets the operator may want to link: the same partner, opened since the incident
    began, still active, not linked yet, about one of its services or using its words."""
    words = _WORD.findall(incident.title)[:6]
    about = Q(service__in=incident.services.all())
    for word in words:
        about |= Q(service__isnull=True, subject__icontains=word)
        about |= Q(service__isnull=True, customer_words__icontains=word)
    return (
        Ticket.objects.filter(partner_id=incident.partner_id,
                              created_at__gte=incident.started_at,
                              status__in=ACTIVE_STATUSES)
        .filter(about)
        .exclude(incident_links__incident=incident)
        .select_related("contact", "service")
        .order_by("created_at", "id")[:limit]
    )


@transaction.atomic
def link_tickets(*, incident: Incident, actor: User | None,
                 tickets: Iterable[Ticket]) -> int:
    """Link tickets to the incident (already linked ones are skipped); how many were new."""
    ensure_can_manage(actor, incident.partner)
    tickets = list(tickets)
    foreign = [ticket.number for ticket in tickets if ticket.partner_id != incident.partner_id]
    if foreign:
        raise ValidationError({"tickets": _("Tickets of another partner: %(numbers)s.")
                               % {"numbers": ", ".join(foreign)}})
    known = set(IncidentTicket.objects.filter(incident=incident)
                .values_list("ticket_id", flat=True))
    moment = now()
    rows = [IncidentTicket(partner_id=incident.partner_id, incident=incident, ticket=ticket,
                           linked_by=actor, linked_at=moment)
            for ticket in dict((ticket.pk, ticket) for ticket in tickets).values()
            if ticket.pk not in known]
    IncidentTicket.objects.bulk_create(rows, ignore_conflicts=True)
    if rows:
        audit.record(actor=actor, partner=incident.partner, action="incident.linked",
                     target=incident, after={"tickets": [row.ticket.number for row in rows]})
    return len(rows)


# Announcements --------------------------------------------------------------------------


def validate_announcement(kind: str, values: Mapping[str, Any]) -> None:
    """Refuse an announcement that lacks a required part: each missing part is named (F23),
    under its own key, so the form and the API show every one at once."""
    if kind not in AnnouncementKind.values:
        raise ValidationError({"kind": _("Unknown announcement kind “%(value)s”.")
                               % {"value": kind}})
    errors: dict[str, Any] = {}
    for part in part_rules.missing_parts(kind, values):
        errors[part.key] = _("Required part missing: %(part)s.") % {"part": part.label}
    start, end = values.get("period_start"), values.get("period_end")
    if start and end and end <= start:
        errors["period_end"] = _("The end must come after the start.")
    if values.get("time_zone"):
        _check_zone(errors, values["time_zone"])
    if values.get("impact") and values["impact"] not in Impact.values:
        errors["impact"] = _("Impact is “partial” or “full”.")
    if errors:
        raise ValidationError(errors)


_TEXT_FIELDS = ("workaround", "symptoms", "cause", "measures", "how_to_check",
                "support_contacts", "purpose", "still_available", "impact", "time_zone")
_TIME_FIELDS = ("began_at", "period_start", "period_end", "expected_fix_at")


@transaction.atomic
def create_announcement(
    *,
    partner: Partner,
    actor: User | None,
    kind: str,
    values: Mapping[str, Any],
    incident: Incident | None = None,
    works: PlannedWorks | None = None,
    audience: str = Audience.BOTH,
    send: bool = True,
    resolve_linked: bool = False,
) -> Announcement:
    """Write an announcement; with `send`, refuse it unless every required part is there
    and send it to its whole audience in the same transaction (with `resolve_linked`, the
    reply in each linked ticket also resolves it: the recovery)."""
    ensure_can_manage(actor, partner)
    errors: dict[str, Any] = {}
    if audience not in Audience.values:
        errors["audience"] = _("Unknown audience “%(value)s”.") % {"value": audience}
    if incident is not None and incident.partner_id != partner.pk:
        errors["incident"] = _("This incident belongs to another partner.")
    if works is not None and works.partner_id != partner.pk:
        errors["works"] = _("These planned works belong to another partner.")
    services = list(values.get("services") or [])
    _check_services(errors, partner, services, required=False)
    if errors:
        raise ValidationError(errors)
    if send:
        validate_announcement(kind, values)
    elif kind not in AnnouncementKind.values:
        raise ValidationError({"kind": _("Unknown announcement kind “%(value)s”.")
                               % {"value": kind}})
    announcement = Announcement(partner=partner, kind=kind, audience=audience,
                                incident=incident, works=works, created_by=actor)
    for name in _TEXT_FIELDS:
        setattr(announcement, name, (values.get(name) or "").strip())
    for name in _TIME_FIELDS:
        setattr(announcement, name, values.get(name))
    announcement.save()
    announcement.services.set(services)
    audit.record(actor=actor, partner=partner, action="announcement.created",
                 target=announcement, after={"kind": kind, "audience": audience})
    if send:
        send_announcement(announcement=announcement, actor=actor,
                          resolve_linked=resolve_linked)
        announcement.refresh_from_db(fields=["status", "sent_at"])
    return announcement


def announcement_values(announcement: Announcement) -> dict[str, Any]:
    values: dict[str, Any] = {name: getattr(announcement, name)
                              for name in (*_TEXT_FIELDS, *_TIME_FIELDS)}
    values["services"] = list(announcement.services.all())
    return values


def unsubscribe_url(partner: Partner, address: str) -> str:
    token = signing.dumps({"p": partner.pk, "a": address.lower()}, salt=UNSUBSCRIBE_SALT)
    return settings.SITE_URL + reverse("incidents:unsubscribe", args=[token])


def _subscriber_audience(announcement: Announcement,
                         services: list[Service]) -> dict[str, Contact | None]:
    """address -> contact: the users of the services, plus confirmed subscribers, minus
    everyone who unsubscribed."""
    found: dict[str, Contact | None] = {}
    contact_ids = ContactService.objects.filter(
        partner_id=announcement.partner_id, service__in=services
    ).values("contact_id")
    emails = (ContactEmail.objects.filter(partner_id=announcement.partner_id,
                                          contact_id__in=contact_ids, is_failing=False)
              .select_related("contact").order_by("contact_id", "-is_confirmed", "id"))
    seen_contacts: set[int] = set()
    for email in emails:
        if email.contact_id not in seen_contacts:
            seen_contacts.add(email.contact_id)
            found[email.address.lower()] = email.contact
    for sub in Subscription.objects.filter(partner_id=announcement.partner_id,
                                           confirmed_at__isnull=False,
                                           unsubscribed_at__isnull=True):
        found.setdefault(sub.address.lower(), sub.contact)
    opted_out = set(Subscription.objects.filter(
        partner_id=announcement.partner_id, unsubscribed_at__isnull=False
    ).values_list("address", flat=True))
    return {address: contact for address, contact in found.items()
            if address not in {item.lower() for item in opted_out}}


@transaction.atomic
def send_announcement(*, announcement: Announcement, actor: User | None,
                      resolve_linked: bool = False) -> int:
    """Send an announcement to its audience once; how many recipients it went to.

    Linked tickets' customers get it as a public reply in their own ticket (threaded, by
    the ticket's reply path: unsubscribing does not stop it); the services' users and the
    subscribers get a letter with an unsubscribe link."""
    announcement = Announcement.objects.select_for_update().select_related("partner").get(
        pk=announcement.pk)
    if announcement.status == AnnouncementStatus.SENT:
        raise ValidationError({"status": _("This announcement was sent already.")})
    values = announcement_values(announcement)
    validate_announcement(announcement.kind, values)
    partner = announcement.partner
    services = values["services"] or (
        incident_services(announcement.incident) if announcement.incident else [])
    names = [service.name for service in services]
    texts: dict[str, str] = {}

    def text_in(language: str) -> str:
        if language not in texts:
            texts[language] = render.body(announcement, language, names)
        return texts[language]

    subjects: dict[str, str] = {}

    def subject_in(language: str) -> str:
        if language not in subjects:
            subjects[language] = render.subject(announcement, language, names)
        return subjects[language]

    moment = now()
    delivered: set[str] = set()
    deliveries: list[AnnouncementDelivery] = []
    if announcement.incident_id and announcement.audience in (Audience.LINKED, Audience.BOTH):
        deliveries += _reply_to_linked(announcement, actor, text_in, delivered,
                                       resolve=resolve_linked)
    if announcement.audience in (Audience.SUBSCRIBERS, Audience.BOTH):
        for address, contact in _subscriber_audience(announcement, services).items():
            if address in delivered:
                continue
            language = letter_language(contact, partner)
            body = text_in(language)
            link = unsubscribe_url(partner, address)
            row = outbox.enqueue(
                partner=partner, channel=Channel.EMAIL, recipient=address,
                subject=subject_in(language),
                body=f"{body}\n\n{render.WORDS[language]['unsubscribe']}: {link}",
                headers={"List-Unsubscribe": f"<{link}>",
                         "Auto-Submitted": "auto-generated"},
                dedupe_key=f"announcement:{announcement.pk}:{address}"[:255],
            )
            delivered.add(address)
            deliveries.append(AnnouncementDelivery(
                partner=partner, announcement=announcement, address=address,
                contact=contact, outbox=row, created_at=moment))
    deliveries += _send_sms(announcement, services, names)
    AnnouncementDelivery.objects.bulk_create(deliveries, ignore_conflicts=True)
    announcement.status = AnnouncementStatus.SENT
    announcement.sent_at = moment
    announcement.save(update_fields=["status", "sent_at"])
    audit.record(actor=actor, partner=partner, action="announcement.sent",
                 target=announcement, after={"recipients": len(deliveries)})
    _changed(partner)
    return len(deliveries)


def sms_audience(announcement: Announcement,
                 services: list[Service]) -> dict[str, Contact | None]:
    """phone digits -> contact: who asked for the short form by SMS. The contacts who use an
    affected service and asked for SMS on it (their first phone; only those with a linked
    ticket when the audience is the linked tickets), and the confirmed subscribers with a
    phone; no one who unsubscribed from the announcements."""
    partner_id = announcement.partner_id
    opted_out = {address.lower() for address in Subscription.objects.filter(
        partner_id=partner_id, unsubscribed_at__isnull=False).values_list("address", flat=True)}
    users = ContactService.objects.filter(partner_id=partner_id, service__in=services,
                                          by_sms=True)
    if announcement.audience == Audience.LINKED:
        users = users.filter(contact__in=Ticket.objects.filter(
            incident_links__incident_id=announcement.incident_id).values("contact_id"))
    contact_ids = set(users.values_list("contact_id", flat=True))
    for contact_id, address in ContactEmail.objects.filter(
            contact_id__in=contact_ids).values_list("contact_id", "address"):
        if address.lower() in opted_out:
            contact_ids.discard(contact_id)
    found: dict[str, Contact | None] = {}
    for phone in (ContactPhone.objects.filter(contact_id__in=contact_ids)
                  .select_related("contact").order_by("contact_id", "id")):
        if phone.contact_id in contact_ids:
            contact_ids.discard(phone.contact_id)  # the first number of each contact
            found.setdefault(phone.number, phone.contact)
    if announcement.audience != Audience.LINKED:
        for sub in Subscription.objects.filter(
                partner_id=partner_id, confirmed_at__isnull=False,
                unsubscribed_at__isnull=True).exclude(phone="").select_related("contact"):
            found.setdefault(sub.phone, sub.contact)
    by_digits: dict[str, tuple[str, Contact | None]] = {}
    for number, contact in found.items():
        by_digits.setdefault(re.sub(r"\D", "", number), (number, contact))
    return {number: contact for number, contact in by_digits.values()}


def _send_sms(announcement: Announcement, services: list[Service],
              names: list[str]) -> list[AnnouncementDelivery]:
    """The short form by SMS, through the outbox, once per number (F22 "SMS for the short
    form"). A number the outbox cannot send to is skipped, not the announcement."""
    rows: list[AnnouncementDelivery] = []
    texts: dict[str, str] = {}
    for number, contact in sms_audience(announcement, services).items():
        language = letter_language(contact, announcement.partner)
        if language not in texts:
            texts[language] = render.sms(announcement, language, names)
        digits = re.sub(r"\D", "", number)
        try:
            row = outbox.enqueue(partner=announcement.partner, channel=Channel.SMS,
                                 recipient=number, body=texts[language],
                                 dedupe_key=f"announcement:{announcement.pk}:sms:{digits}")
        except ValidationError:
            continue
        rows.append(AnnouncementDelivery(
            partner_id=announcement.partner_id, announcement=announcement, address=number,
            channel=Channel.SMS, contact=contact, outbox=row))
    return rows


def _reply_to_linked(announcement: Announcement, actor: User | None, text_in: Any,
                     delivered: set[str], *, resolve: bool = False) -> list[AnnouncementDelivery]:
    """The announcement as a public reply in every linked ticket that is not closed, in
    bulk (firstline.incidents.bulk): each customer's letter threaded into their own ticket.
    Without an actor the monitoring system answers (an automatic reply)."""
    from firstline.incidents import bulk

    tickets = [link.ticket for link in
               IncidentTicket.objects.filter(incident_id=announcement.incident_id)
               .exclude(ticket__status=Status.CLOSED)
               .select_related("ticket__contact").order_by("id")]
    partner = announcement.partner
    answered = bulk.reply(
        partner=partner, tickets=tickets, actor=actor, resolve=resolve,
        text_for=lambda ticket: text_in(letter_language(ticket.contact, partner)))
    rows: list[AnnouncementDelivery] = []
    for item in answered:
        for letter in item.letters:
            delivered.add(letter.recipient.lower())
            rows.append(AnnouncementDelivery(
                partner_id=partner.pk, announcement=announcement,
                address=letter.recipient.lower(), contact=item.ticket.contact,
                ticket=item.ticket, outbox=letter))
    return rows


# Partner templates ----------------------------------------------------------------------


def default_template(kind: str, language: str) -> dict[str, str]:
    """The default wording, as a template a partner can start from."""
    words = render.WORDS.get(language, render.WORDS["ru"])
    return {"subject": f"{words[kind]}: {{services}}",
            "body": f"{words['hello']}\n\n{{parts}}\n\n-- \n{{signature}}",
            "sms": f"{{partner}}. {words[kind]}: {{services}}. {{when}}"}


def _check_template(errors: dict[str, Any], name: str, text: str) -> None:
    allowed, required = render.PLACEHOLDERS[name]
    used = set(render.PLACEHOLDER.findall(text))
    unknown = sorted(used - allowed)
    if unknown:
        errors[name] = _("Unknown placeholder %(names)s; use %(known)s.") % {
            "names": ", ".join(f"{{{item}}}" for item in unknown),
            "known": ", ".join(f"{{{item}}}" for item in sorted(allowed))}
    elif required - used:
        errors[name] = _("The template must contain %(names)s: the required parts are "
                         "not free text.") % {
            "names": ", ".join(f"{{{item}}}" for item in sorted(required - used))}


@transaction.atomic
def save_template(*, partner: Partner, actor: User | None, kind: str, language: str,
                  subject: str, body: str, sms: str = "") -> AnnouncementTemplate:
    """Set the partner's wording of one kind of announcement in one language. The parts
    stay structured: the letter must contain {parts}, an SMS form {services} and {when}."""
    ensure_can_manage(actor, partner)
    errors: dict[str, Any] = {}
    if kind not in AnnouncementKind.values:
        errors["kind"] = _("Unknown announcement kind “%(value)s”.") % {"value": kind}
    if language not in render.WORDS:
        errors["language"] = _("The language is “ru” or “en”.")
    subject, body, sms = (subject or "").strip(), (body or "").strip(), (sms or "").strip()
    if not subject:
        errors["subject"] = _("Write the subject.")
    elif len(subject) > 300:
        errors["subject"] = _("At most 300 characters.")
    else:
        _check_template(errors, "subject", subject)
    if not body:
        errors["body"] = _("Write the letter.")
    else:
        _check_template(errors, "body", body)
    if len(sms) > 300:
        errors["sms"] = _("At most 300 characters.")
    elif sms:
        _check_template(errors, "sms", sms)
    if errors:
        raise ValidationError(errors)
    template = AnnouncementTemplate.objects.filter(partner=partner, kind=kind,
                                                   language=language).first()
    before = ({"subject": template.subject, "body": template.body, "sms": template.sms}
              if template else {})
    template = template or AnnouncementTemplate(partner=partner, kind=kind, language=language)
    template.subject, template.body, template.sms = subject, body, sms
    template.updated_by, template.updated_at = actor, now()
    template.save()
    audit.record(actor=actor, partner=partner, action="announcement.template_saved",
                 target=template, before=before,
                 after={"kind": kind, "language": language, "subject": subject, "body": body,
                        "sms": sms})
    return template


@transaction.atomic
def reset_template(*, partner: Partner, actor: User | None, kind: str,
                   language: str) -> bool:
    """Back to the default wording; whether there was a template."""
    ensure_can_manage(actor, partner)
    template = AnnouncementTemplate.objects.filter(partner=partner, kind=kind,
                                                   language=language).first()
    if template is None:
        return False
    audit.record(actor=actor, partner=partner, action="announcement.template_reset",
                 target=template, before={"subject": template.subject, "body": template.body,
                                          "sms": template.sms})
    template.delete()
    return True


# Resolution -----------------------------------------------------------------------------


@transaction.atomic
def resolve_incident(
    *,
    incident: Incident,
    actor: User | None,
    ended_at: datetime | None = None,
    recovery: Mapping[str, Any] | None = None,
) -> Announcement | None:
    """Close the incident. With `recovery` (the recovery announcement's parts), it is sent
    to everyone and is the reply that resolves each active linked ticket; each ticket keeps
    its own SLA facts (resolved now, in time or not by its own deadline)."""
    ensure_can_manage(actor, incident.partner)
    incident = Incident.objects.select_for_update().select_related("partner").get(
        pk=incident.pk)
    if incident.status == IncidentStatus.RESOLVED:
        raise ValidationError({"status": _("This incident is resolved already.")})
    ended_at = ended_at or now()
    if ended_at < incident.started_at:
        raise ValidationError({"ended_at": _("An incident cannot end before it began.")})
    announcement = None
    if recovery is not None:
        values = dict(recovery)
        values.setdefault("period_start", incident.started_at)
        values.setdefault("period_end", ended_at)
        values.setdefault("time_zone", incident.time_zone)
        values.setdefault("services", incident_services(incident))
        # The recovery is the reply that resolves each linked ticket (in bulk; without an
        # actor, the monitoring system's automatic reply).
        announcement = create_announcement(
            partner=incident.partner, actor=actor, kind=AnnouncementKind.RECOVERY,
            values=values, incident=incident, send=True, resolve_linked=True)
    incident.status = IncidentStatus.RESOLVED
    incident.ended_at = ended_at
    incident.save(update_fields=["status", "ended_at"])
    audit.record(actor=actor, partner=incident.partner, action="incident.resolved",
                 target=incident, before={"status": IncidentStatus.OPEN},
                 after={"status": IncidentStatus.RESOLVED, "ended_at": ended_at})
    events.publish("incident.resolved", partner_id=incident.partner_id, moment=now(),
                   incident=incident, actor=actor)
    _changed(incident.partner)
    return announcement


# Subscriptions --------------------------------------------------------------------------


@transaction.atomic
def unsubscribe(token: str) -> Subscription:
    """Follow an unsubscribe link: the address gets no more announcements of the partner."""
    try:
        data = signing.loads(token, salt=UNSUBSCRIBE_SALT)
    except signing.BadSignature as exc:
        raise ValidationError({"token": _("This unsubscribe link is not valid.")}) from exc
    partner = Partner.objects.get(pk=data["p"])
    sub, _created = Subscription.objects.get_or_create(partner=partner, address=data["a"])
    if sub.unsubscribed_at is None:
        sub.unsubscribed_at = now()
        sub.save(update_fields=["unsubscribed_at"])
        audit.record(actor=None, partner=partner, action="announcement.unsubscribed",
                     target=sub, after={"address": sub.address})
    return sub


@transaction.atomic
def request_subscription(*, partner: Partner, address: str) -> Subscription:
    """Someone asks for the partner's announcements: a letter with a confirmation link goes
    to the address (double opt-in); nothing is sent to it until the link is followed."""
    from django.core.validators import validate_email

    address = (address or "").strip().lower()
    try:
        validate_email(address)
    except ValidationError:
        raise ValidationError({"email": _("Enter a valid e-mail address.")}) from None
    sub, _created = Subscription.objects.get_or_create(partner=partner, address=address)
    token = signing.dumps({"p": partner.pk, "a": address}, salt=CONFIRM_SALT)
    link = settings.SITE_URL + reverse("incidents:subscribe-confirm", args=[token])
    language = partner.language if partner.language in render.WORDS else "ru"
    body = {
        "ru": f"Здравствуйте!\n\nЧтобы получать сообщения {partner.name} об инцидентах и "
              f"плановых работах, подтвердите подписку: {link}\n\nЕсли вы не подписывались, "
              "просто не обращайте внимания на это письмо.",
        "en": f"Hello,\n\nTo receive {partner.name}'s notices of incidents and planned "
              f"works, confirm the subscription: {link}\n\nIf you did not ask for it, "
              "ignore this letter.",
    }[language]
    subject = {"ru": f"{partner.name}: подтвердите подписку",
               "en": f"{partner.name}: confirm the subscription"}[language]
    # One confirmation letter per address and day: a form cannot be used to flood a mailbox.
    outbox.enqueue(partner=partner, channel=Channel.EMAIL, recipient=address, subject=subject,
                   body=body, headers={"Auto-Submitted": "auto-generated"},
                   dedupe_key=f"subscribe:{partner.pk}:{address}:{now():%Y-%m-%d}"[:255])
    return sub


@transaction.atomic
def confirm_subscription(token: str) -> Subscription:
    try:
        data = signing.loads(token, salt=CONFIRM_SALT, max_age=CONFIRM_MAX_AGE)
    except signing.BadSignature as exc:
        raise ValidationError({"token": _("This confirmation link is not valid or has "
                                          "expired.")}) from exc
    sub, _created = Subscription.objects.get_or_create(partner_id=data["p"], address=data["a"])
    sub.confirmed_at, sub.unsubscribed_at = now(), None
    sub.save(update_fields=["confirmed_at", "unsubscribed_at"])
    audit.record(actor=None, partner=sub.partner, action="announcement.subscribed",
                 target=sub, after={"address": sub.address})
    return sub


# Availability ---------------------------------------------------------------------------


def unavailability_minutes(partner: Partner, month: date) -> dict[int, dict[str, int]]:
    """Minutes of full and partial unavailability per service in the calendar month (in
    the partner's time zone), from incidents, in one query. Overlapping incidents of one
    service count once; a minute both fully and partly down counts as full."""
    zone = ZoneInfo(partner.time_zone)
    first = datetime(month.year, month.month, 1, tzinfo=zone)
    following = datetime(month.year + month.month // 12, month.month % 12 + 1, 1, tzinfo=zone)
    moment = now()
    rows = (Incident.services.through.objects
            .filter(incident__partner=partner, incident__started_at__lt=following)
            .filter(Q(incident__ended_at__isnull=True) | Q(incident__ended_at__gt=first))
            .values_list("service_id", "incident__impact", "incident__started_at",
                         "incident__ended_at"))
    spans: dict[int, dict[str, list[tuple[datetime, datetime]]]] = {}
    for service_id, impact, started, ended in rows:
        start = max(started, first)
        end = min(ended or moment, following)
        if end > start:
            spans.setdefault(service_id, {"full": [], "partial": []})[impact].append(
                (start, end))
    result: dict[int, dict[str, int]] = {}
    for service_id, by_impact in spans.items():
        full = _merge(by_impact["full"])
        partial = _subtract(_merge(by_impact["partial"]), full)
        result[service_id] = {"full": _minutes(full), "partial": _minutes(partial)}
    return result


def _merge(spans: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    merged: list[tuple[datetime, datetime]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _subtract(spans: list[tuple[datetime, datetime]],
              cut: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    result: list[tuple[datetime, datetime]] = []
    for start, end in spans:
        pieces = [(start, end)]
        for cut_start, cut_end in cut:
            next_pieces = []
            for left, right in pieces:
                if cut_end <= left or cut_start >= right:
                    next_pieces.append((left, right))
                    continue
                if left < cut_start:
                    next_pieces.append((left, cut_start))
                if cut_end < right:
                    next_pieces.append((cut_end, right))
            pieces = next_pieces
        result += pieces
    return result


def _minutes(spans: list[tuple[datetime, datetime]]) -> int:
    return int(sum((end - start).total_seconds() for start, end in spans) // 60)


def _changed(partner: Partner) -> None:
    """The status page of the partner shows the change at once (its cache is dropped)."""
    from firstline.incidents.status import invalidate

    transaction.on_commit(lambda: invalidate(partner.slug))
