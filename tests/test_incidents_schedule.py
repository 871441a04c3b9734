"""Planned works: windows, the notice period in business days, DST gaps, and reminders
that fire exactly once across worker restarts."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.core.management import call_command

from firstline.incidents import schedule
from firstline.incidents.models import (
    Announcement,
    ContactService,
    MaintenancePolicy,
    MaintenanceWindow,
    PlannedWorks,
    WorksReminder,
)
from firstline.outbox.models import OutboxMessage
from firstline.sla.models import BusinessCalendar, SlaPolicy, WorkingInterval

MSK = ZoneInfo("Europe/Moscow")
NOW = datetime(2027, 3, 1, 10, 0, tzinfo=MSK)  # a Monday
PARTS = {
    "purpose": "Обновление оборудования: сайты станут работать быстрее",
    "symptoms": "Сайты на VPS не будут открываться",
    "still_available": "Почта и панель управления",
    "support_contacts": "+7 495 000-00-00",
    "how_to_check": "Откройте свой сайт",
}


@pytest.fixture
def office(cast):
    calendar = BusinessCalendar.objects.create(
        partner=cast.a.partner, name="Office", time_zone="Europe/Moscow")
    WorkingInterval.objects.bulk_create(
        WorkingInterval(calendar=calendar, weekday=day, start=time(9), end=time(18))
        for day in range(5))
    policy = SlaPolicy.objects.create(partner=cast.a.partner, name="Office", is_default=True,
                                      calendar=calendar)
    maintenance = MaintenancePolicy.objects.create(partner=cast.a.partner, sla_policy=policy)
    MaintenanceWindow.objects.create(partner=cast.a.partner, policy=maintenance,
                                     starts=time(0), ends=time(3))
    return maintenance


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def plan(cast, starts, ends, **extra):
    values = {"partner": cast.a.partner, "actor": cast.operator, "title": "Замена коммутатора",
              "services_affected": [cast.a.service], "starts": starts, "ends": ends,
              "time_zone": "Europe/Moscow", "parts": PARTS}
    values.update(extra)
    return schedule.plan_works(**values)


def test_works_inside_the_notice_period_are_refused_with_the_reason(cast, office, frozen):
    # Thursday 01:00: three business days before is Monday 09:00, already past.
    with pytest.raises(ValidationError) as refused:
        plan(cast, datetime(2027, 3, 4, 1, 0), datetime(2027, 3, 4, 2, 0))
    message = refused.value.message_dict["starts_at"][0]
    assert "3 business days of notice" in message
    assert "01.03.2027 09:00 (Europe/Moscow)" in message
    assert not PlannedWorks.objects.exists()
    works = plan(cast, datetime(2027, 3, 5, 1, 0), datetime(2027, 3, 5, 2, 0))
    assert works.notice_at == datetime(2027, 3, 2, 9, 0, tzinfo=MSK)


def test_works_outside_the_window_or_in_a_dst_gap_are_refused(cast, office, frozen):
    with pytest.raises(ValidationError) as refused:
        plan(cast, datetime(2027, 3, 12, 2, 0), datetime(2027, 3, 12, 4, 0))
    assert "maintenance window (00:00–03:00" in refused.value.message_dict["starts_at"][0]
    with pytest.raises(ValidationError) as refused:
        plan(cast, datetime(2027, 3, 28, 2, 30), datetime(2027, 3, 28, 2, 50),
             time_zone="Europe/Berlin")
    assert "does not exist in the time zone Europe/Berlin" in (
        refused.value.message_dict["starts_at"][0])
    with pytest.raises(ValidationError) as refused:
        plan(cast, datetime(2027, 3, 12, 1, 0), datetime(2027, 3, 12, 0, 30),
             parts={**PARTS, "purpose": ""})
    assert set(refused.value.message_dict) == {"ends_at", "purpose"}


def test_each_reminder_fires_once_even_after_a_worker_restart(cast, office, frozen):
    ContactService.objects.create(partner=cast.a.partner, contact=cast.a.contact,
                                  service=cast.a.service)
    works = plan(cast, datetime(2027, 3, 5, 1, 0), datetime(2027, 3, 5, 2, 30),
                 significant=True)
    steps = dict(WorksReminder.objects.filter(works=works).values_list("step", "due_at"))
    assert steps == {
        "notice": datetime(2027, 3, 2, 9, 0, tzinfo=MSK),
        "day_before": datetime(2027, 3, 4, 1, 0, tzinfo=MSK),
        "soon": datetime(2027, 3, 5, 0, 45, tzinfo=MSK),
        "after": datetime(2027, 3, 5, 2, 30, tzinfo=MSK),
    }
    assert schedule.sweep() == 0  # nothing due yet
    frozen.move_to(datetime(2027, 3, 4, 1, 5, tzinfo=MSK))
    assert schedule.sweep(worker="first") == 2  # the notice (late) and the 1-day reminder
    # The worker restarts: a new process sweeps the same moment; nothing fires twice.
    call_command("incidents_clock")
    assert schedule.sweep(worker="second") == 0
    letters = OutboxMessage.objects.filter(recipient="ivan@alpha.example",
                                           subject__startswith="Плановые работы")
    assert letters.count() == 2
    assert "Что останется доступным: Почта и панель управления" in letters.first().body
    frozen.move_to(datetime(2027, 3, 5, 3, 0, tzinfo=MSK))
    assert schedule.sweep(worker="third") == 2
    assert schedule.sweep(worker="third") == 0
    assert Announcement.objects.filter(works=works, status="sent").count() == 4
    assert not WorksReminder.objects.filter(works=works, fired_at__isnull=True).exists()


def test_a_reminder_that_fails_is_retried_later_not_lost(cast, office, frozen):
    works = plan(cast, datetime(2027, 3, 5, 1, 0), datetime(2027, 3, 5, 2, 0))
    Announcement.objects.filter(works=works).update(support_contacts="")  # now unsendable
    frozen.move_to(datetime(2027, 3, 2, 9, 30, tzinfo=MSK))
    assert schedule.sweep() == 0
    reminder = WorksReminder.objects.get(works=works, step="notice")
    assert reminder.fired_at is None
    assert reminder.due_at == datetime(2027, 3, 2, 9, 31, tzinfo=MSK)
    Announcement.objects.filter(works=works).update(support_contacts="+7 495 000-00-00")
    frozen.move_to(datetime(2027, 3, 2, 9, 32, tzinfo=MSK))
    assert schedule.sweep() == 1
    assert timedelta(0) < works.starts_at - reminder.due_at
