"""Mass incidents, planned works, announcements, subscriptions and monitoring alerts (issue 9).

Every row carries its partner (tenancy); times are aware UTC with the time zone they were
given in kept beside them, so an announcement can say "14:30 (Europe/Moscow)".
"""

import secrets

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from firstline.contacts.models import Contact
from firstline.core.clock import now
from firstline.core.models import Partner, Service, validate_time_zone
from firstline.outbox.models import OutboxMessage
from firstline.tickets.models import Ticket


class Impact(models.TextChoices):
    PARTIAL = "partial", _("Partly unavailable")
    FULL = "full", _("Fully unavailable")


class IncidentStatus(models.TextChoices):
    OPEN = "open", pgettext_lazy("incident status", "Open")
    RESOLVED = "resolved", pgettext_lazy("incident status", "Resolved")


class Incident(models.Model):
    """A failure of one or more of a partner's services that many customers feel at once."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="+")
    title = models.CharField(_("title"), max_length=300)
    services = models.ManyToManyField(Service, verbose_name=_("affected services"),
                                      related_name="+")
    impact = models.CharField(_("impact"), max_length=10, choices=Impact.choices)
    status = models.CharField(_("status"), max_length=10, choices=IncidentStatus.choices,
                              default=IncidentStatus.OPEN)
    started_at = models.DateTimeField(_("began"))
    detected_at = models.DateTimeField(_("detected"))
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)
    time_zone = models.CharField(_("time zone"), max_length=64, validators=[validate_time_zone])
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(_("created"), default=now)
    tickets = models.ManyToManyField(Ticket, through="IncidentTicket", related_name="incidents")

    class Meta:
        verbose_name = _("incident")
        verbose_name_plural = _("incidents")
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["partner", "status", "started_at"],
                                name="incident_partner_status")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ended_at__isnull=True)
                | models.Q(ended_at__gte=models.F("started_at")),
                name="incident_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_open(self) -> bool:
        return self.status == IncidentStatus.OPEN


class IncidentTicket(models.Model):
    """A ticket linked to an incident: who linked it and when (the ticket keeps its SLA)."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="+")
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="links")
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="incident_links")
    linked_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                  null=True, blank=True, related_name="+")
    linked_at = models.DateTimeField(_("linked"), default=now)

    class Meta:
        verbose_name = _("linked ticket")
        verbose_name_plural = _("linked tickets")
        constraints = [
            models.UniqueConstraint(fields=["incident", "ticket"], name="incident_ticket_once"),
        ]
        indexes = [models.Index(fields=["partner", "ticket"], name="incident_ticket_partner")]

    def __str__(self) -> str:
        return f"{self.incident_id} ← {self.ticket_id}"


class MaintenancePolicy(models.Model):
    """When planned works of a partner may happen and how early customers must hear of them.

    Belongs to an SLA policy (F22, F24); without one, the partner's works may happen at any
    time with the default notice."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="+")
    sla_policy = models.OneToOneField("sla.SlaPolicy", verbose_name=_("SLA policy"),
                                      on_delete=models.CASCADE, related_name="maintenance")
    notice_business_days = models.PositiveSmallIntegerField(
        _("notice, business days"), default=3,
        help_text=_("How many business days of the partner's calendar before the works "
                    "customers are told."),
    )

    class Meta:
        verbose_name = _("maintenance policy")
        verbose_name_plural = _("maintenance policies")

    def __str__(self) -> str:
        return str(self.sla_policy)


class MaintenanceWindow(models.Model):
    """One allowed interval for planned works, local time of the policy's calendar."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="+")
    policy = models.ForeignKey(MaintenancePolicy, on_delete=models.CASCADE,
                               related_name="windows")
    weekday = models.PositiveSmallIntegerField(
        _("weekday"), null=True, blank=True,
        help_text=_("0 is Monday; empty means every day."),
    )
    starts = models.TimeField(_("from"))
    ends = models.TimeField(_("until"))

    class Meta:
        verbose_name = _("maintenance window")
        verbose_name_plural = _("maintenance windows")
        ordering = ["weekday", "starts"]

    def __str__(self) -> str:
        return f"{self.weekday}: {self.starts:%H:%M}–{self.ends:%H:%M}"


class WorksStatus(models.TextChoices):
    PLANNED = "planned", pgettext_lazy("planned works status", "Planned")
    CANCELLED = "cancelled", pgettext_lazy("planned works status", "Cancelled")


class PlannedWorks(models.Model):
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="+")
    title = models.CharField(_("title"), max_length=300)
    services = models.ManyToManyField(Service, verbose_name=_("affected services"),
                                      related_name="+")
    starts_at = models.DateTimeField(_("begins"))
    ends_at = models.DateTimeField(_("ends"))
    time_zone = models.CharField(_("time zone"), max_length=64, validators=[validate_time_zone])
    significant = models.BooleanField(
        _("significant unavailability"), default=False,
        help_text=_("Customers are also told 15 minutes before and right after the works."),
    )
    status = models.CharField(_("status"), max_length=10, choices=WorksStatus.choices,
                              default=WorksStatus.PLANNED)
    notice_at = models.DateTimeField(_("announced at"))
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(_("created"), default=now)

    class Meta:
        verbose_name = _("planned works")
        verbose_name_plural = _("planned works")
        ordering = ["starts_at", "id"]
        indexes = [models.Index(fields=["partner", "starts_at"], name="works_partner_start")]
        constraints = [
            models.CheckConstraint(condition=models.Q(ends_at__gt=models.F("starts_at")),
                                   name="works_end_after_start"),
        ]

    def __str__(self) -> str:
        return self.title


class AnnouncementKind(models.TextChoices):
    INCIDENT = "incident", _("Incident")
    RECOVERY = "recovery", _("Recovery")
    PLANNED = "planned", _("Planned works")


class AnnouncementStatus(models.TextChoices):
    DRAFT = "draft", pgettext_lazy("announcement status", "Draft")
    SENT = "sent", pgettext_lazy("announcement status", "Sent")


class Audience(models.TextChoices):
    LINKED = "linked", _("Customers of the linked tickets")
    SUBSCRIBERS = "subscribers", _("Users of the affected services and subscribers")
    BOTH = "both", _("Both")


class Announcement(models.Model):
    """An informational mailing (информационная рассылка) with the seed's required parts.

    Each part is its own field; `firstline.incidents.parts` says which each kind needs."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(_("kind"), max_length=10, choices=AnnouncementKind.choices)
    status = models.CharField(_("status"), max_length=10, choices=AnnouncementStatus.choices,
                              default=AnnouncementStatus.DRAFT)
    audience = models.CharField(_("audience"), max_length=12, choices=Audience.choices,
                                default=Audience.BOTH)
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, null=True, blank=True,
                                 related_name="announcements")
    works = models.ForeignKey(PlannedWorks, on_delete=models.CASCADE, null=True, blank=True,
                              related_name="announcements")
    # The parts (see firstline.incidents.parts).
    time_zone = models.CharField(_("time zone"), max_length=64, blank=True)
    began_at = models.DateTimeField(_("began"), null=True, blank=True)
    period_start = models.DateTimeField(_("from"), null=True, blank=True)
    period_end = models.DateTimeField(_("until"), null=True, blank=True)
    services = models.ManyToManyField(Service, verbose_name=_("services"), related_name="+",
                                      blank=True)
    impact = models.CharField(_("impact"), max_length=10, choices=Impact.choices, blank=True)
    expected_fix_at = models.DateTimeField(_("expected fix"), null=True, blank=True)
    workaround = models.TextField(_("workaround"), blank=True)
    symptoms = models.TextField(_("symptoms"), blank=True)
    cause = models.TextField(_("cause"), blank=True)
    measures = models.TextField(_("measures against recurrence"), blank=True)
    how_to_check = models.TextField(_("how to check"), blank=True)
    support_contacts = models.TextField(_("support contacts"), blank=True)
    purpose = models.TextField(_("why, the benefit to customers"), blank=True)
    still_available = models.TextField(_("what stays available"), blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(_("created"), default=now)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)

    class Meta:
        verbose_name = _("announcement")
        verbose_name_plural = _("announcements")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["partner", "created_at"], name="announcement_partner")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"


class TemplateLanguage(models.TextChoices):
    RU = "ru", _("Russian")
    EN = "en", _("English")


class AnnouncementTemplate(models.Model):
    """A partner's own wording of one kind of announcement in one language.

    The required parts are not free text: `{parts}` stands for them, rendered from the
    announcement's fields, and a template without it is refused (as is an SMS form without
    `{services}` and `{when}`). Without a template the default wording is used."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(_("kind"), max_length=10, choices=AnnouncementKind.choices)
    language = models.CharField(_("language"), max_length=2, choices=TemplateLanguage.choices)
    subject = models.CharField(_("subject"), max_length=300,
                               help_text=_("Placeholders: {partner}, {services}."))
    body = models.TextField(
        _("letter"),
        help_text=_("Must contain {parts}; may use {partner}, {services}, {signature}."),
    )
    sms = models.CharField(
        _("SMS"), max_length=300, blank=True,
        help_text=_("Must contain {services} and {when}; may use {partner}. Empty: the "
                    "default short form."),
    )
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, blank=True, related_name="+")
    updated_at = models.DateTimeField(_("changed"), default=now)

    class Meta:
        verbose_name = _("announcement template")
        verbose_name_plural = _("announcement templates")
        constraints = [
            models.UniqueConstraint(fields=["partner", "kind", "language"],
                                    name="announcement_template_once"),
        ]

    def __str__(self) -> str:
        return f"{self.partner_id}: {self.kind} ({self.language})"


class AnnouncementDelivery(models.Model):
    """One recipient of an announcement, written with its outbox message."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="+")
    announcement = models.ForeignKey(Announcement, on_delete=models.CASCADE,
                                     related_name="deliveries")
    address = models.CharField(_("address"), max_length=254)
    channel = models.CharField(_("channel"), max_length=10, default="email",
                               help_text=_("email, or sms for the short form."))
    contact = models.ForeignKey(Contact, on_delete=models.SET_NULL, null=True, blank=True,
                                related_name="+")
    ticket = models.ForeignKey(Ticket, on_delete=models.SET_NULL, null=True, blank=True,
                               related_name="+")
    outbox = models.ForeignKey(OutboxMessage, on_delete=models.SET_NULL, null=True,
                               blank=True, related_name="+")
    created_at = models.DateTimeField(default=now)

    class Meta:
        verbose_name = _("announcement delivery")
        verbose_name_plural = _("announcement deliveries")
        constraints = [
            models.UniqueConstraint(fields=["announcement", "address"],
                                    name="announcement_delivery_once"),
        ]

    def __str__(self) -> str:
        return self.address


class ContactService(models.Model):
    """A contact uses a service: they hear about its incidents and planned works."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="+")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")
    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="+")
    by_sms = models.BooleanField(
        _("also by SMS"), default=False,
        help_text=_("The contact asked for the short form of announcements by SMS too, to "
                    "their first phone number."),
    )

    class Meta:
        verbose_name = _("service used by a contact")
        verbose_name_plural = _("services used by contacts")
        constraints = [
            models.UniqueConstraint(fields=["contact", "service"], name="contact_service_once"),
        ]
        indexes = [models.Index(fields=["partner", "service"], name="contact_service_partner")]

    def __str__(self) -> str:
        return f"{self.contact_id} → {self.service_id}"


class Subscription(models.Model):
    """Someone who asked for a partner's announcements, or who opted out of them.

    An unsubscribed address gets no announcements, but replies to its own tickets still go."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="+")
    address = models.EmailField(_("e-mail"))
    phone = models.CharField(_("phone for SMS"), max_length=40, blank=True,
                             help_text=_("The short form of each announcement also goes here "
                                         "by SMS."))
    contact = models.ForeignKey(Contact, on_delete=models.SET_NULL, null=True, blank=True,
                                related_name="+")
    confirmed_at = models.DateTimeField(_("confirmed"), null=True, blank=True)
    unsubscribed_at = models.DateTimeField(_("unsubscribed"), null=True, blank=True)
    created_at = models.DateTimeField(default=now)

    class Meta:
        verbose_name = _("subscription")
        verbose_name_plural = _("subscriptions")
        constraints = [
            models.UniqueConstraint(fields=["partner", "address"], name="subscription_once"),
        ]

    def __str__(self) -> str:
        return self.address


class ReminderStep(models.TextChoices):
    NOTICE = "notice", _("At the notice time")
    DAY_BEFORE = "day_before", _("One day before")
    SOON = "soon", _("15 minutes before")
    AFTER = "after", _("Right after")


class WorksReminder(models.Model):
    """A reminder of planned works due at a moment; fired once, claimed by UPDATE."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="+")
    works = models.ForeignKey(PlannedWorks, on_delete=models.CASCADE, related_name="reminders")
    step = models.CharField(_("step"), max_length=12, choices=ReminderStep.choices)
    due_at = models.DateTimeField(_("due"))
    fired_at = models.DateTimeField(_("fired"), null=True, blank=True)
    fired_by = models.CharField(max_length=100, blank=True)
    announcement = models.ForeignKey(Announcement, on_delete=models.SET_NULL, null=True,
                                     blank=True, related_name="+")

    class Meta:
        verbose_name = _("planned works reminder")
        verbose_name_plural = _("planned works reminders")
        constraints = [
            models.UniqueConstraint(fields=["works", "step"], name="works_reminder_once"),
        ]
        indexes = [models.Index(fields=["due_at"], condition=models.Q(fired_at__isnull=True),
                                name="works_reminder_due")]

    def __str__(self) -> str:
        return f"{self.works_id}: {self.step}"


def new_token() -> str:
    return secrets.token_urlsafe(24)


class AlertSourceKind(models.TextChoices):
    ALERTMANAGER = "alertmanager", _("Prometheus Alertmanager")
    ZABBIX = "zabbix", _("Zabbix")
    GENERIC = "generic", _("Generic JSON webhook")


class AlertSource(models.Model):
    """A monitoring system that posts alerts to /incidents/alerts/<token>/ (provider-wide)."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    kind = models.CharField(_("kind"), max_length=20, choices=AlertSourceKind.choices)
    token = models.CharField(_("token"), max_length=64, unique=True, default=new_token)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("alert source")
        verbose_name_plural = _("alert sources")

    def __str__(self) -> str:
        return self.name


class AlertAction(models.TextChoices):
    INCIDENT = "incident", _("Open an incident")
    TICKET = "ticket", _("Open a ticket")


class AlertRule(models.Model):
    """Labels an alert must carry (all of them, exact values) -> a partner and a service."""

    source = models.ForeignKey(AlertSource, on_delete=models.CASCADE, related_name="rules")
    position = models.PositiveIntegerField(_("order"), default=0)
    match = models.JSONField(_("labels to match"), default=dict,
                             help_text=_('For example {"partner": "alpha", "job": "vps"}.'))
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="+")
    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="+")
    action = models.CharField(_("action"), max_length=10, choices=AlertAction.choices,
                              default=AlertAction.INCIDENT)
    impact = models.CharField(_("impact"), max_length=10, choices=Impact.choices,
                              default=Impact.FULL)
    # The recovery announcement sent when the alert resolves the incident: the parts the
    # monitoring system cannot know (an alert's annotations "cause", "measures" and
    # "how_to_check" override them). Without them the recovery stays a draft.
    recovery_cause = models.TextField(_("cause, for the recovery announcement"), blank=True)
    recovery_measures = models.TextField(_("measures against recurrence"), blank=True)
    recovery_how_to_check = models.TextField(_("how to check the service"), blank=True)

    class Meta:
        verbose_name = _("alert rule")
        verbose_name_plural = _("alert rules")
        ordering = ["source_id", "position", "id"]

    def __str__(self) -> str:
        return f"{self.source_id}: {self.match}"


class AlertState(models.TextChoices):
    FIRING = "firing", _("Firing")
    RESOLVED = "resolved", _("Resolved")
    PARKED = "parked", _("Parked")


class Alert(models.Model):
    """One alert as its source identifies it (the fingerprint): repeats update this row."""

    source = models.ForeignKey(AlertSource, on_delete=models.CASCADE, related_name="alerts")
    fingerprint = models.CharField(_("fingerprint"), max_length=200)
    state = models.CharField(_("state"), max_length=10, choices=AlertState.choices)
    labels = models.JSONField(_("labels"), default=dict)
    annotations = models.JSONField(_("annotations"), default=dict)
    starts_at = models.DateTimeField(_("began"))
    ends_at = models.DateTimeField(_("ended"), null=True, blank=True)
    rule = models.ForeignKey(AlertRule, on_delete=models.SET_NULL, null=True, blank=True,
                             related_name="+")
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, null=True, blank=True,
                                related_name="+")
    incident = models.ForeignKey(Incident, on_delete=models.SET_NULL, null=True, blank=True,
                                 related_name="alerts")
    ticket = models.ForeignKey(Ticket, on_delete=models.SET_NULL, null=True, blank=True,
                               related_name="+")
    parked_reason = models.CharField(_("why parked"), max_length=300, blank=True)
    received = models.PositiveIntegerField(_("times received"), default=1)
    updated_at = models.DateTimeField(default=now)

    class Meta:
        verbose_name = _("monitoring alert")
        verbose_name_plural = _("monitoring alerts")
        constraints = [
            models.UniqueConstraint(fields=["source", "fingerprint"],
                                    name="alert_fingerprint_once"),
        ]

    def __str__(self) -> str:
        return self.fingerprint
