"""What the desk remembers per user: the queue filters last chosen (restored on /tickets/)."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from firstline.core.clock import now


class QueuePreference(models.Model):
    """One row per user: the queue's filter parameters as they were last chosen."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, verbose_name=_("user"), on_delete=models.CASCADE,
        related_name="queue_preference",
    )
    filters = models.JSONField(_("queue filters"), default=dict, blank=True)
    updated_at = models.DateTimeField(_("updated"), default=now)

    class Meta:
        verbose_name = _("queue preference")
        verbose_name_plural = _("queue preferences")

    def __str__(self) -> str:
        return str(self.user)
