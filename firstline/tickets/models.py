import re

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from firstline.contacts.models import Contact
from firstline.core.clock import now
from firstline.core.models import Partner, Service

NUMBER_PREFIX = "FL-"
# "FL-000123-7KQX", the tag our letters carry (firstline.mail.threading), reads as its number.
_NUMBER_RE = re.compile(
    r"^\s*(?:FL-?0*(\d{1,12})(?:-[0-9A-Z]{4})?|0*(\d{1,12}))\s*$", re.IGNORECASE
)


def format_number(pk: int) -> str:
    return f"{NUMBER_PREFIX}{pk:06d}"


def parse_number(text: str) -> int | None:
    """'FL-000123', 'FL-000123-7KQX', 'fl123' or '123' -> 123; anything else -> None."""
    match = _NUMBER_RE.match(text or "")
    return int(match.group(1) or match.group(2)) if match else None


class Status(models.TextChoices):
    NEW = "new", pgettext_lazy("ticket status", "New")
    OPEN = "open", pgettext_lazy("ticket status", "Open")
    WAITING_CUSTOMER = "waiting_customer", pgettext_lazy("ticket status", "Waiting for customer")
    WAITING_PARTNER = "waiting_partner", pgettext_lazy("ticket status", "Waiting for partner")
    RESOLVED = "resolved", pgettext_lazy("ticket status", "Resolved")
    CLOSED = "closed", pgettext_lazy("ticket status", "Closed")


ACTIVE_STATUSES = (
    Status.NEW,
    Status.OPEN,
    Status.WAITING_CUSTOMER,
    Status.WAITING_PARTNER,
)


class Priority(models.TextChoices):
    CRITICAL = "critical", pgettext_lazy("priority", "Critical")
    HIGH = "high", pgettext_lazy("priority", "High")
    NORMAL = "normal", pgettext_lazy("priority", "Normal")
    LOW = "low", pgettext_lazy("priority", "Low")


class Channel(models.TextChoices):
    EMAIL = "email", _("E-mail")
    PHONE = "phone", _("Phone")
    PORTAL = "portal", _("Customer portal")
    API = "api", _("API")
    MONITORING = "monitoring", _("Monitoring alert")
    TELEGRAM = "telegram", _("Telegram")


class IdentifiedBy(models.TextChoices):
    """How the customer was identified (F5)."""

    NONE = "none", pgettext_lazy("identified by", "Not identified")
    CONFIRMED_EMAIL = "confirmed_email", pgettext_lazy("identified by", "Confirmed e-mail")
    CONTRACT_NUMBER = "contract_number", pgettext_lazy("identified by", "Contract number")
    CODE_WORD = "code_word", pgettext_lazy("identified by", "Code word")


class Ticket(models.Model):
    partner = models.ForeignKey(
        Partner, verbose_name=_("partner"), on_delete=models.PROTECT, related_name="tickets"
    )
    contact = models.ForeignKey(
        Contact,
        verbose_name=_("contact"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="tickets",
    )
    channel = models.CharField(_("channel"), max_length=20, choices=Channel.choices)
    identified_by = models.CharField(
        _("identified by"), max_length=20, choices=IdentifiedBy.choices,
        default=IdentifiedBy.NONE,
    )
    subject = models.CharField(_("subject"), max_length=300)
    customer_words = models.TextField(
        _("request in the customer's words"),
        help_text=_("What the customer asked, as they put it; quoted back in replies."),
    )
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.NEW
    )
    priority = models.CharField(
        _("priority"), max_length=20, choices=Priority.choices, default=Priority.NORMAL
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("assignee"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_tickets",
    )
    service = models.ForeignKey(
        Service,
        verbose_name=_("service"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="tickets",
    )
    created_at = models.DateTimeField(_("created"), default=now)
    updated_at = models.DateTimeField(_("updated"), default=now)
    first_response_at = models.DateTimeField(_("first reply"), null=True, blank=True)
    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    due_at = models.DateTimeField(
        _("due"),
        null=True,
        blank=True,
        help_text=_("When the next deadline of the ticket falls; the queue is sorted by it."),
    )
    typical_request = models.ForeignKey(
        "sla.TypicalRequest",
        verbose_name=_("typical request"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="tickets",
    )
    # SLA: the policy in force, both deadlines and the paused business time they include.
    sla_policy = models.ForeignKey(
        "sla.SlaPolicy", verbose_name=_("SLA policy"), on_delete=models.SET_NULL,
        null=True, blank=True, related_name="+",
    )
    reaction_due_at = models.DateTimeField(_("reaction due"), null=True, blank=True)
    resolution_due_at = models.DateTimeField(_("resolution due"), null=True, blank=True)
    paused_since = models.DateTimeField(_("clock paused since"), null=True, blank=True)
    paused_minutes = models.PositiveIntegerField(_("paused, business minutes"), default=0)
    # Facts for reports, set when reaction and resolution happen.
    reaction_minutes = models.PositiveIntegerField(
        _("reaction, business minutes"), null=True, blank=True
    )
    reaction_in_time = models.BooleanField(_("reaction in time"), null=True, blank=True)
    resolution_minutes = models.PositiveIntegerField(
        _("resolution, business minutes"), null=True, blank=True
    )
    resolution_in_time = models.BooleanField(_("resolution in time"), null=True, blank=True)
    # Processing by script (firstline.quality): the current classification and diagnostic
    # results (snapshots with the field names, so lists and the API need no extra query), when
    # each was first complete, the hand-over, and the first-line / first-contact facts set at
    # resolution. The history of every step, with who and when, is quality.TicketStep.
    classification = models.JSONField(_("classification"), default=list, blank=True)
    diagnostics = models.JSONField(_("diagnostic results"), default=list, blank=True)
    classified_at = models.DateTimeField(_("classified"), null=True, blank=True)
    diagnosed_at = models.DateTimeField(_("diagnosed"), null=True, blank=True)
    handed_over_at = models.DateTimeField(_("handed over to the partner"), null=True, blank=True)
    partner_group = models.CharField(_("group at the partner"), max_length=100, blank=True)
    routing_corrections = models.PositiveIntegerField(_("routing corrections"), default=0)
    first_line_resolved = models.BooleanField(
        _("resolved on the first line"), null=True, blank=True
    )
    first_contact_resolved = models.BooleanField(
        _("resolved within the first contact"), null=True, blank=True
    )
    # Cleaning up (firstline.tickets.merge): spam, and a duplicate merged into another ticket.
    # Neither counts as a request in billing. PROTECT on `merged_into`: the target holds the
    # source's conversation, so deleting it would orphan the duplicate's history; the source
    # keeps the link so its number still leads (and mail on its thread goes) to the target.
    # db_default too: rows inserted by raw SQL or COPY (benchmarks, bulk loads) that do not
    # name the column are not spam.
    is_spam = models.BooleanField(_("spam"), default=False, db_default=False)
    merged_into = models.ForeignKey(
        "self", verbose_name=_("merged into"), on_delete=models.PROTECT, null=True,
        blank=True, related_name="merged_from",
    )
    merged_at = models.DateTimeField(_("merged"), null=True, blank=True)

    class Meta:
        verbose_name = _("ticket")
        verbose_name_plural = _("tickets")
        ordering = ["-id"]
        indexes = [
            # The queue: active tickets, what is due first, over all partners or one. Partial,
            # so the first page is an index range scan however many tickets are closed.
            models.Index(
                fields=["due_at", "id"], name="ticket_active_due",
                condition=models.Q(status__in=ACTIVE_STATUSES),
            ),
            models.Index(
                fields=["partner", "due_at", "id"], name="ticket_partner_active_due",
                condition=models.Q(status__in=ACTIVE_STATUSES),
            ),
            # "Mine" and "nobody's" in the queue: one assignee's active tickets in due order,
            # a range scan instead of sorting all of them (grows with the backlog).
            models.Index(
                fields=["assignee", "due_at", "id"], name="ticket_assignee_active_due",
                condition=models.Q(status__in=ACTIVE_STATUSES),
            ),
            models.Index(fields=["status", "due_at", "id"], name="ticket_status_due"),
            models.Index(fields=["assignee", "status", "due_at"], name="ticket_assignee_queue"),
            models.Index(fields=["partner", "contact", "created_at"], name="ticket_contact"),
            models.Index(fields=["partner", "created_at"], name="ticket_partner_created"),
            # "Share resolved in time" per partner and period is one aggregate over this.
            models.Index(
                fields=["partner", "resolved_at", "resolution_in_time"],
                name="ticket_partner_resolved",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.subject}"

    @property
    def number(self) -> str:
        return format_number(self.pk) if self.pk else ""

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES


class Message(models.Model):
    class Kind(models.TextChoices):
        INBOUND = "inbound", _("Customer message")
        REPLY = "reply", _("Public reply")
        NOTE = "note", _("Internal note")

    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="+")
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="messages")
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("author"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    author_contact = models.ForeignKey(
        Contact, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    is_automatic = models.BooleanField(
        _("automatic"),
        default=False,
        help_text=_("Sent by the system (e.g. the acknowledgement), not written by a person."),
    )
    body_text = models.TextField(_("text"))
    body_html = models.TextField(_("HTML (sanitised)"), blank=True)
    created_at = models.DateTimeField(_("created"), default=now)

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["ticket", "created_at"], name="message_ticket_time")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"

    @property
    def is_public(self) -> bool:
        return self.kind != self.Kind.NOTE

    @property
    def author_name(self) -> str:
        # A customer's message is theirs even when an operator typed it in during a call.
        if self.author_contact_id is not None and self.author_contact is not None:
            return self.author_contact.name
        if self.author_id is not None and self.author is not None:
            return self.author.display_name
        return str(_("System"))


def attachment_path(instance: "Attachment", filename: str) -> str:
    # Partner first keeps one tenant's files together (backups, export, deletion).
    return f"attachments/{instance.partner_id}/{now():%Y/%m}/{filename}"


class Attachment(models.Model):
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="+")
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(_("file"), upload_to=attachment_path, max_length=300)
    filename = models.CharField(_("file name"), max_length=255)
    content_type = models.CharField(max_length=200, default="application/octet-stream")
    size = models.PositiveBigIntegerField(_("size, bytes"))

    class Meta:
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")

    def __str__(self) -> str:
        return self.filename
