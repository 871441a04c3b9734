from typing import Any

from django import template

from firstline.surveys import services, winback
from firstline.tickets.models import Ticket

register = template.Library()


@register.inclusion_tag("surveys/portal_rating.html", takes_context=True)
def portal_rating(context: dict[str, Any], ticket: Ticket) -> dict[str, Any]:
    """The rating form on the customer's ticket page, when the ticket can be rated."""
    request = context["request"]
    return {"survey": services.portal_survey(ticket, request.user), "request": request,
            "csrf_token": context.get("csrf_token")}


@register.inclusion_tag("surveys/sensitive_flag.html")
def sensitive_flag(ticket: Ticket) -> dict[str, Any]:
    """A visible mark on the tickets of a customer who was won back (more sensitive)."""
    organisation_id = ticket.contact.organisation_id if ticket.contact_id and ticket.contact \
        else None
    return {"sensitive": winback.is_sensitive(organisation_id)}
