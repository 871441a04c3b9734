from datetime import datetime
from html import escape as escape_text
from typing import Any

from django import template
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from firstline.core.models import AuditEvent
from firstline.tickets.models import Channel, Priority, Status, Ticket

register = template.Library()

def business_time(minutes: int) -> str:
    hours, rest = divmod(abs(minutes), 60)
    if hours and rest:
        return _("%(hours)d h %(minutes)d min") % {"hours": hours, "minutes": rest}
    if hours:
        return _("%(hours)d h") % {"hours": hours}
    return _("%(minutes)d min") % {"minutes": rest}


@register.simple_tag
def due_badge(ticket: Ticket) -> SafeString | str:
    """Business time left to the ticket's next deadline, coloured by how much is used up.

    The view attaches `countdown` (firstline.sla.countdown) to the tickets it shows.
    """
    countdown = getattr(ticket, "countdown", None)
    if ticket.due_at is None or countdown is None:
        return ""
    target = _("reaction") if countdown.target == "reaction" else _("resolution")
    if countdown.level == "breach":
        text = _("%(target)s overdue by %(time)s") % {
            "target": target, "time": business_time(countdown.minutes_left)}
    else:
        text = _("%(target)s: %(time)s left") % {
            "target": target, "time": business_time(countdown.minutes_left)}
    due = timezone.localtime(ticket.due_at)
    return format_html(
        '<span class="due due-{}" title="{}">{}</span>',
        countdown.level, _("due %(when)s, in business time") % {
            "when": date_format(due, "DATETIME_FORMAT")},
        text,
    )


@register.simple_tag
def queue_row(row: dict[str, Any], with_partner: bool) -> SafeString:
    """One row of the queue (a dict from firstline.web.queues.queue_rows) written out here.

    Fifty rows of a dozen template lookups and lazy-aware escapes each were most of the
    queue page's rendering time; the values are plain strings, so the standard library's
    escape (the one Django's `escape` calls) does the same job at a fraction of the cost.
    """
    url = escape_text(row["url"])
    partner = (f'<td class="c-partner">{escape_text(row["partner"])}</td>' if with_partner
               else "")
    assignee = (escape_text(row["assignee"]) if row["assignee"]
                else '<span class="muted">—</span>')
    # Why a closed ticket was closed without a resolution (rows of "all tickets").
    cleanup = "".join(
        f' <span class="tag tag-{kind}">{escape_text(row[key])}</span>'
        for key, kind in (("spam", "spam"), ("merged_into", "merged")) if row.get(key))
    return mark_safe(  # noqa: S308 - every value is escaped; `due` is due_badge's SafeString
        f'<tr>\n      <td class="c-number"><a href="{url}">{escape_text(row["number"])}</a></td>'
        f"{partner}"
        f'\n      <td class="c-subject"><a href="{url}">{escape_text(row["subject"])}</a></td>'
        f'\n      <td class="c-contact">{escape_text(row["contact"] or "—")}</td>'
        f'\n      <td class="c-status"><span class="status status-{escape_text(row["status"])}">'
        f'{escape_text(row["status_label"])}</span>{cleanup}</td>'
        f'\n      <td class="c-prio"><span class="prio prio-{escape_text(row["priority"])}">'
        f'{escape_text(row["priority_label"])}</span></td>'
        f'\n      <td class="c-assignee">{assignee}</td>'
        f'\n      <td class="c-due">{row["due"]}</td>\n    </tr>'
    )


AUDIT_ACTIONS = {
    "ticket.created": gettext_lazy("Ticket created"),
    "ticket.status_changed": gettext_lazy("Status changed"),
    "ticket.reopened": gettext_lazy("Ticket reopened"),
    "ticket.priority_changed": gettext_lazy("Priority changed"),
    "ticket.assigned": gettext_lazy("Assignee changed"),
    "ticket.merged": gettext_lazy("Merged into another ticket"),
    "ticket.merge_received": gettext_lazy("A duplicate merged in"),
    "ticket.marked_spam": gettext_lazy("Marked as spam"),
    "ticket.unmarked_spam": gettext_lazy("Spam mark removed"),
    "escalation.fired": gettext_lazy("Escalation"),
    "ticket.typical_request_changed": gettext_lazy("Typical request chosen"),
    "script.identified": gettext_lazy("Customer identified"),
    "script.classified": gettext_lazy("Classified"),
    "script.diagnosed": gettext_lazy("Diagnostics recorded"),
    "script.prioritised": gettext_lazy("Urgency questions answered"),
    "script.handed_over": gettext_lazy("Handed over to the partner"),
    "script.handed_back": gettext_lazy("Returned to the first line"),
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
    "sla_policy": gettext_lazy("SLA policy"),
    "reaction_due": gettext_lazy("reaction due"),
    "resolution_due": gettext_lazy("resolution due"),
    "urgency_rule": gettext_lazy("urgency rule"),
    "step": gettext_lazy("step"),
    "due": gettext_lazy("due"),
    "late": gettext_lazy("fired late"),
    "notified": gettext_lazy("notified"),
    "skipped": gettext_lazy("no address"),
    "identified_by": gettext_lazy("identified by"),
    "methods": gettext_lazy("checked"),
    "classification": gettext_lazy("classification"),
    "diagnostics": gettext_lazy("diagnostics"),
    "yes": gettext_lazy("answered «yes»"),
    "typical_request": gettext_lazy("typical request"),
    "group": gettext_lazy("group"),
    "reason": gettext_lazy("reason"),
    "is_spam": gettext_lazy("spam"),
    "merged_into": gettext_lazy("merged into"),
    "merged_from": gettext_lazy("merged from"),
    "messages_moved": gettext_lazy("messages moved"),
    "also_repointed": gettext_lazy("duplicates re-pointed"),
}
AUDIT_VALUES = {"status": Status, "priority": Priority, "channel": Channel}


def _audit_value(field: str, value: object) -> object:
    choices = AUDIT_VALUES.get(field)
    if choices is not None and value in choices.values:
        return choices(value).label
    if isinstance(value, str) and len(value) >= 19 and value[4] == "-" and "T" in value:
        # Instants are stored as ISO strings in UTC; show them in the viewer's time zone.
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
        if timezone.is_aware(moment):
            return date_format(timezone.localtime(moment), "d.m.Y H:i")
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
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
