"""Read queries of the mail app."""

from datetime import timedelta

from django.db.models import Q, QuerySet

from firstline.core.clock import now
from firstline.mail.models import InboundMail

# A letter still "stored" this long after arriving was never processed (a crash between
# storing and processing): it needs an operator as much as a failed one.
STUCK_AFTER = timedelta(minutes=10)


def needs_attention() -> QuerySet[InboundMail]:
    """Failed letters and letters stuck unprocessed, newest first (staff only: all partners)."""
    stuck = Q(status=InboundMail.Status.STORED, received_at__lt=now() - STUCK_AFTER)
    return (
        InboundMail.objects.filter(Q(status=InboundMail.Status.FAILED) | stuck)
        .defer("raw")
        .order_by("-received_at", "-id")
    )
