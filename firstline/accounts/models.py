from django.db import models
from django.utils.translation import gettext_lazy as _

from firstline.core.clock import now


class SignInThrottle(models.Model):
    """One counter: the recent failures (or requests) of one account, client address or mailbox.

    Kept in the database, not in a process's memory, so every web worker sees the same count.
    The key is a keyed hash of what is counted, so a password typed into the login field by
    mistake is never stored; `label` names only what is safe to show (a client address, an
    existing account's login, a mailbox).
    """

    class Scope(models.TextChoices):
        ACCOUNT = "account", _("account")
        ADDRESS = "address", _("client address")
        LINK_EMAIL = "link-email", _("sign-in links to a mailbox")
        LINK_ADDRESS = "link-address", _("sign-in links from a client address")

    scope = models.CharField(_("what is counted"), max_length=20, choices=Scope.choices)
    key = models.CharField(max_length=64)
    label = models.CharField(_("who"), max_length=200, blank=True)
    # Epoch seconds of the failures (or requests) still inside the window, oldest first.
    hits = models.JSONField(default=list, blank=True)
    lockouts = models.PositiveIntegerField(_("lockouts in a row"), default=0)
    locked_until = models.DateTimeField(_("locked until"), null=True, blank=True)
    updated_at = models.DateTimeField(_("last attempt"), default=now)

    class Meta:
        verbose_name = _("sign-in throttle")
        verbose_name_plural = _("sign-in throttles")
        constraints = [
            models.UniqueConstraint(fields=["scope", "key"], name="signin_throttle_unique_key"),
        ]
        indexes = [models.Index(fields=["updated_at"], name="signin_throttle_updated")]

    def __str__(self) -> str:
        return f"{self.get_scope_display()}: {self.label or self.key[:12]}"
