"""Satisfaction surveys (CSAT after resolution, periodic NPS with CSI questions), follow-up
tasks for the supervisor, and the win-back of customers at risk or lost.

A survey is one row per question put to one person: the answer is a field of that row, so
however often a link is clicked there is one vote, changed in place within the window.
"""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from firstline.contacts.models import Contact, Organisation
from firstline.core.clock import now
from firstline.core.models import Partner, Service
from firstline.tickets.models import Ticket


class SurveySettings(models.Model):
    """A partner's survey rules; a partner without a row gets the defaults."""

    partner = models.OneToOneField(
        Partner, verbose_name=_("partner"), on_delete=models.CASCADE,
        related_name="survey_settings",
    )
    csat_enabled = models.BooleanField(_("ask for a rating after resolution"), default=True)
    csat_scale_max = models.PositiveSmallIntegerField(
        _("rating scale, 1 to"), default=5,
        validators=[MinValueValidator(3), MaxValueValidator(10)],
    )
    csat_delay_minutes = models.PositiveIntegerField(
        _("delay after resolution, minutes"), default=60,
    )
    csat_channels = models.JSONField(
        _("ticket channels asked"), default=list, blank=True,
        help_text=_("Empty: every channel. E.g. [\"email\", \"phone\"]."),
    )
    csat_services = models.ManyToManyField(
        Service, verbose_name=_("services asked"), blank=True, related_name="+",
        help_text=_("Empty: tickets of every service (and of none)."),
    )
    csat_min_days_between = models.PositiveIntegerField(
        _("ask the same contact for a rating at most once in, days"), default=7,
    )
    nps_enabled = models.BooleanField(_("periodic NPS survey"), default=True)
    nps_interval_days = models.PositiveIntegerField(
        _("NPS survey every, days"), default=91, validators=[MinValueValidator(7)],
    )
    min_days_between_surveys = models.PositiveIntegerField(
        _("no two surveys to one person within, days"), default=7,
    )
    change_window_hours = models.PositiveIntegerField(
        _("an answer may be changed within, hours"), default=72,
    )
    link_valid_days = models.PositiveIntegerField(
        _("survey links valid for, days"), default=30, validators=[MinValueValidator(1)],
    )
    raise_priority_when_sensitive = models.BooleanField(
        _("higher priority for customers who returned"), default=True,
    )
    winback_reminder_days = models.PositiveIntegerField(
        _("remind of an open win-back case every, days"), default=3,
        validators=[MinValueValidator(1)],
    )

    class Meta:
        verbose_name = _("survey settings")
        verbose_name_plural = _("survey settings")

    def __str__(self) -> str:
        return str(self.partner)


class Kind(models.TextChoices):
    CSAT = "csat", pgettext_lazy("survey kind", "Rating after resolution (CSAT)")
    NPS = "nps", pgettext_lazy("survey kind", "Recommendation (NPS) and satisfaction (CSI)")


class SurveyStatus(models.TextChoices):
    SCHEDULED = "scheduled", pgettext_lazy("survey status", "Scheduled")
    SENT = "sent", pgettext_lazy("survey status", "Sent")
    ANSWERED = "answered", pgettext_lazy("survey status", "Answered")
    CANCELLED = "cancelled", pgettext_lazy("survey status", "Not sent")


class Survey(models.Model):
    partner = models.ForeignKey(Partner, verbose_name=_("partner"), on_delete=models.CASCADE,
                                related_name="+")
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    contact = models.ForeignKey(
        Contact, verbose_name=_("contact"), on_delete=models.SET_NULL, null=True, blank=True,
        related_name="surveys",
    )
    organisation = models.ForeignKey(
        Organisation, verbose_name=_("organisation"), on_delete=models.SET_NULL, null=True,
        blank=True, related_name="surveys",
    )
    ticket = models.ForeignKey(
        Ticket, verbose_name=_("ticket"), on_delete=models.SET_NULL, null=True, blank=True,
        related_name="surveys",
    )
    service = models.ForeignKey(
        Service, verbose_name=_("service"), on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+",
    )
    operator = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("operator"), on_delete=models.SET_NULL,
        null=True, blank=True, related_name="+",
    )
    scale_min = models.PositiveSmallIntegerField(_("lowest score"), default=1)
    scale_max = models.PositiveSmallIntegerField(_("highest score"), default=5)
    language = models.CharField(_("language"), max_length=2, default="ru")
    status = models.CharField(_("status"), max_length=12, choices=SurveyStatus.choices,
                              default=SurveyStatus.SCHEDULED)
    cancel_reason = models.CharField(_("why not sent"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("created"), default=now)
    send_at = models.DateTimeField(_("to be sent at"), default=now)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    recipient = models.CharField(_("sent to"), max_length=254, blank=True)
    score = models.SmallIntegerField(_("score"), null=True, blank=True)
    comment = models.TextField(_("comment"), blank=True)
    answered_at = models.DateTimeField(_("answered"), null=True, blank=True)
    changed_at = models.DateTimeField(_("answer changed"), null=True, blank=True)
    answer_source = models.CharField(_("answered through"), max_length=10, blank=True)

    class Meta:
        verbose_name = _("survey")
        verbose_name_plural = _("surveys")
        ordering = ["-created_at", "-id"]
        constraints = [
            # One rating per ticket: a re-resolution reuses it, a retry cannot add one.
            models.UniqueConstraint(fields=["ticket"], condition=models.Q(kind="csat"),
                                    name="survey_one_csat_per_ticket"),
        ]
        indexes = [
            models.Index(fields=["status", "send_at"], name="survey_due"),
            models.Index(fields=["partner", "kind", "answered_at"], name="survey_partner_answers"),
            models.Index(fields=["partner", "contact", "sent_at"], name="survey_contact_sent"),
            models.Index(fields=["partner", "organisation", "answered_at"],
                         name="survey_org_answers"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"

    @property
    def scores(self) -> list[int]:
        return list(range(self.scale_min, self.scale_max + 1))

    @property
    def share(self) -> float | None:
        """The score on 0..1 (lowest..highest), whatever the scale."""
        if self.score is None or self.scale_max == self.scale_min:
            return None
        return (self.score - self.scale_min) / (self.scale_max - self.scale_min)

    @property
    def nps_group(self) -> str:
        if self.kind != Kind.NPS or self.score is None:
            return ""
        if self.score >= 9:
            return "promoter"
        return "passive" if self.score >= 7 else "detractor"


class SurveyOptOut(models.Model):
    """A contact who asked to get no more surveys (the link in every survey)."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="+")
    contact = models.OneToOneField(Contact, verbose_name=_("contact"), on_delete=models.CASCADE,
                                   related_name="survey_opt_out")
    created_at = models.DateTimeField(_("unsubscribed"), default=now)

    class Meta:
        verbose_name = _("survey unsubscription")
        verbose_name_plural = _("survey unsubscriptions")

    def __str__(self) -> str:
        return str(self.contact)


class CsiQuestion(models.Model):
    """One weighted aspect of satisfaction the partner asks about (speed, competence...)."""

    partner = models.ForeignKey(Partner, verbose_name=_("partner"), on_delete=models.CASCADE,
                                related_name="csi_questions")
    text = models.CharField(_("question"), max_length=300)
    weight = models.PositiveSmallIntegerField(
        _("weight"), default=1, validators=[MinValueValidator(1), MaxValueValidator(100)]
    )
    order = models.PositiveSmallIntegerField(_("order"), default=0)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("CSI question")
        verbose_name_plural = _("CSI questions")
        ordering = ["partner_id", "order", "id"]

    def __str__(self) -> str:
        return self.text


class CsiAnswer(models.Model):
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="+")
    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="csi_answers")
    question = models.ForeignKey(CsiQuestion, on_delete=models.CASCADE, related_name="answers")
    score = models.PositiveSmallIntegerField(
        _("score"), validators=[MinValueValidator(1), MaxValueValidator(5)]
    )

    class Meta:
        verbose_name = _("CSI answer")
        verbose_name_plural = _("CSI answers")
        constraints = [
            models.UniqueConstraint(fields=["survey", "question"], name="csi_one_answer"),
        ]

    def __str__(self) -> str:
        return f"{self.question}: {self.score}"


class FollowUpTask(models.Model):
    """A low rating or a detractor: the supervisor calls back and writes what was done."""

    class Status(models.TextChoices):
        OPEN = "open", pgettext_lazy("follow-up", "Open")
        DONE = "done", pgettext_lazy("follow-up", "Done")

    partner = models.ForeignKey(Partner, verbose_name=_("partner"), on_delete=models.CASCADE,
                                related_name="+")
    survey = models.OneToOneField(Survey, verbose_name=_("survey"), on_delete=models.CASCADE,
                                  related_name="follow_up")
    status = models.CharField(_("status"), max_length=10, choices=Status.choices,
                              default=Status.OPEN)
    created_at = models.DateTimeField(_("created"), default=now)
    done_at = models.DateTimeField(_("done"), null=True, blank=True)
    done_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True,
                                blank=True, related_name="+")
    note = models.TextField(_("what was done"), blank=True)

    class Meta:
        verbose_name = _("follow-up task")
        verbose_name_plural = _("follow-up tasks")
        ordering = ["status", "-created_at"]
        indexes = [models.Index(fields=["partner", "status", "created_at"],
                                name="followup_partner_open")]

    def __str__(self) -> str:
        return f"{self.survey} ({self.get_status_display()})"


class CustomerStanding(models.Model):
    """What win-back taught about an organisation: returned (sensitive), lost, lost for good."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="+")
    organisation = models.OneToOneField(Organisation, verbose_name=_("organisation"),
                                        on_delete=models.CASCADE, related_name="standing")
    is_sensitive = models.BooleanField(_("returned customer, sensitive"), default=False)
    sensitive_since = models.DateTimeField(_("sensitive since"), null=True, blank=True)
    times_lost = models.PositiveSmallIntegerField(_("times lost"), default=0)
    lost_for_good = models.BooleanField(_("lost for good"), default=False)

    class Meta:
        verbose_name = _("customer standing")
        verbose_name_plural = _("customer standings")

    def __str__(self) -> str:
        return str(self.organisation)


class WinBackCase(models.Model):
    class Reason(models.TextChoices):
        AT_RISK = "at_risk", pgettext_lazy("win-back", "At risk")
        LOST = "lost", pgettext_lazy("win-back", "Left")

    class Status(models.TextChoices):
        OPEN = "open", pgettext_lazy("win-back", "Open")
        RETURNED = "returned", pgettext_lazy("win-back", "Returned")
        LOST = "lost", pgettext_lazy("win-back", "Lost")

    partner = models.ForeignKey(Partner, verbose_name=_("partner"), on_delete=models.CASCADE,
                                related_name="+")
    organisation = models.ForeignKey(Organisation, verbose_name=_("organisation"),
                                     on_delete=models.CASCADE, related_name="winback_cases")
    reason = models.CharField(_("reason"), max_length=10, choices=Reason.choices)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices,
                              default=Status.OPEN)
    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("assignee"),
                                 on_delete=models.PROTECT, related_name="winback_cases")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, blank=True, related_name="+")
    risk_score = models.PositiveSmallIntegerField(_("risk when opened"), default=0)
    created_at = models.DateTimeField(_("opened"), default=now)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_reminder_at = models.DateTimeField(_("next reminder"), null=True, blank=True)
    reminders_sent = models.PositiveSmallIntegerField(_("reminders sent"), default=0)
    note = models.TextField(_("notes"), blank=True)

    class Meta:
        verbose_name = _("win-back case")
        verbose_name_plural = _("win-back cases")
        ordering = ["status", "-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["organisation"], condition=models.Q(status="open"),
                                    name="winback_one_open_case"),
        ]
        indexes = [models.Index(fields=["status", "next_reminder_at"], name="winback_due")]

    def __str__(self) -> str:
        return f"{self.organisation} ({self.get_status_display()})"
