"""The JSON a receiver gets for each event: stable fields, nothing internal.

    {"id": "<uuid, the same in every retry and copy>", "type": "ticket.created",
     "occurred_at": "2026-12-06T01:15:09+00:00",
     "partner": {"id": 7, "slug": "alpha", "name": "Alpha"},
     "data": {"ticket": {...}, ...}}

What is left out on purpose, for partner and provider hooks alike: internal notes (an
escalation's note names the provider's staff it notified), the operator's classification
and diagnostics, staff names and accounts, the customer's e-mail addresses and phones. A
public reply carries its text: the customer received it. A survey carries the score and
the customer's comment, which the partner's managers see on the feedback page anyway.
`api.py` documents every shape in the OpenAPI document.
"""

import json
from datetime import datetime
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

from firstline.core.models import Partner
from firstline.tickets.models import Message, Ticket, format_number


def _moment(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def partner_part(partner: Partner) -> dict[str, Any]:
    return {"id": partner.pk, "slug": partner.slug, "name": partner.name}


def ticket_part(ticket: Ticket) -> dict[str, Any]:
    return {
        "id": ticket.pk,
        "number": format_number(ticket.pk),
        "subject": ticket.subject,
        "status": ticket.status,
        "priority": ticket.priority,
        "channel": ticket.channel,
        "service_id": ticket.service_id,
        "contact_id": ticket.contact_id,
        "created_at": _moment(ticket.created_at),
        "reaction_due_at": _moment(ticket.reaction_due_at),
        "resolution_due_at": _moment(ticket.resolution_due_at),
        "resolved_at": _moment(ticket.resolved_at),
        "closed_at": _moment(ticket.closed_at),
    }


def _actor(actor: Any) -> str:
    """Who did it, as a kind only: staff names stay inside."""
    if actor is None:
        return "system"
    if getattr(actor, "is_customer", False):
        return "customer"
    if getattr(actor, "is_partner_user", False):
        return "partner"
    return "provider"


def _incident(incident: Any) -> dict[str, Any]:
    return {
        "id": incident.pk,
        "title": incident.title,
        "status": incident.status,
        "impact": incident.impact,
        "started_at": _moment(incident.started_at),
        "ended_at": _moment(incident.ended_at),
        "service_ids": sorted(service.pk for service in incident.services.all()),
    }


def data_for(event: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """The event-specific part of the payload, from the arguments the event carries."""
    ticket = arguments.get("ticket")
    data: dict[str, Any] = {}
    if isinstance(ticket, Ticket):
        data["ticket"] = ticket_part(ticket)
    elif event == "survey.answered":
        data["ticket"] = None
    if event in ("ticket.created", "ticket.status_changed", "ticket.merged",
                 "message.public_reply", "incident.opened", "incident.resolved"):
        data["actor"] = _actor(arguments.get("actor"))
    if event == "ticket.status_changed":
        data["old_status"] = str(arguments.get("old") or "")
        data["new_status"] = str(arguments.get("new") or "")
    elif event == "ticket.merged":
        # `ticket` is the one merged into; the duplicate is closed and points at it.
        data["duplicate"] = ticket_part(arguments["duplicate"])
    elif event == "message.public_reply":
        message: Message = arguments["message"]
        data["message"] = {"id": message.pk, "text": message.body_text,
                           "created_at": _moment(message.created_at)}
    elif event == "escalation.fired":
        step = arguments["step"]
        data["escalation"] = {"target": step.target, "percent": step.percent,
                              "late": bool(arguments.get("late"))}
    elif event == "sla.breached":
        data["target"] = str(arguments.get("target") or "")
    elif event in ("incident.opened", "incident.resolved"):
        data["incident"] = _incident(arguments["incident"])
    elif event == "survey.answered":
        survey = arguments["survey"]
        data["survey"] = {
            "id": survey.pk, "kind": survey.kind, "score": survey.score,
            "scale_min": survey.scale_min, "scale_max": survey.scale_max,
            "comment": survey.comment, "answered_at": _moment(survey.answered_at),
            "changed": bool(arguments.get("changed")),
        }
    return data


def build(*, event_id: str, event: str, moment: datetime, partner: Partner,
          data: dict[str, Any]) -> str:
    payload = {"id": event_id, "type": event, "occurred_at": _moment(moment),
               "partner": partner_part(partner), "data": data}
    return json.dumps(payload, cls=DjangoJSONEncoder, ensure_ascii=False, sort_keys=True)
