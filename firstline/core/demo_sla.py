"""Demo SLA settings per partner, and replaying a demo ticket's history through the SLA clock.

The demo writes tickets in bulk with past timestamps, so instead of calling the services
(which stamp "now") it replays each ticket's events through the same deadline functions the
services use; deadlines, pauses and in-time facts come out exactly as in real work.
"""

from collections.abc import Iterable
from datetime import datetime, time

from django.db.models import F

from firstline.core.models import Partner, Service, User
from firstline.sla import deadlines, escalation
from firstline.sla.models import (
    BusinessCalendar,
    EscalationStep,
    PendingEscalation,
    SlaPolicy,
    SlaTarget,
    TypicalRequest,
    UrgencyRule,
    WorkingInterval,
)
from firstline.tickets.models import Priority, Status, Ticket

Role = EscalationStep.Role
Channel = EscalationStep.Channel

# Targets in business minutes: (reaction, resolution) per priority.
AROUND_THE_CLOCK = {
    Priority.CRITICAL: (15, 4 * 60), Priority.HIGH: (30, 8 * 60),
    Priority.NORMAL: (60, 24 * 60), Priority.LOW: (4 * 60, 72 * 60),
}
OFFICE_HOURS = {
    Priority.CRITICAL: (30, 4 * 60), Priority.HIGH: (60, 9 * 60),
    Priority.NORMAL: (2 * 60, 18 * 60), Priority.LOW: (4 * 60, 45 * 60),
}
TYPICAL = [
    ("Сброс пароля панели управления", "Проверить личность по кодовому слову, выслать ссылку "
     "на сброс пароля на подтверждённый адрес.", 60),
    ("Продление домена", "Проверить оплату, продлить домен в панели регистратора, "
     "сообщить новую дату окончания.", 4 * 60),
]


def create_sla(partner: Partner, services: Iterable[Service], around_the_clock: bool) -> None:
    calendar = None
    targets = AROUND_THE_CLOCK
    if not around_the_clock:
        calendar = BusinessCalendar.objects.create(
            partner=partner, name=f"Пн–Пт 9:00–18:00 ({partner.time_zone})",
            time_zone=partner.time_zone, uses_production_calendar=True,
        )
        WorkingInterval.objects.bulk_create(
            WorkingInterval(calendar=calendar, weekday=day, start=time(9), end=time(18))
            for day in range(5)
        )
        targets = OFFICE_HOURS
    policy = SlaPolicy.objects.create(
        partner=partner, name="Стандартный SLA", is_default=True, calendar=calendar
    )
    SlaTarget.objects.bulk_create(
        SlaTarget(partner=partner, policy=policy, priority=priority,
                  reaction_minutes=reaction, resolution_minutes=resolution)
        for priority, (reaction, resolution) in targets.items()
    )
    for priority in (Priority.CRITICAL, Priority.HIGH):
        for target, percent, roles, channels in (
            ("reaction", 100, [Role.LEAD], [Channel.EMAIL]),
            ("resolution", 50, [Role.ASSIGNEE], [Channel.EMAIL]),
            ("resolution", 80, [Role.PARTNER_ENGINEER, Role.LEAD], [Channel.EMAIL, Channel.SMS]),
            ("resolution", 100, [Role.PARTNER_MANAGER, Role.LEAD],
             [Channel.EMAIL, Channel.SMS, Channel.VOICE]),
        ):
            EscalationStep.objects.create(
                partner=partner, policy=policy, priority=priority, target=target,
                percent=percent, roles=roles, channels=channels,
            )
    services = list(services)
    UrgencyRule.objects.bulk_create([
        UrgencyRule(partner=partner, position=1, name="Полная недоступность",
                    keywords="недоступ, не работает, упал, не отвечает, down",
                    priority=Priority.HIGH),
        UrgencyRule(partner=partner, position=2, name="VIP-клиенты", vip_only=True,
                    priority=Priority.HIGH),
        UrgencyRule(partner=partner, position=3, name="Консультации",
                    keywords="как, подскажите, вопрос", priority=Priority.LOW),
    ])
    if services:
        UrgencyRule.objects.create(
            partner=partner, position=0, name=f"Авария: {services[0].name}",
            service=services[0], keywords="авария, все клиенты, массов",
            priority=Priority.CRITICAL,
        )
    TypicalRequest.objects.bulk_create(
        TypicalRequest(partner=partner, name=name, instruction=instruction,
                       resolution_minutes=minutes)
        for name, instruction, minutes in TYPICAL
    )
    User.objects.filter(partner=partner, role__in=[User.Role.ENGINEER, User.Role.MANAGER]).update(
        phone=partner.support_phone
    )


def resolution_hours(partner: Partner, priority: str) -> tuple[int, bool]:
    """The default policy's resolution target in hours, and whether they are working hours."""
    target = SlaTarget.objects.select_related("policy").get(
        policy__partner=partner, policy__is_default=True, priority=priority
    )
    return round(target.resolution_minutes / 60), target.policy.calendar_id is not None


def replay(ticket: Ticket, events: Iterable[tuple[datetime, bool, str | None]]) -> None:
    """Run a new ticket's events (time, is a public reply, new status) through the clock."""
    final_status = ticket.status
    ticket.status = Status.NEW
    ticket.first_response_at = ticket.resolved_at = ticket.closed_at = None
    deadlines.start(ticket)
    for at, is_reply, status in events:
        if is_reply and ticket.first_response_at is None:
            ticket.first_response_at = at
            deadlines.first_response(ticket, at)
        if status and status != ticket.status:
            old, ticket.status = ticket.status, status
            if status == Status.RESOLVED:
                ticket.resolved_at = at
            elif status == Status.CLOSED:
                ticket.closed_at = at
            deadlines.status_changed(ticket, old, at)
    ticket.status = final_status


def schedule_escalations(tickets: Iterable[Ticket], moment: datetime) -> None:
    """Pending steps for the open demo tickets; those already past count as fired then."""
    for ticket in tickets:
        if ticket.is_active:
            escalation.reschedule(ticket)
    PendingEscalation.objects.filter(fired_at__isnull=True, due_at__lte=moment).update(
        fired_at=F("due_at"), fired_by="demo data"
    )
