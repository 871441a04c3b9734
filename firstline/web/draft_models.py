"""Reply drafts: what the desk keeps for the person working, not for the ticket.

A draft is saved as the operator types (debounced) so that it survives a reload, another
tab or a crash; sending the reply deletes it. One per ticket and user.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from firstline.core.clock import now
from firstline.core.models import Partner

DRAFT_MAX = 100_000


class ReplyDraft(models.Model):
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="+")
    ticket = models.ForeignKey(
        "tickets.Ticket", on_delete=models.CASCADE, related_name="reply_drafts"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reply_drafts"
    )
    text = models.TextField(_("text"), blank=True)
    kind = models.CharField(_("kind"), max_length=20, blank=True)
    reply_kind = models.CharField(_("reply type"), max_length=30, blank=True)
    updated_at = models.DateTimeField(_("updated"), default=now)

    class Meta:
        verbose_name = _("reply draft")
        verbose_name_plural = _("reply drafts")
        constraints = [
            models.UniqueConstraint(fields=["ticket", "user"], name="reply_draft_unique"),
        ]
        indexes = [models.Index(fields=["partner", "ticket"], name="reply_draft_partner")]

    def __str__(self) -> str:
        return f"{self.ticket_id}/{self.user_id}"
