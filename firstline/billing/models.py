"""Billing (F34, F35): tariff plans versioned by the date they take effect, partners'
subscriptions, VAT rates by date, invoices and credit notes numbered without gaps per year.

Money is `Decimal` in kopecks (two places). An issued invoice or credit note never changes:
`save()` refuses an update of a stored one, and a correction is a credit note.
"""

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from firstline.core.clock import now
from firstline.core.models import Partner

MONEY = {"max_digits": 14, "decimal_places": 2}
_NON_NEGATIVE = [MinValueValidator(Decimal("0"))]


def _excluded_channels_default() -> list[str]:
    return ["monitoring"]


class Plan(models.Model):
    """A tariff plan (Start / Optimum / All inclusive); its figures live in versions."""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=100)
    created_at = models.DateTimeField(_("created"), default=now)

    class Meta:
        verbose_name = _("tariff plan")
        verbose_name_plural = _("tariff plans")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class PlanVersion(models.Model):
    """The plan's figures from `effective_from` until the next version takes effect.

    A month is billed with the version in effect on its first day, so a new version never
    rewrites a past month. What counts as a request is part of the version: tickets opened
    on any channel except `excluded_channels`; tickets whose contact is a desk account
    (provider or partner staff opening one for themselves) and tickets linked to a mass
    incident after its first one count only if the version says so.
    """

    plan = models.ForeignKey(Plan, verbose_name=_("plan"), on_delete=models.PROTECT,
                             related_name="versions")
    effective_from = models.DateField(_("takes effect on"))
    requests_included = models.PositiveIntegerField(_("requests a month included"))
    minutes_included = models.PositiveIntegerField(_("talk minutes included"))
    accounts_included = models.PositiveIntegerField(_("ServiceDesk accounts included"),
                                                    default=3)
    monthly_fee = models.DecimalField(_("monthly fee excl. VAT, RUB"), **MONEY,
                                      validators=_NON_NEGATIVE)
    first_month_fee = models.DecimalField(_("first month fee excl. VAT, RUB"), **MONEY,
                                          validators=_NON_NEGATIVE)
    overage_request_fee = models.DecimalField(_("fee per request over the plan, RUB"),
                                              **MONEY, validators=_NON_NEGATIVE)
    overage_minute_fee = models.DecimalField(_("fee per talk minute over the plan, RUB"),
                                             **MONEY, validators=_NON_NEGATIVE)
    extra_account_fee = models.DecimalField(_("fee per extra ServiceDesk account a month, RUB"),
                                            **MONEY, validators=_NON_NEGATIVE,
                                            default=Decimal("500.00"))
    excluded_channels = models.JSONField(
        _("channels that do not count as requests"), default=_excluded_channels_default,
        blank=True)
    count_staff_own = models.BooleanField(
        _("count tickets staff opened for themselves"), default=False)
    count_incident_followers = models.BooleanField(
        _("count tickets linked to a mass incident after the first"), default=False)
    created_at = models.DateTimeField(_("created"), default=now)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, blank=True, related_name="+")

    class Meta:
        verbose_name = _("plan version")
        verbose_name_plural = _("plan versions")
        ordering = ["plan_id", "-effective_from"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "effective_from"],
                                    name="billing_plan_version_once_a_day"),
        ]

    def __str__(self) -> str:
        return f"{self.plan} {self.effective_from:%Y-%m-%d}"


class VatRate(models.Model):
    """The VAT rate in percent from a date (20% before 2026-01-01, 22% from then)."""

    effective_from = models.DateField(_("takes effect on"), unique=True)
    percent = models.DecimalField(_("VAT, %"), max_digits=5, decimal_places=2,
                                  validators=[*_NON_NEGATIVE, MaxValueValidator(Decimal("100"))])

    class Meta:
        verbose_name = _("VAT rate")
        verbose_name_plural = _("VAT rates")
        ordering = ["-effective_from"]

    def __str__(self) -> str:
        return f"{self.percent}% {self.effective_from:%Y-%m-%d}"


class FirstMonth(models.TextChoices):
    WHOLE = "whole", _("The special price for the whole first month")
    PRO_RATA = "pro_rata", _("The special price pro rata from the start date")


class Subscription(models.Model):
    """A partner's plan from `starts_on`; a plan change is a new row from the next month.

    The partner's first row is the start of service: its month is billed at the plan's
    first-month price (whole, or pro rata by days from the start date, as `first_month`
    says). `extra_accounts` are ServiceDesk accounts over the plan's, billed monthly.
    """

    partner = models.ForeignKey(Partner, verbose_name=_("partner"), on_delete=models.CASCADE,
                                related_name="+")
    plan = models.ForeignKey(Plan, verbose_name=_("plan"), on_delete=models.PROTECT,
                             related_name="subscriptions")
    starts_on = models.DateField(_("starts on"))
    extra_accounts = models.PositiveIntegerField(_("extra ServiceDesk accounts"), default=0)
    first_month = models.CharField(_("first month"), max_length=10, choices=FirstMonth.choices,
                                   default=FirstMonth.WHOLE)
    created_at = models.DateTimeField(_("created"), default=now)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, blank=True, related_name="+")

    class Meta:
        verbose_name = _("subscription")
        verbose_name_plural = _("subscriptions")
        ordering = ["partner_id", "-starts_on"]
        constraints = [
            models.UniqueConstraint(fields=["partner", "starts_on"],
                                    name="billing_subscription_once_a_day"),
        ]

    def __str__(self) -> str:
        return f"{self.partner} {self.plan} {self.starts_on:%Y-%m-%d}"


class Seller(models.Model):
    """The provider's requisites printed on its invoices. A change is a new row (the latest
    is in force); an invoice keeps a copy of the requisites it was issued with."""

    name = models.CharField(_("seller's name"), max_length=300)
    inn = models.CharField(_("INN"), max_length=12)
    kpp = models.CharField(_("KPP"), max_length=9, blank=True)
    address = models.CharField(_("address"), max_length=500)
    bank = models.CharField(_("bank"), max_length=300)
    bic = models.CharField(_("BIC"), max_length=9)
    account = models.CharField(_("settlement account"), max_length=20)
    correspondent_account = models.CharField(_("correspondent account"), max_length=20,
                                             blank=True)
    created_at = models.DateTimeField(_("created"), default=now)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, blank=True, related_name="+")

    class Meta:
        verbose_name = _("seller's requisites")
        verbose_name_plural = _("seller's requisites")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name


class Counter(models.Model):
    """The last number given in a series and year; locked while a number is taken."""

    series = models.CharField(max_length=10)
    year = models.PositiveIntegerField()
    last = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["series", "year"], name="billing_counter_once"),
        ]

    def __str__(self) -> str:
        return f"{self.series} {self.year}: {self.last}"


def invoice_path(invoice: "Invoice", filename: str) -> str:
    return f"billing/{invoice.partner_id}/{invoice.year}/{filename}"


class Kind(models.TextChoices):
    INVOICE = "invoice", _("Invoice")
    CREDIT_NOTE = "credit_note", _("Credit note")


class Invoice(models.Model):
    """An issued invoice or credit note: its lines, totals, usage detail and files. Never
    changed after issue."""

    partner = models.ForeignKey(Partner, verbose_name=_("partner"), on_delete=models.PROTECT,
                                related_name="+")
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices,
                            default=Kind.INVOICE)
    number = models.CharField(_("number"), max_length=20, unique=True)
    year = models.PositiveIntegerField(_("year"))
    sequence = models.PositiveIntegerField(_("number in the year"))
    month = models.DateField(_("month"), help_text=_("The first day of the month billed."))
    plan_name = models.CharField(_("plan"), max_length=100)
    vat_percent = models.DecimalField(_("VAT, %"), max_digits=5, decimal_places=2)
    subtotal = models.DecimalField(_("subtotal excl. VAT"), **MONEY)
    vat = models.DecimalField(_("VAT"), **MONEY)
    total = models.DecimalField(_("total incl. VAT"), **MONEY)
    usage = models.JSONField(_("usage detail"), default=dict, blank=True)
    seller = models.JSONField(_("seller's requisites"), default=dict, blank=True,
                              help_text=_("As they were when the invoice was issued."))
    corrects = models.OneToOneField("self", verbose_name=_("corrects"), null=True, blank=True,
                                    on_delete=models.PROTECT, related_name="credit_note")
    reason = models.CharField(_("reason"), max_length=500, blank=True)
    pdf = models.FileField(_("PDF"), upload_to=invoice_path, max_length=300, blank=True)
    xlsx = models.FileField(_("XLSX"), upload_to=invoice_path, max_length=300, blank=True)
    issued_at = models.DateTimeField(_("issued"), default=now)
    issued_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                  null=True, blank=True, related_name="+")

    class Meta:
        verbose_name = _("invoice")
        verbose_name_plural = _("invoices")
        ordering = ["-year", "-sequence"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "year", "sequence"],
                                    name="billing_invoice_number_once"),
        ]
        indexes = [models.Index(fields=["partner", "month"], name="billing_invoice_month")]

    def __str__(self) -> str:
        return self.number

    def save(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        if self.pk is not None and not self._state.adding:
            raise ValidationError({"invoice": _("An issued invoice cannot be changed; issue a "
                                                "credit note.")})
        super().save(*args, **kwargs)


class InvoiceLine(models.Model):
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveIntegerField()
    code = models.CharField(max_length=20)
    description = models.CharField(_("description"), max_length=300)
    quantity = models.DecimalField(_("quantity"), max_digits=14, decimal_places=4)
    unit = models.CharField(_("unit"), max_length=20)
    unit_price = models.DecimalField(_("unit price"), **MONEY)
    amount = models.DecimalField(_("amount"), **MONEY)

    class Meta:
        ordering = ["invoice_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["invoice", "position"], name="billing_line_once"),
        ]

    def __str__(self) -> str:
        return f"{self.invoice_id}/{self.position} {self.description}"

    def save(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        if self.pk is not None and not self._state.adding:
            raise ValidationError({"line": _("An issued invoice cannot be changed.")})
        super().save(*args, **kwargs)
