from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.db import models
from django.utils.translation import gettext_lazy as _

from firstline.core.clock import now
from firstline.core.models import MailLanguage, Partner


class Organisation(models.Model):
    """A partner's customer company; the contract and its code word identify its people."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="organisations")
    name = models.CharField(_("name"), max_length=300)
    contract_number = models.CharField(_("contract number"), max_length=60, blank=True)
    code_word_hash = models.CharField(_("code word (hashed)"), max_length=200, blank=True)
    is_vip = models.BooleanField(_("VIP customer"), default=False)
    sla_policy = models.ForeignKey(
        "sla.SlaPolicy", verbose_name=_("SLA policy of the contract"), on_delete=models.SET_NULL,
        null=True, blank=True, related_name="organisations",
        help_text=_("Empty: the partner's default policy applies."),
    )
    created_at = models.DateTimeField(_("created"), default=now)

    class Meta:
        verbose_name = _("customer organisation")
        verbose_name_plural = _("customer organisations")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "contract_number"],
                condition=~models.Q(contract_number=""),
                name="organisation_unique_contract",
            ),
        ]
        indexes = [models.Index(fields=["partner", "name"], name="organisation_partner_name")]

    def __str__(self) -> str:
        return self.name

    def set_code_word(self, code_word: str) -> None:
        # Stored like a password: the operator checks what the caller says, nobody reads it.
        self.code_word_hash = make_password(code_word.strip().casefold()) if code_word else ""

    def check_code_word(self, code_word: str) -> bool:
        if not self.code_word_hash or not code_word:
            return False
        return check_password(code_word.strip().casefold(), self.code_word_hash)


class Contact(models.Model):
    """A person who writes or calls on behalf of a customer of a partner."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="contacts")
    organisation = models.ForeignKey(
        Organisation,
        verbose_name=_("organisation"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="contacts",
    )
    name = models.CharField(_("name"), max_length=200)
    language = models.CharField(
        _("preferred language"), max_length=2, choices=MailLanguage.choices, blank=True,
        default="",
        help_text=_("The language of letters to this person. Empty: the partner's language."),
    )
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("portal account"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="contact",
    )
    created_at = models.DateTimeField(_("created"), default=now)

    class Meta:
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")
        ordering = ["name"]
        indexes = [models.Index(fields=["partner", "name"], name="contact_partner_name")]

    def __str__(self) -> str:
        return self.name

    @property
    def preferred_language(self) -> str:
        """What letters to this person are written in: their own choice, else the
        partner's."""
        return self.language or self.partner.language

    @property
    def primary_email(self) -> str:
        emails = list(self.emails.all())
        for email in emails:
            if email.is_confirmed:
                return email.address
        return emails[0].address if emails else ""


def letter_language(contact: Contact | None, partner: Partner) -> str:
    """The language of letters about a ticket: the contact's, else the partner's ("ru"/"en")."""
    if contact is not None and contact.language:
        return contact.language
    return partner.language or MailLanguage.RUSSIAN


class ContactEmail(models.Model):
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="+")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="emails")
    address = models.EmailField(_("e-mail"))
    is_confirmed = models.BooleanField(
        _("confirmed"),
        default=False,
        help_text=_("A request from a confirmed address identifies the customer."),
    )
    is_failing = models.BooleanField(
        _("delivery failing"), default=False,
        help_text=_("Mail to this address bounced; set again by the next bounce."),
    )
    failing_since = models.DateTimeField(_("failing since"), null=True, blank=True)

    class Meta:
        verbose_name = _("e-mail")
        verbose_name_plural = _("e-mails")
        ordering = ["-is_confirmed", "address"]
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "address"], name="contact_email_unique_per_partner"
            ),
        ]

    def __str__(self) -> str:
        return self.address

    def save(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        self.address = self.address.strip().lower()
        super().save(*args, **kwargs)


class ContactPhone(models.Model):
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="+")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="phones")
    number = models.CharField(_("phone"), max_length=40)

    class Meta:
        verbose_name = _("phone")
        verbose_name_plural = _("phones")
        indexes = [models.Index(fields=["partner", "number"], name="contact_phone_lookup")]

    def __str__(self) -> str:
        return self.number
