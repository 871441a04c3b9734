from datetime import datetime, timedelta

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.timesince import timeuntil
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from firstline.core.clock import now
from firstline.core.models import AuditEvent
from firstline.tickets.models import Channel, Priority, Status

register = template.Library()

WARNING_WINDOW = timedelta(hours=1)


@register.simple_tag
def due_badge(due_at: datetime | None) -> SafeString | str:
    """Time left until the deadline, coloured: fine, under an hour left, overdue."""
    if due_at is None:
        return ""
    moment = now()
    if due_at <= moment:
        return format_html(
            '<span class="due due-breach" title="{}">{}</span>',
            due_at.isoformat(),
            _("overdue by %(time)s") % {"time": timeuntil(moment, due_at, depth=1)},
        )
    css = "due-warning" if due_at - moment <= WARNING_WINDOW else "due-ok"
    return format_html(
        '<span class="due {}" title="{}">{}</span>',
        css,
        due_at.isoformat(),
        _("in %(time)s") % {"time": timeuntil(due_at, moment, depth=1)},
    )


AUDIT_ACTIONS = {
    "ticket.created": gettext_lazy("Ticket created"),
    "ticket.status_changed": gettext_lazy("Status changed"),
    "ticket.reopened": gettext_lazy("Ticket reopened"),
    "ticket.priority_changed": gettext_lazy("Priority changed"),
    "ticket.assigned": gettext_lazy("Assignee changed"),
    "message.inbound": gettext_lazy("Customer wrote"),
    "message.reply": gettext_lazy("Public reply"),
    "message.note": gettext_lazy("Internal note"),
}
AUDIT_FIELDS = {
    "subject": gettext_lazy("subject"),
    "channel": gettext_lazy("channel"),
    "status": gettext_lazy("status"),
    "priority": gettext_lazy("priority"),
    "contact": gettext_lazy("contact"),
    "service": gettext_lazy("service"),
    "assignee": gettext_lazy("assignee"),
    "message": gettext_lazy("message"),
}
AUDIT_VALUES = {"status": Status, "priority": Priority, "channel": Channel}


def _audit_value(field: str, value: object) -> object:
    choices = AUDIT_VALUES.get(field)
    if choices is not None and value in choices.values:
        return choices(value).label
    return value


@register.filter
def audit_action(action: str) -> str:
    return str(AUDIT_ACTIONS.get(action, action))


@register.filter
def audit_changes(event: AuditEvent) -> list[tuple[str, object, object]]:
    """(field label, before, after) with status, priority and channel shown by their labels."""
    return [
        (str(AUDIT_FIELDS.get(field, field)), _audit_value(field, before),
         _audit_value(field, after))
        for field, before, after in event.changes()
        if field != "message"  # the message itself is on the page; its id says nothing
    ]


@register.simple_tag(takes_context=True)
def page_url(context: template.Context, number: int) -> str:
    query = context.get("query") or ""
    return f"?{query}&page={number}" if query else f"?page={number}"
