from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from firstline.core.clock import now


class ApiToken(models.Model):
    """A bearer token that acts as one user: an integration account or a staff member.

    Only the SHA-256 of the secret is stored; the plaintext is shown once when issued.
    A token never carries its own permissions: it can do exactly what its user can.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        related_name="api_tokens",
    )
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(
        _("prefix"),
        max_length=8,
        help_text=_("The first characters of the token, to tell tokens apart."),
    )
    key_hash = models.CharField(_("key hash (SHA-256)"), max_length=64, unique=True)
    created_at = models.DateTimeField(_("created"), default=now)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None
