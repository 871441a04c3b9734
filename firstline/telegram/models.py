"""A partner's own Telegram bot, the updates it received (stored first) and its chats.

The bot's token and the webhook's secret are encrypted at rest like mailbox passwords
(firstline.core.secret_field). Every update is kept as it arrived before anything is done
with it (DESIGN "Nothing is lost"): the same update_id twice is one row, and an update that
cannot be processed stays with its reason for an operator.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from firstline.contacts.models import Contact
from firstline.core.clock import now
from firstline.core.models import Partner
from firstline.core.secret_field import EncryptedTextField
from firstline.tickets.models import Message, Ticket


class Bot(models.Model):
    class Mode(models.TextChoices):
        WEBHOOK = "webhook", _("Webhook (Telegram calls us)")
        POLLING = "polling", _("Long polling (we ask Telegram)")

    partner = models.OneToOneField(
        Partner, verbose_name=_("partner"), on_delete=models.CASCADE,
        related_name="telegram_bot",
    )
    # The number before the colon of the token: Telegram's id of the bot, public, used in
    # the webhook's address.
    bot_id = models.BigIntegerField(_("bot id"), unique=True)
    username = models.CharField(_("bot user name"), max_length=100, blank=True)
    token = EncryptedTextField(_("token"))
    secret_token = EncryptedTextField(
        _("webhook secret"),
        help_text=_("Telegram sends it in X-Telegram-Bot-Api-Secret-Token with every update."),
    )
    mode = models.CharField(_("mode"), max_length=10, choices=Mode.choices,
                            default=Mode.WEBHOOK)
    is_active = models.BooleanField(_("active"), default=True)
    # Long polling: the next getUpdates asks for updates after this one.
    last_update_id = models.BigIntegerField(_("last update id"), default=0)
    webhook_url = models.CharField(_("webhook address"), max_length=500, blank=True)
    webhook_set_at = models.DateTimeField(_("webhook set"), null=True, blank=True)
    last_update_at = models.DateTimeField(_("last update received"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    last_error_at = models.DateTimeField(_("last error at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), default=now)

    class Meta:
        verbose_name = _("Telegram bot")
        verbose_name_plural = _("Telegram bots")
        constraints = [
            models.CheckConstraint(condition=models.Q(mode__in=["webhook", "polling"]),
                                   name="telegram_bot_mode_valid"),
        ]

    def __str__(self) -> str:
        return f"@{self.username}" if self.username else str(self.bot_id)


class Update(models.Model):
    """One update as Telegram sent it: the raw JSON first, what became of it after."""

    class Status(models.TextChoices):
        STORED = "stored", pgettext_lazy("telegram update", "Stored, not processed yet")
        PROCESSED = "processed", pgettext_lazy("telegram update", "Processed")
        IGNORED = "ignored", pgettext_lazy("telegram update", "Ignored")
        FAILED = "failed", pgettext_lazy("telegram update", "Failed")

    class Source(models.TextChoices):
        WEBHOOK = "webhook", pgettext_lazy("telegram update source", "Webhook")
        POLLING = "polling", pgettext_lazy("telegram update source", "Long polling")

    partner = models.ForeignKey(Partner, verbose_name=_("partner"), on_delete=models.PROTECT,
                                related_name="+")
    bot = models.ForeignKey(Bot, verbose_name=_("bot"), on_delete=models.CASCADE,
                            related_name="updates")
    # Null when the body was not an update at all (kept with the reason all the same).
    update_id = models.BigIntegerField(_("update id"), null=True, blank=True)
    raw = models.TextField(_("raw update"))
    source = models.CharField(_("source"), max_length=10, choices=Source.choices)
    received_at = models.DateTimeField(_("received"), default=now)
    processed_at = models.DateTimeField(_("processed"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=20, choices=Status.choices,
                              default=Status.STORED)
    chat_id = models.BigIntegerField(_("chat"), null=True, blank=True)
    problems = models.TextField(_("problems"), blank=True)
    error = models.TextField(_("error"), blank=True)
    ticket = models.ForeignKey(Ticket, verbose_name=_("ticket"), on_delete=models.SET_NULL,
                               null=True, blank=True, related_name="+")
    ticket_message = models.ForeignKey(Message, verbose_name=_("message"),
                                       on_delete=models.SET_NULL, null=True, blank=True,
                                       related_name="+")

    class Meta:
        verbose_name = _("Telegram update")
        verbose_name_plural = _("Telegram updates")
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(fields=["partner", "status", "received_at"],
                         name="telegram_update_status"),
        ]
        constraints = [
            # Telegram delivers an update again until it is acknowledged: one row each.
            models.UniqueConstraint(fields=["bot", "update_id"],
                                    condition=models.Q(update_id__isnull=False),
                                    name="telegram_update_once"),
            models.CheckConstraint(
                condition=models.Q(status__in=["stored", "processed", "ignored", "failed"]),
                name="telegram_update_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.bot} #{self.update_id}"


class Chat(models.Model):
    """A customer's private chat with the partner's bot: who it is, and its ticket."""

    partner = models.ForeignKey(Partner, verbose_name=_("partner"), on_delete=models.CASCADE,
                                related_name="+")
    bot = models.ForeignKey(Bot, verbose_name=_("bot"), on_delete=models.CASCADE,
                            related_name="chats")
    chat_id = models.BigIntegerField(_("chat"))
    user_id = models.BigIntegerField(_("Telegram user"), null=True, blank=True)
    name = models.CharField(_("name"), max_length=200, blank=True)
    username = models.CharField(_("Telegram user name"), max_length=100, blank=True)
    phone = models.CharField(_("phone shared"), max_length=40, blank=True)
    contact = models.ForeignKey(Contact, verbose_name=_("contact"), on_delete=models.SET_NULL,
                                null=True, blank=True, related_name="+")
    # Threading: later messages of the chat join this ticket while it is not closed.
    ticket = models.ForeignKey(Ticket, verbose_name=_("ticket"), on_delete=models.SET_NULL,
                               null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(_("created"), default=now)

    class Meta:
        verbose_name = _("Telegram chat")
        verbose_name_plural = _("Telegram chats")
        constraints = [
            models.UniqueConstraint(fields=["bot", "chat_id"], name="telegram_chat_once"),
        ]
        indexes = [models.Index(fields=["ticket"], name="telegram_chat_ticket")]

    def __str__(self) -> str:
        return f"{self.name or self.chat_id}"


class IncomingFile(models.Model):
    """A file of a customer's message (photo, document…), fetched after the message is kept.

    The update is processed without waiting for Telegram: the message shows at once, each
    of its files as a row here (pending), and a background task fetches it through the Bot
    API (getFile, then the file's URL) into an attachment of that message. A network error
    is retried later; a file Telegram does not serve (over 20 MB, gone) or that stays
    unreachable ends failed, with the reason, for the operator.
    """

    class Status(models.TextChoices):
        PENDING = "pending", pgettext_lazy("telegram file", "Being fetched")
        FETCHED = "fetched", pgettext_lazy("telegram file", "Fetched")
        FAILED = "failed", pgettext_lazy("telegram file", "Not fetched")

    class Reason(models.TextChoices):
        NONE = "", "—"
        TOO_BIG = "too_big", pgettext_lazy("telegram file", "Over Telegram's 20 MB for bots")
        OVER_LIMIT = "over_limit", pgettext_lazy("telegram file", "Over the attachment limit")
        GONE = "gone", pgettext_lazy("telegram file", "Telegram no longer has it")
        UNREACHABLE = "unreachable", pgettext_lazy("telegram file", "Telegram did not answer")

    partner = models.ForeignKey(Partner, verbose_name=_("partner"), on_delete=models.PROTECT,
                                related_name="+")
    bot = models.ForeignKey(Bot, verbose_name=_("bot"), on_delete=models.CASCADE,
                            related_name="files")
    chat = models.ForeignKey(Chat, verbose_name=_("chat"), on_delete=models.SET_NULL,
                             null=True, blank=True, related_name="+")
    update = models.ForeignKey(Update, verbose_name=_("update"), on_delete=models.SET_NULL,
                               null=True, blank=True, related_name="files")
    message = models.ForeignKey(Message, verbose_name=_("message"), on_delete=models.CASCADE,
                                related_name="telegram_files")
    file_id = models.CharField(_("Telegram file id"), max_length=255)
    filename = models.CharField(_("file name"), max_length=255)
    content_type = models.CharField(_("type"), max_length=200,
                                    default="application/octet-stream")
    # As the update declared it (Telegram may leave it out).
    size = models.PositiveBigIntegerField(_("size, bytes"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices,
                              default=Status.PENDING)
    reason = models.CharField(_("reason"), max_length=20, choices=Reason.choices, blank=True)
    error = models.TextField(_("last error"), blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    # When the poller's sweep may hand a pending file to a task again (a retry, or a task
    # that never ran); `leased_until`: a worker is fetching it until then.
    next_attempt_at = models.DateTimeField(_("next attempt"), default=now)
    leased_until = models.DateTimeField(_("fetching until"), null=True, blank=True)
    attachment = models.ForeignKey("tickets.Attachment", verbose_name=_("attachment"),
                                   on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")
    created_at = models.DateTimeField(_("received"), default=now)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("Telegram file")
        verbose_name_plural = _("Telegram files")
        ordering = ["id"]
        indexes = [
            # The sweep: pending files that fall due (few at any time).
            models.Index(fields=["next_attempt_at"], name="telegram_file_due",
                         condition=models.Q(status="pending")),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=["pending", "fetched", "failed"]),
                name="telegram_file_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.filename

    @property
    def can_retry(self) -> bool:
        """A failed file Telegram may still serve (not one over a size limit)."""
        return self.status == self.Status.FAILED and self.reason in (
            self.Reason.GONE, self.Reason.UNREACHABLE)
