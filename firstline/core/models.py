from decimal import Decimal
from zoneinfo import available_timezones

from django.contrib.auth.models import AbstractUser, UserManager
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from firstline.core.clock import now


def validate_time_zone(value: str) -> None:
    if value not in available_timezones():
        raise ValidationError(_("Unknown time zone: %(value)s"), params={"value": value})


class Tariff(models.Model):
    """A plan the provider sells to partners (Start / Optimum / All inclusive)."""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=100)
    requests_included = models.PositiveIntegerField(_("requests a month included"))
    minutes_included = models.PositiveIntegerField(_("talk minutes included"))
    monthly_fee = models.DecimalField(
        _("monthly fee excl. VAT, RUB"), max_digits=12, decimal_places=2,
        validators=[MinValueValidator(Decimal("0"))],
    )
    first_month_fee = models.DecimalField(
        _("first month fee excl. VAT, RUB"), max_digits=12, decimal_places=2,
        validators=[MinValueValidator(Decimal("0"))],
    )
    overage_request_fee = models.DecimalField(
        _("fee per request over the plan, RUB"), max_digits=12, decimal_places=2,
        validators=[MinValueValidator(Decimal("0"))],
    )
    overage_minute_fee = models.DecimalField(
        _("fee per talk minute over the plan, RUB"), max_digits=12, decimal_places=2,
        validators=[MinValueValidator(Decimal("0"))],
    )
    accounts_included = models.PositiveIntegerField(_("ServiceDesk accounts included"), default=3)

    class MinuteRounding(models.TextChoices):
        # As Russian operators bill: every call rounded up to a whole minute.
        PER_STARTED_MINUTE = "per_call_minute", _("Each call rounded up to a started minute")
        PER_SECOND = "per_second", _("Seconds summed, the month's total rounded up")

    minute_rounding = models.CharField(
        _("talk minute rounding"), max_length=20, choices=MinuteRounding.choices,
        default=MinuteRounding.PER_STARTED_MINUTE,
    )

    class Meta:
        verbose_name = _("tariff")
        verbose_name_plural = _("tariffs")
        ordering = ["monthly_fee"]

    def __str__(self) -> str:
        return self.name


class MailLanguage(models.TextChoices):
    """The languages letters to customers are written in (acknowledgement, replies)."""

    RUSSIAN = "ru", _("Russian")
    ENGLISH = "en", _("English")


class Partner(models.Model):
    """The tenant: a company whose customers the provider supports on its behalf."""

    class Greeting(models.TextChoices):
        NEUTRAL = "neutral", _("Neutral")
        PERSONAL = "personal", _("Personalised")

    name = models.CharField(_("name"), max_length=200, unique=True)
    slug = models.SlugField(_("short name"), max_length=50, unique=True)
    legal_name = models.CharField(_("legal name"), max_length=300, blank=True)
    support_email = models.EmailField(_("support e-mail"))
    support_phone = models.CharField(_("support phone"), max_length=40, blank=True)
    greeting = models.CharField(
        _("greeting"), max_length=20, choices=Greeting.choices, default=Greeting.NEUTRAL
    )
    time_zone = models.CharField(
        _("time zone"), max_length=64, default="Europe/Moscow", validators=[validate_time_zone]
    )
    language = models.CharField(
        _("language of letters to customers"), max_length=2, choices=MailLanguage.choices,
        default=MailLanguage.RUSSIAN,
        help_text=_("The acknowledgement and the replies go in this language unless the "
                    "contact has a language of their own."),
    )
    tariff = models.ForeignKey(
        Tariff, verbose_name=_("tariff"), on_delete=models.PROTECT, related_name="partners"
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), default=now)

    class Meta:
        verbose_name = _("partner")
        verbose_name_plural = _("partners")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def greeting_script(self, operator_name: str) -> str:
        """What the operator says when answering a call on this partner's line."""
        if self.greeting == self.Greeting.PERSONAL:
            return _("%(partner)s technical support, my name is %(operator)s, how can I help?") % {
                "partner": self.name,
                "operator": operator_name,
            }
        return _("%(partner)s technical support, good day. How can I help?") % {
            "partner": self.name
        }


class Service(models.Model):
    """What a partner sells to its customers (VPS, FTP, mail...)."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="services")
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("service")
        verbose_name_plural = _("services")
        ordering = ["partner_id", "name"]
        constraints = [
            models.UniqueConstraint(fields=["partner", "name"], name="service_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name


class FirstlineUserManager(UserManager):  # type: ignore[type-arg]
    def create_superuser(self, username, email=None, password=None, **extra_fields):  # type: ignore[no-untyped-def, override]
        # A superuser created from the console is a provider administrator.
        extra_fields.setdefault("role", User.Role.ADMIN)
        return super().create_superuser(username, email, password, **extra_fields)


class User(AbstractUser):
    """Everyone who signs in: provider staff, partner accounts, API integrations, customers."""

    class Role(models.TextChoices):
        OPERATOR = "operator", _("Operator")
        SUPERVISOR = "supervisor", _("Supervisor")
        ADMIN = "admin", _("Administrator")
        ENGINEER = "engineer", _("Partner engineer")
        MANAGER = "manager", _("Partner manager")
        INTEGRATION = "integration", _("Partner integration")
        CUSTOMER = "customer", _("Customer")

    STAFF_ROLES = frozenset({Role.OPERATOR, Role.SUPERVISOR, Role.ADMIN})
    PARTNER_ROLES = frozenset({Role.ENGINEER, Role.MANAGER, Role.INTEGRATION})

    role = models.CharField(_("role"), max_length=20, choices=Role.choices)
    partner = models.ForeignKey(
        Partner,
        verbose_name=_("partner"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="users",
    )

    phone = models.CharField(
        _("phone"), max_length=40, blank=True,
        help_text=_("For SMS and phone-call escalations."),
    )

    objects = FirstlineUserManager()

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        constraints = [
            # Provider staff work across partners; everybody else belongs to exactly one.
            models.CheckConstraint(
                condition=(
                    models.Q(role__in=["operator", "supervisor", "admin"], partner__isnull=True)
                    | (
                        ~models.Q(role__in=["operator", "supervisor", "admin"])
                        & models.Q(partner__isnull=False)
                    )
                ),
                name="user_partner_matches_role",
            ),
        ]

    @property
    def is_provider_staff(self) -> bool:
        return self.role in self.STAFF_ROLES

    @property
    def is_partner_user(self) -> bool:
        return self.role in self.PARTNER_ROLES

    @property
    def is_customer(self) -> bool:
        return self.role == self.Role.CUSTOMER

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.username


class AuditEvent(models.Model):
    """Who changed what, when, with the values before and after."""

    created_at = models.DateTimeField(_("when"), default=now, db_index=True)
    actor = models.ForeignKey(
        User, verbose_name=_("who"), on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+",
    )
    partner = models.ForeignKey(
        Partner, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    action = models.CharField(_("action"), max_length=60)
    target_type = models.CharField(max_length=40)
    target_id = models.CharField(max_length=40)
    before = models.JSONField(_("before"), default=dict, blank=True)
    after = models.JSONField(_("after"), default=dict, blank=True)

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["target_type", "target_id", "created_at"], name="audit_target"),
            models.Index(fields=["partner", "created_at"], name="audit_partner_time"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.action} {self.target_type}:{self.target_id}"

    def changes(self) -> list[tuple[str, object, object]]:
        """(field, before, after) rows for display; before is None for new values."""
        keys = list(dict.fromkeys([*self.after, *self.before]))
        return [(key, self.before.get(key), self.after.get(key)) for key in keys]
