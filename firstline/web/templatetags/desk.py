from datetime import datetime, timedelta

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.timesince import timeuntil
from django.utils.translation import gettext as _

from firstline.core.clock import now

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


@register.simple_tag(takes_context=True)
def page_url(context: template.Context, number: int) -> str:
    query = context.get("query") or ""
    return f"?{query}&page={number}" if query else f"?page={number}"
