"""The ticket lifecycle as an explicit state machine.

new -> open -> waiting for customer / waiting for partner -> resolved -> closed, with a
reopen from resolved. Anything not listed here is refused.
"""

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from firstline.tickets.models import Status

TRANSITIONS: dict[str, frozenset[str]] = {
    Status.NEW: frozenset(
        {Status.OPEN, Status.WAITING_CUSTOMER, Status.WAITING_PARTNER, Status.RESOLVED}
    ),
    Status.OPEN: frozenset({Status.WAITING_CUSTOMER, Status.WAITING_PARTNER, Status.RESOLVED}),
    Status.WAITING_CUSTOMER: frozenset({Status.OPEN, Status.WAITING_PARTNER, Status.RESOLVED}),
    Status.WAITING_PARTNER: frozenset({Status.OPEN, Status.WAITING_CUSTOMER, Status.RESOLVED}),
    Status.RESOLVED: frozenset({Status.CLOSED, Status.OPEN}),
    Status.CLOSED: frozenset(),
}


def allowed_targets(current: str) -> list[str]:
    return [status for status in Status.values if status in TRANSITIONS[current]]


def check_transition(current: str, target: str) -> None:
    """Raise a ValidationError on the `status` field unless current -> target is allowed."""
    if target not in Status.values:
        raise ValidationError(
            {"status": _("Unknown status “%(status)s”.") % {"status": target}}, code="invalid"
        )
    if target == current:
        return
    if target not in TRANSITIONS[current]:
        raise ValidationError(
            {
                "status": _(
                    "A ticket cannot go from “%(current)s” to “%(target)s”."
                ) % {"current": Status(current).label, "target": Status(target).label}
            },
            code="transition_refused",
        )
