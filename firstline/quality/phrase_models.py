"""The editable part of the reply rules (F17): forbidden-phrase changes and blocking codes.

The provider's default phrases live in ``data/forbidden_<language>.toml`` and change with a
release; what supervisors change at run time is stored here as *differences* on top of them,
so a new default reaches every partner that has not removed it:

    defaults (toml) → provider-wide changes (partner is null) → one partner's changes

Imported by firstline/quality/models.py so Django registers the models with the `quality` app.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _

from firstline.core.clock import now
from firstline.core.models import Partner

PHRASE_MAX = 200
SUGGESTION_MAX = 300


class ReplyLanguage(models.TextChoices):
    RU = "ru", _("Russian")
    EN = "en", _("English")


class ForbiddenPhraseSetting(models.Model):
    """One change to a forbidden-phrase list: a phrase added (with suggestions) or removed."""

    class Action(models.TextChoices):
        ADD = "add", _("Forbid")
        REMOVE = "remove", _("Allow")

    partner = models.ForeignKey(
        Partner,
        verbose_name=_("partner"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("Empty: the change applies to every partner."),
    )
    language = models.CharField(_("language"), max_length=2, choices=ReplyLanguage.choices)
    phrase = models.CharField(
        _("phrase"), max_length=PHRASE_MAX,
        help_text=_("Words in any form: «проблема» also finds «проблемой», «проблемы»."),
    )
    suggestions = models.JSONField(
        _("suggestions"), default=list, blank=True,
        help_text=_("What to write instead, the preferred replacement first."),
    )
    action = models.CharField(_("action"), max_length=10, choices=Action.choices)
    created_at = models.DateTimeField(_("created"), default=now)
    updated_at = models.DateTimeField(_("updated"), default=now)

    class Meta:
        verbose_name = _("forbidden-phrase setting")
        verbose_name_plural = _("forbidden-phrase settings")
        ordering = ["language", "phrase", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "language", "phrase"], name="forbidden_phrase_unique",
            ),
            # NULLs are distinct in a unique index: the provider-wide rows need their own.
            models.UniqueConstraint(
                fields=["language", "phrase"], condition=models.Q(partner__isnull=True),
                name="forbidden_phrase_unique_provider",
            ),
            models.CheckConstraint(
                condition=models.Q(action__in=["add", "remove"]),
                name="forbidden_phrase_action_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()}: {self.phrase}"


class BlockingCodesSetting(models.Model):
    """Which finding codes stop a public reply of one partner (without a row: the default)."""

    partner = models.OneToOneField(
        Partner, verbose_name=_("partner"), on_delete=models.CASCADE, related_name="+",
    )
    codes = models.JSONField(_("blocking finding codes"), default=list, blank=True)
    updated_at = models.DateTimeField(_("updated"), default=now)

    class Meta:
        verbose_name = _("blocking reply findings")
        verbose_name_plural = _("blocking reply findings")

    def __str__(self) -> str:
        return ", ".join(self.codes) or "—"
