"""Mail channel data: the support mailboxes, every inbound letter as received, the
Message-IDs that thread replies to tickets, and the acknowledgement templates.

Inbound mail is stored raw before it is parsed (DESIGN "Nothing is lost"): a letter the
parser cannot read stays here as `failed` for an operator, with its bytes.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from firstline.core.clock import now
from firstline.core.models import Partner
from firstline.core.secret_field import EncryptedTextField
from firstline.tickets.models import Message, Ticket


def validate_authserv_ids(value: str) -> None:
    from firstline.mail.authresults import invalid_ids

    bad = invalid_ids(value)
    if bad:
        raise ValidationError(
            _("“%(value)s” is not a mail server's authserv-id: write the name the server puts "
              "first in its Authentication-Results header (e.g. mx.example.com), several "
              "separated by spaces."),
            code="invalid", params={"value": bad[0]},
        )


class Mailbox(models.Model):
    """A partner's support address that mail arrives to, and how the poller reads it."""

    class Security(models.TextChoices):
        SSL = "ssl", _("SSL/TLS")
        STARTTLS = "starttls", _("STARTTLS")
        NONE = "none", _("None (trusted network only)")

    class UnknownSenderPolicy(models.TextChoices):
        ADD_PARTICIPANT = "add_participant", _("Add the sender to the ticket")
        FLAG = "flag", _("Flag for the operator (internal note)")

    partner = models.ForeignKey(
        Partner, verbose_name=_("partner"), on_delete=models.CASCADE, related_name="mailboxes"
    )
    address = models.EmailField(
        _("address"), unique=True,
        help_text=_("The support address customers write to; replies come back to it."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    imap_host = models.CharField(_("IMAP host"), max_length=255, blank=True)
    imap_port = models.PositiveIntegerField(_("IMAP port"), default=993)
    imap_security = models.CharField(
        _("IMAP security"), max_length=10, choices=Security.choices, default=Security.SSL
    )
    imap_username = models.CharField(_("IMAP user name"), max_length=255, blank=True)
    # Encrypted at rest (firstline.core.encryption); whoever logs in calls secret_field.reveal.
    imap_password = EncryptedTextField(_("IMAP password"), blank=True)
    imap_folder = models.CharField(_("IMAP folder"), max_length=255, default="INBOX")
    imap_processed_folder = models.CharField(
        _("folder for processed mail"), max_length=255, blank=True,
        help_text=_("Empty: processed mail stays in place, flagged as seen."),
    )
    # Who may write on a ticket's thread as the customer: see threading.may_join.
    unknown_sender_policy = models.CharField(
        _("unknown sender on a ticket"), max_length=20,
        choices=UnknownSenderPolicy.choices, default=UnknownSenderPolicy.FLAG,
        help_text=_(
            "What happens when somebody who is neither the ticket's customer nor its "
            "participant answers a letter of the ticket (e.g. one forwarded to them). A "
            "letter that only names the ticket's number never adds its sender: it becomes an "
            "internal note."
        ),
    )
    colleagues_may_join = models.BooleanField(
        _("colleagues of the customer join the ticket"), default=False,
        help_text=_(
            "A letter on a ticket's thread from a confirmed address of another contact of "
            "the customer's organisation joins the ticket, and its sender gets the public "
            "replies. Off: such a letter becomes an internal note."
        ),
    )
    # Whose SPF/DKIM/DMARC verdict to believe: firstline.mail.authresults.
    trusted_authserv_ids = models.CharField(
        _("trusted mail servers (authserv-id)"), max_length=300, blank=True, default="",
        db_default="",
        validators=[validate_authserv_ids],
        help_text=_(
            "The name your receiving mail server writes first in the Authentication-Results "
            "header (e.g. mx.example.com); several separated by spaces. Its SPF, DKIM and "
            "DMARC verdict is then read: a letter whose sender failed the check joins a "
            "ticket only if it answers the ticket's mail, otherwise it becomes an internal "
            "note and gets no automatic reply. Empty: these headers are not read (a sender "
            "can write them too). The server must remove such headers bearing its name from "
            "incoming mail, as RFC 8601 asks."
        ),
    )
    created_at = models.DateTimeField(_("created"), default=now)

    class Meta:
        verbose_name = _("mailbox")
        verbose_name_plural = _("mailboxes")
        ordering = ["address"]
        indexes = [models.Index(fields=["partner", "address"], name="mailbox_partner")]

    def __str__(self) -> str:
        return self.address

    def save(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        self.address = self.address.strip().lower()
        super().save(*args, **kwargs)


def raw_mail_path(instance: "InboundMail", filename: str) -> str:
    return f"mail/{instance.partner_id}/{now():%Y/%m}/{filename}"


class InboundMail(models.Model):
    """One letter as it arrived: the raw bytes first, what became of it after."""

    class Status(models.TextChoices):
        STORED = "stored", pgettext_lazy("inbound mail", "Stored, not processed yet")
        PROCESSED = "processed", pgettext_lazy("inbound mail", "Processed")
        IGNORED = "ignored", pgettext_lazy("inbound mail", "Ignored")
        FAILED = "failed", pgettext_lazy("inbound mail", "Failed")

    class Ignored(models.TextChoices):
        LOOP = "loop", pgettext_lazy("ignored because", "Our own mail (loop)")
        BOUNCE = "bounce", pgettext_lazy("ignored because", "Bounce of unknown mail")

    class SenderCheck(models.TextChoices):
        """What the mailbox's trusted mail server said of the From domain (authresults)."""

        NOT_CHECKED = "", pgettext_lazy("sender check", "Not checked")
        VERIFIED = "verified", pgettext_lazy("sender check", "Sender verified")
        UNVERIFIED = "unverified", pgettext_lazy("sender check", "Sender not verified")
        UNDECIDED = "undecided", pgettext_lazy("sender check", "Nothing decided")

    partner = models.ForeignKey(
        Partner, verbose_name=_("partner"), on_delete=models.PROTECT, related_name="+"
    )
    mailbox = models.ForeignKey(
        Mailbox, verbose_name=_("mailbox"), on_delete=models.PROTECT, related_name="inbound"
    )
    raw = models.BinaryField(_("raw message"), null=True, blank=True)
    raw_file = models.FileField(
        _("raw message file"), upload_to=raw_mail_path, max_length=300, blank=True,
        help_text=_("Large letters are kept as a file instead of in the database."),
    )
    size = models.PositiveBigIntegerField(_("size, bytes"), default=0)
    message_id = models.CharField(_("Message-ID"), max_length=500, blank=True)
    digest = models.CharField(
        _("SHA-256 of the raw message"), max_length=64,
        help_text=_("Recognises a letter without a Message-ID delivered twice."),
    )
    sender = models.CharField(_("from"), max_length=500, blank=True)
    subject = models.CharField(_("subject"), max_length=500, blank=True)
    received_at = models.DateTimeField(_("received"), default=now)
    processed_at = models.DateTimeField(_("processed"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.STORED
    )
    ignored_because = models.CharField(
        _("ignored because"), max_length=20, choices=Ignored.choices, blank=True, default=""
    )
    is_automatic = models.BooleanField(
        _("automatic mail"), default=False,
        help_text=_("Auto-reply, bulk, bounce or mailer daemon: never answered automatically."),
    )
    is_bounce = models.BooleanField(_("bounce"), default=False)
    sender_check = models.CharField(
        _("sender check"), max_length=12, choices=SenderCheck.choices, blank=True, default="",
        # db_default: rows the code before this column writes (a rolling deploy) get it too.
        db_default="",
        help_text=_("The SPF/DKIM/DMARC verdict of the mailbox's trusted mail server."),
    )
    sender_check_reason = models.CharField(
        _("sender check result"), max_length=100, blank=True, default="", db_default="",
        help_text=_("E.g. DMARC: fail."),
    )
    problems = models.TextField(_("problems"), blank=True)
    error = models.TextField(_("error"), blank=True)
    ticket = models.ForeignKey(
        Ticket, verbose_name=_("ticket"), on_delete=models.SET_NULL, null=True, blank=True,
        related_name="inbound_mail",
    )
    # Not "message": message_id is the Message-ID header. message.inbound_letters: the
    # letter a message came from, for its sender check on the ticket page.
    ticket_message = models.ForeignKey(
        Message, verbose_name=_("message"), on_delete=models.SET_NULL, null=True, blank=True,
        related_name="inbound_letters",
    )

    class Meta:
        verbose_name = _("inbound mail")
        verbose_name_plural = _("inbound mail")
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(fields=["partner", "status", "received_at"], name="inbound_status"),
            # The mail workers' queue: the letters still to process, oldest first, without
            # reading past every processed one (ingest.letters_waiting, ingest._claim).
            models.Index(fields=["id"], condition=models.Q(status="stored"),
                         name="inbound_stored_queue"),
        ]
        constraints = [
            # The same letter twice (a poller restarted, LMTP and IMAP both on) is one row:
            # by its Message-ID, or by its bytes when it has none.
            models.UniqueConstraint(
                fields=["mailbox", "message_id"], condition=~models.Q(message_id=""),
                name="inbound_unique_msgid",
            ),
            models.UniqueConstraint(
                fields=["mailbox", "digest"], condition=models.Q(message_id=""),
                name="inbound_unique_digest",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=["stored", "processed", "ignored", "failed"]),
                name="inbound_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.message_id or self.pk} ({self.get_status_display()})"

    def raw_bytes(self) -> bytes:
        if self.raw is not None:
            return bytes(self.raw)
        if self.raw_file:
            with self.raw_file.open("rb") as handle:
                return handle.read()
        return b""


class MailReference(models.Model):
    """A Message-ID known to belong to a ticket: ours (sent) or the customer's (received).

    A reply's In-Reply-To / References are looked up here to find its ticket.
    """

    class Direction(models.TextChoices):
        OUT = "out", _("Sent by us")
        IN = "in", _("Received")

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="+")
    ticket = models.ForeignKey(
        Ticket, on_delete=models.CASCADE, related_name="mail_references"
    )
    message_id = models.CharField(_("Message-ID"), max_length=500)
    direction = models.CharField(_("direction"), max_length=3, choices=Direction.choices)
    ticket_message = models.ForeignKey(
        Message, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    outbox = models.ForeignKey(
        "outbox.OutboxMessage", on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+",
    )
    recipient = models.CharField(_("recipient"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("created"), default=now)

    class Meta:
        verbose_name = _("mail reference")
        verbose_name_plural = _("mail references")
        indexes = [
            models.Index(fields=["message_id"], name="mailref_msgid"),
            models.Index(fields=["partner", "message_id"], name="mailref_partner_msgid"),
            models.Index(fields=["ticket", "created_at"], name="mailref_ticket"),
        ]

    def __str__(self) -> str:
        return self.message_id


class MailParticipant(models.Model):
    """Somebody besides the ticket's contact who writes on its thread; replies go to them too."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="+")
    ticket = models.ForeignKey(
        Ticket, verbose_name=_("ticket"), on_delete=models.CASCADE,
        related_name="mail_participants",
    )
    contact = models.ForeignKey(
        "contacts.Contact", verbose_name=_("contact"), on_delete=models.CASCADE,
        related_name="+",
    )
    address = models.EmailField(_("e-mail"))
    added_at = models.DateTimeField(_("added"), default=now)

    class Meta:
        verbose_name = _("participant")
        verbose_name_plural = _("participants")
        constraints = [
            models.UniqueConstraint(fields=["ticket", "address"], name="participant_unique"),
        ]

    def __str__(self) -> str:
        return self.address


class AutoReplyLog(models.Model):
    """Each automatic reply sent, for the per-address rate limit."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="+")
    address = models.CharField(max_length=500)
    sent_at = models.DateTimeField(default=now)

    class Meta:
        verbose_name = _("automatic reply")
        verbose_name_plural = _("automatic replies")
        indexes = [models.Index(fields=["address", "sent_at"], name="autoreply_address_time")]

    def __str__(self) -> str:
        return f"{self.address} {self.sent_at:%Y-%m-%d %H:%M}"


class AckTemplate(models.Model):
    """A partner's acknowledgement (отбойник) in one language.

    Placeholders: {name}, {request}, {number}, {deadline}, {partner}, {signature}. The
    body must contain {name}, {request} and {deadline} (F3).
    """

    class Language(models.TextChoices):
        RU = "ru", _("Russian")
        EN = "en", _("English")

    partner = models.ForeignKey(
        Partner, verbose_name=_("partner"), on_delete=models.CASCADE,
        related_name="ack_templates",
    )
    language = models.CharField(
        _("language"), max_length=5, choices=Language.choices, default=Language.RU
    )
    subject = models.CharField(_("subject template"), max_length=300)
    body = models.TextField(_("body template"))
    signature = models.TextField(
        _("signature"), blank=True, help_text=_("Inserted where {signature} stands."),
    )
    updated_at = models.DateTimeField(_("updated"), default=now)

    class Meta:
        verbose_name = _("acknowledgement template")
        verbose_name_plural = _("acknowledgement templates")
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "language"], name="acktemplate_unique_language"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.partner} ({self.language})"

    def save(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        # Refused on every save, not only in forms: a template without the customer's
        # name, words or deadline would break F3 for every letter.
        self.full_clean()
        super().save(*args, **kwargs)

    def clean(self) -> None:
        from firstline.mail.autoreply import validate_template

        validate_template(self)


# Settings read when used (never at import time).
def autoreply_limit() -> tuple[int, int]:
    """(max automatic replies, per minutes) to one address."""
    count = int(getattr(settings, "FIRSTLINE_MAIL_AUTOREPLY_MAX", 3))
    minutes = int(getattr(settings, "FIRSTLINE_MAIL_AUTOREPLY_WINDOW_MINUTES", 60))
    return count, minutes


def raw_in_db_limit() -> int:
    """Letters up to this size are stored in the database, larger ones as files."""
    return int(getattr(settings, "FIRSTLINE_MAIL_RAW_DB_MAX_BYTES", 1024 * 1024))
