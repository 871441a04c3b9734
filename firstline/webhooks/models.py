"""Outbound webhooks: a partner's (or the provider's) subscription to domain events.

A subscription names a URL, the events it wants and a secret that signs every delivery.
Each event a subscription receives is one outbox row (channel `event_hook`), so retries,
back-off and the lease are the outbox's; `Delivery` ties that row to its subscription and
keeps what the receiver answered.
"""

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from firstline.core.clock import now
from firstline.core.models import Partner
from firstline.core.secret_field import EncryptedTextField
from firstline.outbox.models import OutboxMessage

# The events a subscription may choose, in the order the form lists them.
EVENT_CHOICES = [
    ("ticket.created", _("Ticket created")),
    ("ticket.status_changed", _("Ticket status changed")),
    ("ticket.merged", _("Duplicate merged into a ticket")),
    ("message.public_reply", _("Public reply to the customer")),
    ("escalation.fired", _("Escalation fired")),
    ("sla.breached", _("SLA deadline breached")),
    ("incident.opened", _("Incident opened")),
    ("incident.resolved", _("Incident resolved")),
    ("survey.answered", _("Survey answered")),
]
EVENT_NAMES = [name for name, _label in EVENT_CHOICES]


class Subscription(models.Model):
    partner = models.ForeignKey(
        Partner, verbose_name=_("partner"), on_delete=models.CASCADE, null=True, blank=True,
        related_name="+",
        help_text=_("Empty for the provider's own subscription, which gets every partner's "
                    "events."),
    )
    name = models.CharField(_("name"), max_length=200, blank=True)
    url = models.CharField(_("URL"), max_length=1000)
    events = models.JSONField(_("events"), default=list)
    secret = EncryptedTextField(_("signing secret"))
    is_active = models.BooleanField(_("active"), default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("created by"), on_delete=models.SET_NULL,
        null=True, blank=True, related_name="+",
    )
    created_at = models.DateTimeField(_("created"), default=now)
    secret_rotated_at = models.DateTimeField(_("secret changed"), default=now)

    class Meta:
        verbose_name = _("webhook subscription")
        verbose_name_plural = _("webhook subscriptions")
        ordering = ["partner_id", "id"]

    def __str__(self) -> str:
        return self.name or self.url

    def event_labels(self) -> list[str]:
        labels = dict(EVENT_CHOICES)
        return [str(labels.get(name, name)) for name in self.events]


class Delivery(models.Model):
    """One event sent (or to be sent) to one subscription: an outbox row and its answer."""

    subscription = models.ForeignKey(
        Subscription, verbose_name=_("subscription"), on_delete=models.CASCADE,
        related_name="deliveries",
    )
    message = models.OneToOneField(
        OutboxMessage, verbose_name=_("outgoing message"), on_delete=models.CASCADE,
        related_name="+",
    )
    event_id = models.UUIDField(_("event id"), default=uuid.uuid4)
    event_type = models.CharField(_("event"), max_length=40)
    response_code = models.PositiveSmallIntegerField(_("response code"), null=True, blank=True)
    resent_from = models.ForeignKey(
        "self", verbose_name=_("sent again from"), on_delete=models.SET_NULL, null=True,
        blank=True, related_name="+",
    )
    created_at = models.DateTimeField(_("created"), default=now)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        ordering = ["-id"]
        indexes = [models.Index(fields=["subscription", "-id"], name="webhook_delivery_log")]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id}"

    @property
    def code(self) -> int | None:
        """The receiver's last answer: a 2xx is kept on the sent row ("HTTP 200"), a failure
        on the delivery (None when there was no answer: refused, timed out)."""
        provider_id = self.message.provider_message_id
        if self.message.status == "sent" and provider_id.startswith("HTTP "):
            try:
                return int(provider_id[5:])
            except ValueError:
                return None
        return self.response_code
