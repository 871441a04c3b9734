"""Demo data of the incidents app: one past incident with linked tickets and its two
announcements, one planned works in the future, a status page to look at.

Called from the seed (firstline.core.demo.build_demo) after the tickets exist.
"""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from firstline.contacts.models import Contact
from firstline.core.models import Partner, Service, User
from firstline.incidents import schedule
from firstline.incidents.models import (
    Announcement,
    AnnouncementKind,
    AnnouncementStatus,
    Audience,
    ContactService,
    Impact,
    Incident,
    IncidentStatus,
    IncidentTicket,
)
from firstline.tickets.models import Ticket

SUPPORT = "+7 495 120-45-00, support@{domain}"


def create_incidents(moment: datetime, operator: User | None) -> None:
    partner = Partner.objects.order_by("id").first()
    service = Service.objects.filter(partner=partner).order_by("id").first()
    if partner is None or service is None:
        return
    zone = ZoneInfo(partner.time_zone)
    contacts = list(Contact.objects.filter(partner=partner).order_by("id")[:20])
    ContactService.objects.bulk_create(
        [ContactService(partner=partner, contact=contact, service=service)
         for contact in contacts], ignore_conflicts=True)
    support = SUPPORT.format(domain=partner.support_email.split("@")[-1])

    # Ten days ago, 14:05–15:50 local time: the service fell over, and came back.
    day = (moment.astimezone(zone) - timedelta(days=10)).date()
    started = datetime.combine(day, time(14, 5), tzinfo=zone)
    ended = datetime.combine(day, time(15, 50), tzinfo=zone)
    incident = Incident.objects.create(
        partner=partner, title=f"{service.name}: недоступен для части клиентов",
        impact=Impact.PARTIAL, status=IncidentStatus.RESOLVED, started_at=started,
        detected_at=started + timedelta(minutes=7), ended_at=ended,
        time_zone=partner.time_zone, created_by=operator, created_at=started)
    incident.services.set([service])
    tickets = Ticket.objects.filter(partner=partner).order_by("id")[:3]
    IncidentTicket.objects.bulk_create([
        IncidentTicket(partner=partner, incident=incident, ticket=ticket, linked_by=operator,
                       linked_at=started + timedelta(minutes=20)) for ticket in tickets])
    first = Announcement.objects.create(
        partner=partner, kind=AnnouncementKind.INCIDENT, status=AnnouncementStatus.SENT,
        audience=Audience.BOTH, incident=incident, time_zone=partner.time_zone,
        began_at=started, impact=Impact.PARTIAL, expected_fix_at=started + timedelta(hours=2),
        workaround="Пользуйтесь резервным адресом панели управления.",
        created_by=operator, created_at=started + timedelta(minutes=15),
        sent_at=started + timedelta(minutes=15))
    recovery = Announcement.objects.create(
        partner=partner, kind=AnnouncementKind.RECOVERY, status=AnnouncementStatus.SENT,
        audience=Audience.BOTH, incident=incident, time_zone=partner.time_zone,
        period_start=started, period_end=ended,
        symptoms="Сайты открывались с ошибкой 502 или не открывались вовсе.",
        cause="Отказ сетевого коммутатора в одной из стоек.",
        measures="Коммутатор заменён; подключён резервный канал с автоматическим "
                 "переключением.",
        how_to_check="Откройте свой сайт и войдите в панель управления.",
        support_contacts=support, created_by=operator, created_at=ended, sent_at=ended)
    for announcement in (first, recovery):
        announcement.services.set([service])

    # Planned works in 12 days, 01:00–02:30 local time, with every part of the notice.
    works_day = (moment.astimezone(zone) + timedelta(days=12)).date()
    schedule.plan_works(
        partner=partner, actor=None, title=f"Замена оборудования: {service.name}",
        services_affected=[service],
        starts=datetime.combine(works_day, time(1, 0)),
        ends=datetime.combine(works_day, time(2, 30)), time_zone=partner.time_zone,
        significant=True,
        parts={"purpose": "Новое оборудование: сайты будут работать быстрее и надёжнее.",
               "symptoms": "Сайты и панель управления будут недоступны до 15 минут.",
               "still_available": "Почта и DNS работают как обычно.",
               "support_contacts": support,
               "how_to_check": "После работ откройте свой сайт и панель управления."})
