"""What the metrics domain stores itself: revised KPI targets, the evidence registers of the
maturity assessment, and the issued monthly reports (frozen snapshots)."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from firstline.core.clock import now
from firstline.core.models import Partner


class MetricTarget(models.Model):
    """A KPI target a supervisor set for a metric (one partner, or every partner when empty).

    «Сформулированы KPI для процесса и персонала (актуализируются минимум 1-2 раза в год)»:
    the date of the last revision is shown and flagged when older than a year."""

    partner = models.ForeignKey(
        Partner, verbose_name=_("partner"), on_delete=models.CASCADE, null=True, blank=True,
        related_name="+", help_text=_("Empty: the target holds for every partner."),
    )
    metric = models.CharField(_("metric"), max_length=60)
    target = models.FloatField(
        _("target"), help_text=_("A share as a fraction (0.95 for 95%), or minutes, or a count."),
    )
    revised_at = models.DateField(_("last revised"), default=now)
    revised_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("revised by"), on_delete=models.SET_NULL,
        null=True, blank=True, related_name="+",
    )

    class Meta:
        verbose_name = _("KPI target")
        verbose_name_plural = _("KPI targets")
        constraints = [
            models.UniqueConstraint(fields=["partner", "metric"], name="metric_target_once"),
        ]

    def __str__(self) -> str:
        return f"{self.metric}: {self.target}"


class Evidence(models.Model):
    """A record in one of the maturity assessment's registers: what, who, when, a document,
    the next due date."""

    class Kind(models.TextChoices):
        PROCESS_OWNER = "process_owner", _("Process owner appointed")
        COMPETENCE = "competence", _("Staff competence requirements")
        TRAINING = "training", _("Staff training and certification")
        CONTROL = "control", _("Systematic control of diagnostics and request handling")
        SERVICE_PLAN = "service_plan", _("Service management plan and its execution")
        SECURITY_RISKS = "security_risks", _("Information security risks agreed with the customer")
        RESOURCES = "resources", _("Assessment of resources spent against results")

    partner = models.ForeignKey(
        Partner, verbose_name=_("partner"), on_delete=models.CASCADE, null=True, blank=True,
        related_name="+", help_text=_("Empty: the record holds for every partner."),
    )
    kind = models.CharField(_("register"), max_length=30, choices=Kind.choices)
    title = models.CharField(_("what"), max_length=300)
    person = models.CharField(_("who"), max_length=200)
    held_on = models.DateField(_("when"), default=now)
    document = models.FileField(_("document"), upload_to="evidence/%Y/", blank=True)
    next_due = models.DateField(_("next due"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), default=now)

    class Meta:
        verbose_name = _("evidence record")
        verbose_name_plural = _("evidence records")
        ordering = ["-held_on", "-id"]
        indexes = [models.Index(fields=["partner", "kind", "held_on"], name="evidence_kind")]

    def __str__(self) -> str:
        return self.title


def report_path(instance: "MonthlyReport", filename: str) -> str:
    return f"reports/{instance.partner_id}/{instance.month:%Y-%m}/{filename}"


class MonthlyReport(models.Model):
    """An issued monthly report: the snapshot of figures it was built from and its files.
    Never changed after issue; a reissue is a new version."""

    partner = models.ForeignKey(
        Partner, verbose_name=_("partner"), on_delete=models.CASCADE, related_name="+"
    )
    month = models.DateField(_("month"), help_text=_("The first day of the month reported."))
    language = models.CharField(_("language"), max_length=5, default="ru")
    version = models.PositiveIntegerField(_("version"), default=1)
    snapshot = models.JSONField(_("figures"), default=dict)
    pdf = models.FileField(_("PDF"), upload_to=report_path, max_length=300, blank=True)
    xlsx = models.FileField(_("XLSX"), upload_to=report_path, max_length=300, blank=True)
    issued_at = models.DateTimeField(_("issued"), default=now)
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("issued by"), on_delete=models.SET_NULL,
        null=True, blank=True, related_name="+",
    )

    class Meta:
        verbose_name = _("monthly report")
        verbose_name_plural = _("monthly reports")
        ordering = ["-month", "-version"]
        constraints = [
            # The worker's claim: the automatic first version is created once.
            models.UniqueConstraint(
                fields=["partner", "month", "language", "version"], name="monthly_report_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.partner} {self.month:%Y-%m} v{self.version}"
