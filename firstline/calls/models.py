"""The phone channel: partners' support numbers, raw PBX events, and one row per call.

A raw event is stored before it is applied (as raw mail is), so a bad or early event is
kept with its reason instead of being lost; `services.record_event` is the one way an event
changes a call.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from firstline.core.clock import now
from firstline.core.models import Partner


class PartnerPhoneNumber(models.Model):
    """A number a partner's customers dial for support; calls to it belong to the partner."""

    partner = models.ForeignKey(
        Partner, verbose_name=_("partner"), on_delete=models.CASCADE, related_name="phone_numbers"
    )
    number = models.CharField(
        _("number (E.164)"), max_length=20, unique=True,
        help_text=_("As the PBX reports it, normalised to E.164, e.g. +74951204567."),
    )
    queue_name = models.CharField(
        _("Asterisk queue"), max_length=80, blank=True,
        help_text=_("The queue_log queue the calls to this number wait in."),
    )

    class Meta:
        verbose_name = _("partner support number")
        verbose_name_plural = _("partner support numbers")
        ordering = ["partner_id", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["queue_name"], condition=~models.Q(queue_name=""),
                name="calls_number_unique_queue",
            ),
        ]

    def __str__(self) -> str:
        return self.number


class OperatorLine(models.Model):
    """The PBX extension or agent name an operator answers on (Zadarma internal, Asterisk agent)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("operator"), on_delete=models.CASCADE,
        related_name="phone_lines",
    )
    extension = models.CharField(_("extension or agent"), max_length=80, unique=True)

    class Meta:
        verbose_name = _("operator line")
        verbose_name_plural = _("operator lines")

    def __str__(self) -> str:
        return self.extension


class Source(models.TextChoices):
    WEBHOOK = "webhook", _("JSON webhook")
    ZADARMA = "zadarma", "Zadarma"
    QUEUE_LOG = "queue_log", _("Asterisk queue_log")
    DEMO = "demo", _("Demo data")


class RawCallEvent(models.Model):
    """One event as it arrived, kept whatever happens next."""

    class State(models.TextChoices):
        PROCESSED = "processed", _("Processed")
        FAILED = "failed", _("Refused")
        # An event for a call not seen yet (e.g. an answer before the start): applied when
        # the call appears.
        WAITING = "waiting", _("Waiting for its call")

    source = models.CharField(_("source"), max_length=20, choices=Source.choices)
    # The same event delivered twice has the same key and is stored once.
    dedupe_key = models.CharField(max_length=64)
    external_id = models.CharField(_("call id"), max_length=120, blank=True)
    partner = models.ForeignKey(
        Partner, verbose_name=_("partner"), on_delete=models.CASCADE, null=True, blank=True,
        related_name="+",
    )
    payload = models.JSONField(_("payload"))
    # The event as the source's parser read it, so a waiting event is applied later
    # without parsing again.
    event = models.JSONField(null=True, blank=True)
    received_at = models.DateTimeField(_("received"), default=now)
    state = models.CharField(_("state"), max_length=20, choices=State.choices)
    reason = models.TextField(_("reason"), blank=True)
    call = models.ForeignKey(
        "Call", on_delete=models.SET_NULL, null=True, blank=True, related_name="raw_events"
    )

    class Meta:
        verbose_name = _("raw call event")
        verbose_name_plural = _("raw call events")
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["source", "dedupe_key"], name="calls_raw_unique"),
        ]
        indexes = [
            # Only the events kept aside are looked for by state (a call's waiting events
            # when it starts; the refused ones for the staff): processed ones, nearly all
            # of them, are left out of both indexes, two writes fewer for each.
            models.Index(fields=["source", "external_id"],
                         condition=models.Q(state="waiting"), name="calls_raw_waiting"),
            models.Index(fields=["state", "received_at"],
                         condition=~models.Q(state="processed"), name="calls_raw_state"),
        ]

    def __str__(self) -> str:
        return f"{self.source}:{self.external_id or self.pk}"


class CallEventInbox(models.Model):
    """An event as a way in received it, not applied yet: the webhook's answer is one INSERT.

    `calls_work` takes these in batches, in the order received, applies them through
    `services.record_many` (which stores each as a `RawCallEvent`) and deletes them in the
    same transaction: nothing is lost and nothing is applied twice. A key already here (or
    already applied) is a replay and is not stored again."""

    source = models.CharField(_("source"), max_length=20, choices=Source.choices)
    dedupe_key = models.CharField(max_length=64)
    # The PBX's call id, read at receipt: events of one call are applied one batch after
    # another, never in two batches at once (their order is what the merge needs).
    external_id = models.CharField(_("call id"), max_length=120, blank=True)
    # The only partner the event may touch (the sender's token acts for one).
    partner = models.ForeignKey(
        Partner, verbose_name=_("partner"), on_delete=models.CASCADE, null=True, blank=True,
        related_name="+",
    )
    payload = models.JSONField(_("payload"))
    received_at = models.DateTimeField(_("received"), default=now)

    class Meta:
        verbose_name = _("call event not applied yet")
        verbose_name_plural = _("call events not applied yet")
        constraints = [
            models.UniqueConstraint(fields=["source", "dedupe_key"], name="calls_inbox_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.source}:{self.external_id or self.pk}"


class Direction(models.TextChoices):
    INBOUND = "inbound", pgettext_lazy("call direction", "Inbound")
    OUTBOUND = "outbound", pgettext_lazy("call direction", "Outbound")


class Outcome(models.TextChoices):
    # Still going: ringing or waiting in the queue, then talking.
    RINGING = "ringing", pgettext_lazy("call outcome", "Ringing")
    TALKING = "talking", pgettext_lazy("call outcome", "Talking")
    ANSWERED = "answered", pgettext_lazy("call outcome", "Answered")
    ABANDONED = "abandoned", pgettext_lazy("call outcome", "Abandoned in the queue")
    MISSED = "missed", pgettext_lazy("call outcome", "Missed")
    VOICEMAIL = "voicemail", pgettext_lazy("call outcome", "Voicemail")
    CALLBACK = "callback", pgettext_lazy("call outcome", "Call-back requested")


LIVE_OUTCOMES = (Outcome.RINGING, Outcome.TALKING)
UNANSWERED_OUTCOMES = (Outcome.ABANDONED, Outcome.MISSED, Outcome.VOICEMAIL, Outcome.CALLBACK)


class Call(models.Model):
    """One call on a partner's line, built from its events in any order."""

    # No index of its own on the four keys below: a composite or partial one in Meta leads
    # with each, and every index is one more write for each of the calls an import adds.
    partner = models.ForeignKey(
        Partner, verbose_name=_("partner"), on_delete=models.PROTECT, related_name="calls",
        db_index=False,
    )
    source = models.CharField(_("source"), max_length=20, choices=Source.choices)
    external_id = models.CharField(_("call id"), max_length=120)
    direction = models.CharField(
        _("direction"), max_length=10, choices=Direction.choices, default=Direction.INBOUND
    )
    caller = models.CharField(_("customer number (E.164)"), max_length=20, blank=True)
    dialled = models.CharField(_("support number (E.164)"), max_length=20, blank=True)
    # The first moment any event of the call showed; the period the call counts in.
    started_at = models.DateTimeField(_("started"))
    entered_at = models.DateTimeField(_("entered the queue"), null=True, blank=True)
    answered_at = models.DateTimeField(_("answered"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)
    wait_seconds = models.PositiveIntegerField(_("wait, seconds"), null=True, blank=True)
    talk_seconds = models.PositiveIntegerField(_("talk, seconds"), default=0)
    # What the PBX said at the end (its talk time, voicemail...), kept so that events in
    # any order derive the same figures.
    reported_talk_seconds = models.PositiveIntegerField(null=True, blank=True)
    reported_outcome = models.CharField(max_length=20, blank=True)
    outcome = models.CharField(
        _("outcome"), max_length=20, choices=Outcome.choices, default=Outcome.RINGING
    )
    operator = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("operator"), on_delete=models.SET_NULL,
        null=True, blank=True, related_name="calls", db_index=False,
    )
    recording_url = models.URLField(_("recording"), max_length=500, blank=True)
    ticket = models.ForeignKey(
        "tickets.Ticket", verbose_name=_("ticket"), on_delete=models.SET_NULL, null=True,
        blank=True, related_name="calls", db_index=False,
    )
    # The call-back task a missed call from a known customer became.
    callback_ticket = models.ForeignKey(
        "tickets.Ticket", verbose_name=_("call-back task"), on_delete=models.SET_NULL,
        null=True, blank=True, related_name="+", db_index=False,
    )
    updated_at = models.DateTimeField(_("updated"), default=now)

    class Meta:
        verbose_name = _("call")
        verbose_name_plural = _("calls")
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "external_id", "partner"], name="calls_call_unique_external"
            ),
        ]
        indexes = [
            models.Index(fields=["partner", "started_at"], name="calls_partner_started"),
            models.Index(fields=["operator", "outcome"], name="calls_operator_live"),
            # Few calls are on a ticket: only those are indexed (a lookup by ticket, and the
            # SET NULL when one is deleted, name a ticket, which implies NOT NULL).
            models.Index(fields=["ticket"], condition=models.Q(ticket__isnull=False),
                         name="calls_on_ticket"),
            models.Index(fields=["callback_ticket"],
                         condition=models.Q(callback_ticket__isnull=False),
                         name="calls_callback_ticket"),
            # Talk minutes (queries.talk_minutes_for, read by billing): only the billable
            # calls, their talk time in the key (not INCLUDE, which SQLite lacks), so the
            # month's sum reads the index alone.
            models.Index(
                fields=["partner", "started_at", "talk_seconds"],
                condition=models.Q(outcome="answered", talk_seconds__gt=0),
                name="calls_billable_talk",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.caller or '?'} → {self.dialled or self.partner_id}"

    @property
    def is_live(self) -> bool:
        return self.outcome in LIVE_OUTCOMES


class QueueLogPosition(models.Model):
    """How far `calls_import queue_log --follow` has read a file, kept across restarts."""

    path = models.CharField(max_length=500, unique=True)
    inode = models.BigIntegerField()
    offset = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(default=now)

    class Meta:
        verbose_name = _("queue_log position")
        verbose_name_plural = _("queue_log positions")

    def __str__(self) -> str:
        return f"{self.path}@{self.offset}"
