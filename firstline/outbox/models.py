"""The outbox: every outgoing message (mail, SMS, voice call, webhook) as a durable row.

A row is written in the same transaction as the change that caused it and is then delivered
by a worker with retries and back-off, so a delivery channel that is down for an hour
delays messages and loses none (DESIGN.md, "Nothing is lost").
"""

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from firstline.core.clock import now
from firstline.core.models import Partner
from firstline.tickets.models import Ticket


class Channel(models.TextChoices):
    EMAIL = "email", _("E-mail")
    SMS = "sms", _("SMS")
    VOICE = "voice", _("Voice call")
    WEBHOOK = "webhook", _("Webhook")
    # Served by adapters that their apps register (outbox.adapters.register).
    EVENT_HOOK = "event_hook", _("Event webhook (signed)")
    TELEGRAM = "telegram", _("Telegram")


class Status(models.TextChoices):
    PENDING = "pending", pgettext_lazy("outbox status", "Pending")
    SENDING = "sending", pgettext_lazy("outbox status", "Sending")
    SENT = "sent", pgettext_lazy("outbox status", "Sent")
    FAILED = "failed", pgettext_lazy("outbox status", "Failed")
    CANCELLED = "cancelled", pgettext_lazy("outbox status", "Cancelled")


# Still on its way: the ticket page shows these as "waiting to be delivered".
UNDELIVERED_STATUSES = (Status.PENDING, Status.SENDING)


class OutboxMessage(models.Model):
    partner = models.ForeignKey(
        Partner,
        verbose_name=_("partner"),
        # A partner with messages on record is not deleted from under them.
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("Empty for the provider's own messages."),
    )
    ticket = models.ForeignKey(
        Ticket,
        verbose_name=_("ticket"),
        # The message stays on record even if its ticket is ever deleted.
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="outbox_messages",
    )
    channel = models.CharField(_("channel"), max_length=20, choices=Channel.choices)
    recipient = models.CharField(
        _("recipient"), max_length=1000, help_text=_("E-mail address, phone number or URL.")
    )
    subject = models.CharField(_("subject"), max_length=500, blank=True)
    body = models.TextField(_("text"))
    html = models.TextField(_("HTML version"), blank=True)
    headers = models.JSONField(_("headers"), default=dict, blank=True)
    attachments = models.JSONField(
        _("attachments"), default=list, blank=True,
        help_text=_("Stored files sent with an e-mail: path, file name, content type."),
    )
    dedupe_key = models.CharField(
        _("deduplication key"),
        max_length=255,
        unique=True,
        null=True,
        blank=True,
        help_text=_("The same key is never enqueued twice."),
    )
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.PENDING
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), default=now)
    last_error = models.TextField(_("last error"), blank=True)
    created_at = models.DateTimeField(_("created"), default=now)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    provider_message_id = models.CharField(_("provider's message id"), max_length=255, blank=True)
    # The lease: a worker owns a row in "sending" until claimed_until; after that another
    # worker may take it over (the first one crashed or hung).
    claimed_by = models.CharField(_("worker"), max_length=100, blank=True)
    claimed_until = models.DateTimeField(_("claimed until"), null=True, blank=True)

    class Meta:
        verbose_name = _("outgoing message")
        verbose_name_plural = _("outgoing messages")
        ordering = ["-created_at", "-id"]
        indexes = [
            # The worker's query: what is due, oldest first.
            models.Index(fields=["status", "next_attempt_at"], name="outbox_due"),
            models.Index(fields=["partner", "created_at"], name="outbox_partner_created"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=Status.values), name="outbox_status_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(channel__in=Channel.values), name="outbox_channel_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} → {self.recipient} ({self.get_status_display()})"
