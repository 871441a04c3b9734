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


def phone_e164(number: str) -> str:
    """The number in E.164 (+79123456789), or "" when it is not a phone number."""
    # Imported here: a pure helper of the phone channel, no models.
    from firstline.calls.phones import try_e164

    return try_e164(number) or ""


class ContactPhoneManager(models.Manager["ContactPhone"]):
    def bulk_create(self, objs, *args, **kwargs):  # type: ignore[no-untyped-def]
        objs = list(objs)
        for phone in objs:
            phone.e164 = phone_e164(phone.number)
        return super().bulk_create(objs, *args, **kwargs)


class ContactPhone(models.Model):
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="+")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="phones")
    number = models.CharField(_("phone"), max_length=40)
    # The number as the phone channel writes callers (+79123456789), kept on every save, so
    # "who is calling" is one indexed lookup; empty when the number is not a phone number.
    e164 = models.CharField(_("phone in E.164"), max_length=16, blank=True, default="",
                            editable=False)

    objects = ContactPhoneManager()

    class Meta:
        verbose_name = _("phone")
        verbose_name_plural = _("phones")
        indexes = [
            models.Index(fields=["partner", "number"], name="contact_phone_lookup"),
            models.Index(fields=["partner", "e164"], name="contact_phone_e164"),
        ]

    def __str__(self) -> str:
        return self.number

    def save(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.e164 = phone_e164(self.number)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "number" in update_fields:
            kwargs["update_fields"] = {*update_fields, "e164"}
        super().save(*args, **kwargs)
