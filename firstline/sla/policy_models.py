"""SLA policies, their targets, urgency rules, escalation ladders and the escalation log.

Imported by firstline/sla/models.py so Django registers them with the `sla` app.
"""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from firstline.core.clock import now
from firstline.core.models import Partner, Service
from firstline.tickets.models import Priority, Status


def default_paused_statuses() -> list[str]:
    return [Status.WAITING_CUSTOMER]


class SlaPolicy(models.Model):
    """What a partner promises its customers: targets per priority in business time."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="sla_policies")
    name = models.CharField(_("name"), max_length=200)
    is_default = models.BooleanField(
        _("default"), default=False,
        help_text=_("Used for customers whose contract names no policy of its own."),
    )
    calendar = models.ForeignKey(
        "sla.BusinessCalendar",
        verbose_name=_("business calendar"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="policies",
        help_text=_("Hours the clock runs; empty means 24x7."),
    )
    paused_statuses = models.JSONField(
        _("statuses that pause the clock"), default=default_paused_statuses, blank=True
    )
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(default=now)

    class Meta:
        verbose_name = _("SLA policy")
        verbose_name_plural = _("SLA policies")
        ordering = ["partner_id", "-is_default", "name"]
        constraints = [
            models.UniqueConstraint(fields=["partner", "name"], name="sla_policy_unique_name"),
            models.UniqueConstraint(
                fields=["partner"], condition=models.Q(is_default=True),
                name="sla_policy_one_default",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class SlaTarget(models.Model):
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="+")
    policy = models.ForeignKey(SlaPolicy, on_delete=models.CASCADE, related_name="targets")
    priority = models.CharField(_("priority"), max_length=20, choices=Priority.choices)
    reaction_minutes = models.PositiveIntegerField(
        _("reaction, business minutes"), validators=[MinValueValidator(1)]
    )
    resolution_minutes = models.PositiveIntegerField(
        _("resolution, business minutes"), validators=[MinValueValidator(1)]
    )

    class Meta:
        verbose_name = _("SLA target")
        verbose_name_plural = _("SLA targets")
        constraints = [
            models.UniqueConstraint(fields=["policy", "priority"], name="sla_target_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.policy}: {self.get_priority_display()}"


class TypicalRequest(models.Model):
    """A standard request the first line resolves by instruction, with its own norm."""

    partner = models.ForeignKey(
        Partner, on_delete=models.CASCADE, related_name="typical_requests"
    )
    name = models.CharField(_("name"), max_length=200)
    instruction = models.TextField(_("first-line instruction"), blank=True)
    resolution_minutes = models.PositiveIntegerField(
        _("resolution norm, business minutes"), validators=[MinValueValidator(1)]
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("typical request")
        verbose_name_plural = _("typical requests")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["partner", "name"], name="typical_request_unique"),
        ]

    def __str__(self) -> str:
        return self.name


class UrgencyRule(models.Model):
    """At intake, the first matching rule (by position) sets the ticket's priority."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="urgency_rules")
    position = models.PositiveIntegerField(_("position"), default=0)
    name = models.CharField(_("name"), max_length=200)
    service = models.ForeignKey(
        Service, verbose_name=_("service"), on_delete=models.CASCADE, null=True, blank=True,
        related_name="+",
    )
    keywords = models.CharField(
        _("keywords"), max_length=500, blank=True,
        help_text=_("Comma-separated; any of them in the subject or text matches."),
    )
    vip_only = models.BooleanField(_("VIP customers only"), default=False)
    priority = models.CharField(_("priority"), max_length=20, choices=Priority.choices)

    class Meta:
        verbose_name = _("urgency rule")
        verbose_name_plural = _("urgency rules")
        ordering = ["partner_id", "position", "id"]

    def __str__(self) -> str:
        return self.name

    def keyword_list(self) -> list[str]:
        return [word.strip().casefold() for word in self.keywords.split(",") if word.strip()]


class EscalationStep(models.Model):
    """One rung of a partner's escalation ladder for a priority."""

    class Target(models.TextChoices):
        REACTION = "reaction", _("Reaction")
        RESOLUTION = "resolution", _("Resolution")

    class Role(models.TextChoices):
        LEAD = "lead", _("First-line lead (supervisors)")
        ASSIGNEE = "assignee", _("Assignee")
        PARTNER_ENGINEER = "partner_engineer", _("Partner engineers")
        PARTNER_MANAGER = "partner_manager", _("Partner managers")

    class Channel(models.TextChoices):
        EMAIL = "email", _("E-mail")
        SMS = "sms", _("SMS")
        VOICE = "voice", _("Phone call")

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="+")
    policy = models.ForeignKey(
        SlaPolicy, on_delete=models.CASCADE, related_name="escalation_steps"
    )
    priority = models.CharField(_("priority"), max_length=20, choices=Priority.choices)
    target = models.CharField(_("deadline"), max_length=20, choices=Target.choices)
    percent = models.PositiveIntegerField(
        _("at share of the target, %"),
        validators=[MinValueValidator(1), MaxValueValidator(1000)],
        help_text=_("100 means at the breach; 50 at half the time."),
    )
    roles = models.JSONField(_("recipients by role"), default=list, blank=True)
    users = models.ManyToManyField(
        settings.AUTH_USER_MODEL, verbose_name=_("named recipients"), blank=True,
        related_name="+",
    )
    channels = models.JSONField(_("channels"), default=list)

    class Meta:
        verbose_name = _("escalation step")
        verbose_name_plural = _("escalation steps")
        ordering = ["policy_id", "priority", "target", "percent"]
        constraints = [
            models.UniqueConstraint(
                fields=["policy", "priority", "target", "percent"],
                name="escalation_step_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_target_display()} {self.percent}% ({self.get_priority_display()})"


class PendingEscalation(models.Model):
    """When a step falls due for a ticket; fired exactly once (fired_at set by a claim)."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="+")
    ticket = models.ForeignKey(
        "tickets.Ticket", on_delete=models.CASCADE, related_name="pending_escalations"
    )
    step = models.ForeignKey(EscalationStep, on_delete=models.CASCADE, related_name="+")
    due_at = models.DateTimeField()
    fired_at = models.DateTimeField(null=True, blank=True)
    fired_late = models.BooleanField(default=False)
    fired_by = models.CharField(max_length=100, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["ticket", "step"], name="pending_escalation_once"),
        ]
        indexes = [
            # The clock's sweep: what is due and not fired yet, earliest first.
            models.Index(
                fields=["due_at"], name="escalation_due",
                condition=models.Q(fired_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.step} @ {self.due_at:%Y-%m-%d %H:%M}"
