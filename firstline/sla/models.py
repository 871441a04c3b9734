from datetime import time

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.dates import WEEKDAYS
from django.utils.translation import gettext_lazy as _

from firstline.core.clock import now
from firstline.core.models import Partner, validate_time_zone
from firstline.sla.calendar import WeeklyInterval, minutes_to_text, time_to_minutes

# =========================================================================================
# Business calendars: weekly hours, exception days, the shared production calendar.
# The arithmetic over them is in firstline/sla/calendar.py; changes go through
# firstline/sla/calendar_services.py (validated, audited, and they bump `version`, which
# is how cached schedules learn about edits).
# =========================================================================================


class DayKind(models.TextChoices):
    HOLIDAY = "holiday", _("Day off")
    WORKING = "working", _("Working day")
    SHORT = "short", _("Shortened day")


class BusinessCalendar(models.Model):
    """When the clock of a partner's SLA runs: weekly hours in a time zone, minus days off.

    A calendar without a partner is provider-wide: any partner's policy may use it.
    """

    partner = models.ForeignKey(
        Partner, verbose_name=_("partner"), on_delete=models.CASCADE, null=True, blank=True,
        related_name="business_calendars",
        help_text=_("Empty: a provider-wide calendar that any partner can use."),
    )
    name = models.CharField(_("name"), max_length=200)
    time_zone = models.CharField(
        _("time zone"), max_length=64, default="Europe/Moscow", validators=[validate_time_zone]
    )
    is_24x7 = models.BooleanField(
        _("24x7"), default=False,
        help_text=_("Every minute of every day is working time; weekly hours are ignored."),
    )
    uses_production_calendar = models.BooleanField(
        _("follows the production calendar"), default=True,
        help_text=_("Take days off, working weekends and shortened days from the shared "
                    "Russian production calendar."),
    )
    # Bumped by every change of the calendar, its hours, its days or the production
    # calendar it follows; cached schedules are keyed by (id, version).
    version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(_("created"), default=now)
    updated_at = models.DateTimeField(_("updated"), default=now)

    class Meta:
        verbose_name = _("business calendar")
        verbose_name_plural = _("business calendars")
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["partner", "name"], name="calendar_unique_name"),
            models.UniqueConstraint(
                fields=["name"], condition=models.Q(partner__isnull=True),
                name="calendar_unique_shared_name",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class WorkingInterval(models.Model):
    """Working hours on one weekday; a day may have several (e.g. before and after lunch).

    `end` 00:00 stands for 24:00, the end of the day: 00:00-00:00 is the whole day.
    Intervals of one weekday do not overlap (touching is fine); the services check it.
    """

    partner = models.ForeignKey(
        Partner, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    calendar = models.ForeignKey(
        BusinessCalendar, on_delete=models.CASCADE, related_name="intervals"
    )
    weekday = models.PositiveSmallIntegerField(
        _("weekday"), choices=[(number, WEEKDAYS[number]) for number in range(7)]
    )
    start = models.TimeField(_("start"))
    end = models.TimeField(_("end"), help_text=_("00:00 means 24:00, the end of the day."))

    class Meta:
        verbose_name = _("working interval")
        verbose_name_plural = _("working intervals")
        ordering = ["calendar_id", "weekday", "start"]
        indexes = [models.Index(fields=["partner", "calendar", "weekday"],
                                name="interval_partner_calendar")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(weekday__lte=6), name="interval_weekday_range"
            ),
            models.CheckConstraint(
                condition=models.Q(end__gt=models.F("start")) | models.Q(end=time(0, 0)),
                name="interval_start_before_end",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()}: {self.label}"

    def as_weekly(self) -> WeeklyInterval:
        return WeeklyInterval(self.weekday, self.start, self.end)

    def clean(self) -> None:
        if time_to_minutes(self.start) >= time_to_minutes(self.end, is_end=True):
            raise ValidationError({"end": _("The end must be after the start.")})

    @property
    def label(self) -> str:
        start = minutes_to_text(time_to_minutes(self.start))
        return f"{start}–{minutes_to_text(time_to_minutes(self.end, is_end=True))}"


class CalendarDay(models.Model):
    """An exception to the weekly hours on one date.

    With a calendar: that calendar's own exception (it wins over the production calendar).
    Without: a day of the shared production calendar, with the `source` it came from.
    """

    partner = models.ForeignKey(
        Partner, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    calendar = models.ForeignKey(
        BusinessCalendar, on_delete=models.CASCADE, null=True, blank=True, related_name="days"
    )
    date = models.DateField(_("date"))
    kind = models.CharField(_("kind"), max_length=10, choices=DayKind.choices)
    note = models.CharField(_("note"), max_length=200, blank=True)
    source = models.CharField(_("source"), max_length=100, blank=True)

    class Meta:
        verbose_name = _("calendar day")
        verbose_name_plural = _("calendar days")
        ordering = ["date"]
        indexes = [models.Index(fields=["partner", "calendar", "date"],
                                name="calendar_day_partner_date")]
        constraints = [
            models.UniqueConstraint(
                fields=["calendar", "date"], condition=models.Q(calendar__isnull=False),
                name="calendar_day_unique_date",
            ),
            models.UniqueConstraint(
                fields=["date"], condition=models.Q(calendar__isnull=True),
                name="calendar_day_unique_shared_date",
            ),
            models.CheckConstraint(
                condition=models.Q(calendar__isnull=False) | models.Q(partner__isnull=True),
                name="calendar_day_shared_has_no_partner",
            ),
            models.CheckConstraint(
                condition=models.Q(kind__in=["holiday", "working", "short"]),
                name="calendar_day_kind_known",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.date} {self.kind}"


# =========================================================================================
# End of business calendars.
# =========================================================================================


# --- Policies, targets, urgency rules, escalation ------------------------------------------
# Defined in their own module to keep this one readable; imported here so Django sees them.
from firstline.sla.policy_models import (  # noqa: E402
    EscalationStep,
    PendingEscalation,
    SlaPolicy,
    SlaTarget,
    TypicalRequest,
    UrgencyRule,
)

__all__ = [
    "BusinessCalendar", "CalendarDay", "DayKind", "EscalationStep", "PendingEscalation",
    "SlaPolicy", "SlaTarget", "TypicalRequest", "UrgencyRule", "WorkingInterval",
]
