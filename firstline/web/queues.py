"""The desk's queue per user: its filters remembered between visits and the next ticket due.

A user's filters are what they last chose on /tickets/ (one QueuePreference row); opening
the queue without parameters restores them, and «Следующая заявка» follows them too, so
"next" means the next one due in the queue the operator is working from.
"""

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlencode

from django.db.models import QuerySet
from django.urls import reverse
from django.utils.translation import gettext as _

from firstline.core.clock import now
from firstline.core.models import User
from firstline.tenancy import tickets_for
from firstline.tickets.models import Priority, Status, Ticket, format_number
from firstline.tickets.queries import ACTIVE, ANY, FIRST_LINE, QueueFilter, queue
from firstline.web.preference_models import QueuePreference
from firstline.web.templatetags.desk import due_badge

# The query parameters that make up a queue's filters (not the page number).
FILTER_KEYS = ("q", "partner", "status", "priority", "assignee")


def default_status(user: User) -> str:
    """Provider staff start from what needs the first line; partner accounts from all active."""
    return FIRST_LINE if user.is_provider_staff else ACTIVE


def filter_params(params: Mapping[str, str]) -> dict[str, str]:
    """The filter part of a query string, empty values dropped."""
    return {key: str(params[key]) for key in FILTER_KEYS if params.get(key)}


def saved_filters(user: User) -> dict[str, str]:
    row = QueuePreference.objects.filter(user=user).only("filters").first()
    return filter_params(row.filters) if row else {}


def remember(user: User, params: Mapping[str, str]) -> None:
    """Keep `params` (already validated by the queue's form) as the user's queue filters."""
    filters = filter_params(params)
    # Read first: on the usual page view nothing changed, and one SELECT is all it costs.
    row, created = QueuePreference.objects.get_or_create(user=user, defaults={"filters": filters})
    if not created and row.filters != filters:
        QueuePreference.objects.filter(pk=row.pk).update(filters=filters, updated_at=now())


def forget(user: User) -> None:
    QueuePreference.objects.filter(user=user).delete()


def user_queue(user: User, filters: QueueFilter) -> QuerySet[Ticket]:
    return queue(tickets_for(user), filters, user)


# What a row of the queue page reads: the page fetches these columns only (not the
# customer's words, the classification, the diagnostics...).
ROW_FIELDS = (
    "id", "subject", "status", "priority", "due_at", "reaction_due_at", "resolution_due_at",
    "first_response_at", "sla_policy_id", "typical_request_id", "partner_id", "contact_id",
    "assignee_id", "partner__name", "contact__name", "assignee__username",
    "assignee__first_name", "assignee__last_name", "typical_request__resolution_minutes",
    "is_spam", "merged_into",
)


def page_queue(user: User, filters: QueueFilter) -> QuerySet[Ticket]:
    """The user's queue as the queue page lists it: the columns its rows show."""
    return user_queue(user, filters).select_related(None).select_related(
        "partner", "contact", "assignee", "typical_request").only(*ROW_FIELDS)


def queue_rows(tickets: Iterable[Ticket]) -> list[dict[str, Any]]:
    """What each row of the queue page shows, worked out here rather than in the template.

    The tickets carry `countdown` (firstline.sla.countdown.attach). The template then only
    prints dict entries: a model attribute costs a template a failed dict lookup first, a
    label a method call, the deadline a tag and a `{% url %}` per row.
    """
    head, _sep, tail = reverse("ticket", args=[1]).rpartition("/1/")
    statuses = {value: str(label) for value, label in Status.choices}
    priorities = {value: str(label) for value, label in Priority.choices}
    spam = str(_("Spam"))
    return [
        {
            "pk": ticket.pk,
            "url": f"{head}/{ticket.pk}/{tail}",
            "number": ticket.number,
            "partner": ticket.partner.name,
            "subject": ticket.subject,
            "contact": ticket.contact.name if ticket.contact_id else "",
            "status": ticket.status,
            "status_label": statuses.get(ticket.status, ticket.status),
            "priority": ticket.priority,
            "priority_label": priorities.get(ticket.priority, ticket.priority),
            "assignee": ticket.assignee.display_name if ticket.assignee_id else "",
            "due": due_badge(ticket),
            # Closed tickets show only under "all tickets": these say why one was closed.
            # Both from the row's own columns (the target's number is its id's).
            "spam": spam if ticket.is_spam else "",
            "merged_into": (_("Merged into %(number)s") % {
                "number": format_number(ticket.merged_into_id)}
                if ticket.merged_into_id is not None else ""),
        }
        for ticket in tickets
    ]


def next_ticket(user: User, *, after: int | None = None) -> Ticket | None:
    """The next ticket due in the user's remembered queue, other than ticket `after`.

    Used by «Следующая заявка» after a resolve or a hand-over: the ticket just finished is
    skipped even if it still matches the filters (e.g. "all active").
    """
    # Imported here: the form module imports this one for the filter keys.
    from firstline.web.forms import QueueFilterForm

    form = QueueFilterForm(saved_filters(user) or None, user=user)
    tickets = user_queue(user, form.to_filter())
    if after is not None:
        tickets = tickets.exclude(pk=after)
    return tickets.first()


def status_views(params: Mapping[str, str], current: str) -> list[tuple[str, str, bool]]:
    """The switch above the queue: (label, query string, is current) for the first line,
    all active and everything, keeping the other filters."""
    views = [(FIRST_LINE, _("Needs the first line")), (ACTIVE, _("All active")),
             (ANY, _("All tickets"))]
    others = {key: value for key, value in filter_params(params).items() if key != "status"}
    return [
        (str(label), urlencode({**others, "status": status}), status == current)
        for status, label in views
    ]
