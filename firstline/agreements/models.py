"""The partner's SLA document for its own clients (F36): what the partner keeps for it
(persons authorised per client organisation, the compensation table, the few terms no other
feature stores) and the generated versions, each with the snapshot it was rendered from."""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from firstline.contacts.models import Organisation
from firstline.core.clock import now
from firstline.core.models import Partner


class AgreementTerms(models.Model):
    """The partner's wording for the parts of the document no other setting holds."""

    partner = models.OneToOneField(Partner, on_delete=models.CASCADE,
                                   related_name="agreement_terms")
    written_only = models.TextField(
        _("request types accepted only in writing"), blank=True,
        help_text=_("One per line, e.g. changing the list of authorised persons."),
    )
    affected_functions = models.TextField(
        _("functions scheduled works may affect"), blank=True,
        help_text=_("One per line. Empty: the partner's active services are listed."),
    )
    revision_months = models.PositiveSmallIntegerField(
        _("revised at least every, months"), default=12,
        validators=[MinValueValidator(1), MaxValueValidator(60)],
    )
    updated_at = models.DateTimeField(_("updated"), default=now)

    class Meta:
        verbose_name = _("SLA document terms")
        verbose_name_plural = _("SLA document terms")

    def __str__(self) -> str:
        return str(self.partner)

    @staticmethod
    def lines(text: str) -> list[str]:
        return [line.strip() for line in text.splitlines() if line.strip()]


class AuthorisedPerson(models.Model):
    """A person a client organisation authorised to submit requests (the client decides)."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="+")
    organisation = models.ForeignKey(
        Organisation, verbose_name=_("client organisation"), on_delete=models.CASCADE,
        related_name="authorised_persons",
    )
    name = models.CharField(_("full name"), max_length=200)
    position = models.CharField(_("job title"), max_length=200, blank=True)
    email = models.EmailField(_("e-mail"), blank=True)
    phone = models.CharField(_("phone"), max_length=40, blank=True)
    created_at = models.DateTimeField(_("added"), default=now)

    class Meta:
        verbose_name = _("authorised person")
        verbose_name_plural = _("authorised persons")
        ordering = ["organisation__name", "name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["organisation", "name"],
                                    name="authorised_person_once"),
        ]

    def __str__(self) -> str:
        return self.name


class CompensationRule(models.Model):
    """One row of the compensation table: from this share of requests past their deadline
    in a month, this share of the monthly fee is credited."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE,
                                related_name="compensation_rules")
    breach_percent = models.DecimalField(
        _("requests past the deadline, from %"), max_digits=5, decimal_places=2,
        validators=[MinValueValidator(Decimal("0.01")), MaxValueValidator(Decimal("100"))],
    )
    fee_percent = models.DecimalField(
        _("credit, % of the monthly fee"), max_digits=5, decimal_places=2,
        validators=[MinValueValidator(Decimal("0.01")), MaxValueValidator(Decimal("100"))],
    )

    class Meta:
        verbose_name = _("compensation rule")
        verbose_name_plural = _("compensation rules")
        ordering = ["partner_id", "breach_percent"]
        constraints = [
            models.UniqueConstraint(fields=["partner", "breach_percent"],
                                    name="compensation_rule_once"),
        ]

    def __str__(self) -> str:
        return f"{self.breach_percent}% → {self.fee_percent}%"


def document_path(instance: "AgreementVersion", filename: str) -> str:
    return f"agreements/{instance.partner_id}/{filename}"


class AgreementVersion(models.Model):
    """A generated SLA document: never changed; the next generation is the next version."""

    partner = models.ForeignKey(Partner, verbose_name=_("partner"), on_delete=models.CASCADE,
                                related_name="+")
    version = models.PositiveIntegerField(_("version"))
    language = models.CharField(_("language"), max_length=5, default="ru")
    snapshot = models.JSONField(_("content"), default=dict)
    docx = models.FileField(_("DOCX"), upload_to=document_path, max_length=300, blank=True)
    pdf = models.FileField(_("PDF"), upload_to=document_path, max_length=300, blank=True)
    created_at = models.DateTimeField(_("generated"), default=now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("generated by"), on_delete=models.SET_NULL,
        null=True, blank=True, related_name="+",
    )

    class Meta:
        verbose_name = _("SLA document version")
        verbose_name_plural = _("SLA document versions")
        ordering = ["partner_id", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["partner", "version"], name="agreement_version_once"),
        ]

    def __str__(self) -> str:
        return f"{self.partner} v{self.version}"
