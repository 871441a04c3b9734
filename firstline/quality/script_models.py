"""Processing by script (F5, F7–F12): what a partner's script asks, and what was done.

Per partner (edited by supervisors through firstline.quality.services):

- `ScriptSettings`: which identification methods the script requires (F5);
- `ClassificationField`: up to 4 classification fields (F8) — a list of values, a tree of
  values («Услуга → Подуслуга») or free text;
- `DiagnosticParameter`: up to 2 diagnostic parameters (F9) with the request to send the
  customer;
- `UrgencyQuestion`: a question for the operator and the priority a «yes» sets (F10; they
  complement the urgency rules of `sla.UrgencyRule`, applied at intake);
- `RoutingRule`: which partner engineer or group a ticket is handed over to (F12);
- `CannedReply`: reply templates, checked by the reply rules (F18);
- `Macro`: classification values, a reply template and what sending does, applied in one
  action (usually through its typical request).

Per ticket: `TicketStep`, one row for each step of the checklist, with who and when. The
current state (classification, diagnostics, step times) is kept on the ticket itself so
that lists and reports read it without a query per ticket.

Imported by firstline/quality/models.py so Django registers them with the `quality` app.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from firstline.core.clock import now
from firstline.core.models import Partner, Service
from firstline.quality.phrase_models import ReplyLanguage
from firstline.tickets.models import Priority

MAX_CLASSIFICATION_FIELDS = 4
MAX_DIAGNOSTIC_PARAMETERS = 2
MAX_VALUES = 200
VALUE_MAX_LENGTH = 200
GROUP_MAX_LENGTH = 100


class IdentificationRule(models.TextChoices):
    NOT_ASKED = "not_asked", _("Not asked")
    REQUIRED = "required", _("Required")
    ONE_OF = "one_of", _("One of those marked so")


class ScriptSettings(models.Model):
    """The identification part of a partner's script (without a row: nothing is required).

    «Номер договора; кодовое слово или обращение с подтвержденного e-mail» is the contract
    number required and the code word and the confirmed e-mail each "one of".
    """

    partner = models.OneToOneField(
        Partner, verbose_name=_("partner"), on_delete=models.CASCADE,
        related_name="script_settings",
    )
    contract_number = models.CharField(
        _("contract number"), max_length=20, choices=IdentificationRule.choices,
        default=IdentificationRule.NOT_ASKED,
    )
    code_word = models.CharField(
        _("code word"), max_length=20, choices=IdentificationRule.choices,
        default=IdentificationRule.NOT_ASKED,
    )
    confirmed_email = models.CharField(
        _("request from a confirmed e-mail"), max_length=20, choices=IdentificationRule.choices,
        default=IdentificationRule.NOT_ASKED,
    )
    updated_at = models.DateTimeField(_("updated"), default=now)

    class Meta:
        verbose_name = _("identification script")
        verbose_name_plural = _("identification scripts")

    def __str__(self) -> str:
        return str(self.partner)


class ClassificationField(models.Model):
    class Kind(models.TextChoices):
        LIST = "list", _("List of values")
        TREE = "tree", _("Tree of values")
        TEXT = "text", _("Free text")

    partner = models.ForeignKey(
        Partner, on_delete=models.CASCADE, related_name="classification_fields"
    )
    position = models.PositiveIntegerField(_("position"), default=0)
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.LIST)
    values = models.JSONField(
        _("values"), default=list, blank=True,
        help_text=_("For a tree, each value is a path: «Service → Subservice»."),
    )
    required = models.BooleanField(
        _("required"), default=False,
        help_text=_("A ticket cannot be handed over to the partner without it."),
    )
    # Narrower choices on the ticket page: {value or tree node: [service ids]}. A ticket of a
    # service sees the values listed for it and the values listed for no service at all.
    value_services = models.JSONField(
        _("services of the values"), default=dict, blank=True,
        help_text=_("Which services each value (or tree node) belongs to; a value not listed "
                    "suits every service."),
    )

    class Meta:
        verbose_name = _("classification field")
        verbose_name_plural = _("classification fields")
        ordering = ["partner_id", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["partner", "name"], name="classification_field_unique"),
        ]

    def __str__(self) -> str:
        return self.name


class DiagnosticParameter(models.Model):
    partner = models.ForeignKey(
        Partner, on_delete=models.CASCADE, related_name="diagnostic_parameters"
    )
    position = models.PositiveIntegerField(_("position"), default=0)
    name = models.CharField(
        _("name"), max_length=200,
        help_text=_("For example «tracert from the connection point to the VM» or «VM ID»."),
    )
    request_text = models.TextField(
        _("request to the customer"), blank=True,
        help_text=_("What the operator asks the customer for; can be put into a reply."),
    )
    required = models.BooleanField(
        _("required for hand-over"), default=False,
        help_text=_("A ticket cannot be handed over to the partner without the result."),
    )

    class Meta:
        verbose_name = _("diagnostic parameter")
        verbose_name_plural = _("diagnostic parameters")
        ordering = ["partner_id", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["partner", "name"], name="diagnostic_parameter_unique"),
        ]

    def __str__(self) -> str:
        return self.name


class UrgencyQuestion(models.Model):
    """A question of the prioritisation script: «yes» gives the ticket this priority."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="urgency_questions")
    position = models.PositiveIntegerField(_("position"), default=0)
    text = models.CharField(
        _("question"), max_length=300,
        help_text=_("For example «Does it fail for every employee?»"),
    )
    priority = models.CharField(
        _("priority on «yes»"), max_length=20, choices=Priority.choices
    )

    class Meta:
        verbose_name = _("urgency question")
        verbose_name_plural = _("urgency questions")
        ordering = ["partner_id", "position", "id"]

    def __str__(self) -> str:
        return self.text


class RoutingRule(models.Model):
    """Where a ticket goes on hand-over; the first matching rule by position wins."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="routing_rules")
    position = models.PositiveIntegerField(_("position"), default=0)
    service = models.ForeignKey(
        Service, verbose_name=_("service"), on_delete=models.CASCADE, null=True, blank=True,
        related_name="+",
    )
    classification_field = models.ForeignKey(
        ClassificationField, verbose_name=_("classification field"), on_delete=models.CASCADE,
        null=True, blank=True, related_name="routing_rules",
    )
    value = models.CharField(
        _("classification value"), max_length=VALUE_MAX_LENGTH, blank=True,
        help_text=_("A value of the field; a tree node also matches everything under it."),
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("partner engineer"), on_delete=models.CASCADE,
        null=True, blank=True, related_name="+",
    )
    group = models.CharField(_("group"), max_length=GROUP_MAX_LENGTH, blank=True)

    class Meta:
        verbose_name = _("routing rule")
        verbose_name_plural = _("routing rules")
        ordering = ["partner_id", "position", "id"]

    def __str__(self) -> str:
        target = self.assignee.display_name if self.assignee else ""
        return " / ".join(part for part in (target, self.group) if part) or "—"


class CannedReply(models.Model):
    """A reply template of a partner (F18); saved only when the reply rules let it pass."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="canned_replies")
    name = models.CharField(_("name"), max_length=200)
    language = models.CharField(
        _("language"), max_length=2, choices=ReplyLanguage.choices, default=ReplyLanguage.RU
    )
    text = models.TextField(_("text"))
    updated_at = models.DateTimeField(_("updated"), default=now)

    class Meta:
        verbose_name = _("canned reply")
        verbose_name_plural = _("canned replies")
        ordering = ["partner_id", "name", "language"]
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "name", "language"], name="canned_reply_unique"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Macro(models.Model):
    """One action instead of five: classification values, a reply from a template and what
    sending the reply does (resolve, hand over). A typical request's macro is applied when
    the operator chooses the typical request; a macro without one is chosen by its name."""

    class Then(models.TextChoices):
        RESOLVE = "resolve", _("Send and resolve")
        HAND_OVER = "hand_over", _("Send and hand over")
        NOTHING = "nothing", _("Send only")

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="macros")
    name = models.CharField(_("name"), max_length=200)
    typical_request = models.OneToOneField(
        "sla.TypicalRequest", verbose_name=_("typical request"), on_delete=models.CASCADE,
        null=True, blank=True, related_name="macro",
    )
    classification = models.JSONField(
        _("classification values"), default=dict, blank=True,
        help_text=_("By classification field id: {\"12\": \"Инцидент\"}."),
    )
    reply_text = models.TextField(
        _("reply template"), blank=True,
        help_text=_("Placeholders: {name} the customer's name, {words} their request in their "
                    "own words, {deadline} the resolution deadline in the partner's time zone, "
                    "{number} the ticket number."),
    )
    then = models.CharField(
        _("on sending"), max_length=20, choices=Then.choices, default=Then.RESOLVE
    )
    updated_at = models.DateTimeField(_("updated"), default=now)

    class Meta:
        verbose_name = _("macro")
        verbose_name_plural = _("macros")
        ordering = ["partner_id", "name"]
        constraints = [
            models.UniqueConstraint(fields=["partner", "name"], name="macro_unique"),
        ]

    def __str__(self) -> str:
        return self.name


class StepKind(models.TextChoices):
    IDENTIFY = "identify", _("Identification")
    CLASSIFY = "classify", _("Classification")
    DIAGNOSE = "diagnose", _("Diagnostics")
    PRIORITISE = "prioritise", _("Prioritisation")
    TYPICAL = "typical", _("Typical request chosen")
    HAND_OVER = "hand_over", _("Handed over to the partner")
    HAND_BACK = "hand_back", _("Returned to the first line")


ROUTING_STEPS = (StepKind.HAND_OVER, StepKind.HAND_BACK)


class TicketStep(models.Model):
    """One step of the script done on a ticket: who, when, and what was recorded.

    Never holds a code word: an identification step records only which methods passed.
    """

    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="+")
    ticket = models.ForeignKey(
        "tickets.Ticket", on_delete=models.CASCADE, related_name="steps"
    )
    kind = models.CharField(_("step"), max_length=20, choices=StepKind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("who"), on_delete=models.SET_NULL,
        null=True, blank=True, related_name="+",
    )
    done_at = models.DateTimeField(_("when"), default=now)
    data = models.JSONField(_("data"), default=dict, blank=True)

    class Meta:
        verbose_name = _("script step")
        verbose_name_plural = _("script steps")
        ordering = ["done_at", "id"]
        indexes = [
            models.Index(fields=["ticket", "kind", "done_at"], name="ticket_step_ticket_kind"),
            # Reports: steps of one kind per partner and period.
            models.Index(fields=["partner", "kind", "done_at"], name="ticket_step_partner_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} @ {self.done_at:%Y-%m-%d %H:%M}"
