"""The webhooks in the OpenAPI document: the signature scheme and every event's payload.

OpenAPI 3.1 describes requests the service sends in a top-level `webhooks` object; each
event is one entry with its JSON body and headers. `document(api)` adds them (and a note
on the signature to the description) to the generated document.
"""

from typing import Any

from ninja import NinjaAPI

from firstline.webhooks.models import EVENT_CHOICES
from firstline.webhooks.signing import SIGNATURE_HEADER, TOLERANCE_SECONDS

SCHEME = f"""

## Outbound webhooks

A partner's manager (for the partner's events) or a provider supervisor (for every
partner's) subscribes a URL to events under «Настройки → Вебхуки» or through
`/api/webhooks/subscriptions` (the secret is in the create answer only). Each event is POSTed as
JSON, once per subscription, retried with back-off (1, 2, 4 … minutes, then hourly, for
about a day) until the receiver answers 2xx; a 4xx other than 408/425/429 stops the
retries. Delivery is at least once: deduplicate by `X-Firstline-Event-Id`.

Headers of every request:

- `{SIGNATURE_HEADER}: t=<unix time>,v1=<hex>`: `v1` is HMAC-SHA256 with the
  subscription's secret (shown once when the webhook is created or its secret changed) over
  the ASCII of `t`, a dot, and the raw request body. `t` is the time of this very attempt.
  Recompute it, compare in constant time, refuse `t` older than {TOLERANCE_SECONDS} seconds.
- `X-Firstline-Event`: the event type; `X-Firstline-Event-Id`: the event's id (also `id` in
  the body; the same in every retry and in «send again»);
- `X-Firstline-Delivery`: this delivery's id (a «send again» copy has a new one);
  `Idempotency-Key`: the same per delivery across its retries.

Python receiver:

    t, v1 = (dict(p.split("=", 1) for p in header.split(","))[k] for k in ("t", "v1"))
    expected = hmac.new(secret.encode(), f"{{t}}.".encode() + raw_body, "sha256").hexdigest()
    ok = hmac.compare_digest(expected, v1) and abs(time.time() - int(t)) < 300

URLs that resolve to private, loopback, link-local, multicast or reserved addresses are
refused (checked when saved and before every send) unless the administrator sets
`FIRSTLINE_WEBHOOKS_ALLOW_PRIVATE=true`; redirects are not followed.
"""

_MOMENT = {"type": "string", "format": "date-time"}
_MOMENT_OR_NULL = {"type": ["string", "null"], "format": "date-time"}
_ACTOR = {"type": "string", "enum": ["provider", "partner", "customer", "system"],
          "description": "Who did it, as a kind: staff names are not sent."}

TICKET = {
    "type": "object",
    "description": "The ticket as it is after the event.",
    "required": ["id", "number", "subject", "status", "priority", "channel", "service_id",
                 "contact_id", "created_at", "reaction_due_at", "resolution_due_at",
                 "resolved_at", "closed_at"],
    "properties": {
        "id": {"type": "integer"},
        "number": {"type": "string", "examples": ["FL-000123"]},
        "subject": {"type": "string"},
        "status": {"type": "string", "enum": ["new", "open", "waiting_customer",
                                              "waiting_partner", "resolved", "closed"]},
        "priority": {"type": "string", "enum": ["critical", "high", "normal", "low"]},
        "channel": {"type": "string"},
        "service_id": {"type": ["integer", "null"]},
        "contact_id": {"type": ["integer", "null"]},
        "created_at": _MOMENT,
        "reaction_due_at": _MOMENT_OR_NULL,
        "resolution_due_at": _MOMENT_OR_NULL,
        "resolved_at": _MOMENT_OR_NULL,
        "closed_at": _MOMENT_OR_NULL,
    },
}
INCIDENT = {
    "type": "object",
    "required": ["id", "title", "status", "impact", "started_at", "ended_at", "service_ids"],
    "properties": {
        "id": {"type": "integer"}, "title": {"type": "string"},
        "status": {"type": "string"}, "impact": {"type": "string", "enum": ["partial", "full"]},
        "started_at": _MOMENT, "ended_at": _MOMENT_OR_NULL,
        "service_ids": {"type": "array", "items": {"type": "integer"}},
    },
}

DATA: dict[str, dict[str, Any]] = {
    "ticket.created": {"ticket": TICKET, "actor": _ACTOR},
    "ticket.status_changed": {"ticket": TICKET, "actor": _ACTOR,
                              "old_status": {"type": "string"},
                              "new_status": {"type": "string"}},
    "ticket.merged": {
        "ticket": {**TICKET, "description": "The ticket the duplicate was merged into, as it "
                                            "is after the merge (the duplicate's messages "
                                            "are its now)."},
        "duplicate": {**TICKET, "description": "The duplicate, closed; the API's "
                                               "`merged_into` of it names `ticket`."},
        "actor": _ACTOR},
    "message.public_reply": {"ticket": TICKET, "actor": _ACTOR, "message": {
        "type": "object", "required": ["id", "text", "created_at"],
        "description": "The public reply the customer received (internal notes are never "
                       "sent).",
        "properties": {"id": {"type": "integer"}, "text": {"type": "string"},
                       "created_at": _MOMENT}}},
    "escalation.fired": {"ticket": TICKET, "escalation": {
        "type": "object", "required": ["target", "percent", "late"],
        "properties": {"target": {"type": "string", "enum": ["reaction", "resolution"]},
                       "percent": {"type": "integer"},
                       "late": {"type": "boolean",
                                "description": "Fired well after it fell due."}}}},
    "sla.breached": {"ticket": TICKET, "target": {"type": "string",
                                                  "enum": ["reaction", "resolution"]}},
    "incident.opened": {"incident": INCIDENT, "actor": _ACTOR},
    "incident.resolved": {"incident": INCIDENT, "actor": _ACTOR},
    "survey.answered": {"ticket": {**TICKET, "type": ["object", "null"]}, "survey": {
        "type": "object",
        "required": ["id", "kind", "score", "scale_min", "scale_max", "comment",
                     "answered_at", "changed"],
        "properties": {"id": {"type": "integer"}, "kind": {"type": "string"},
                       "score": {"type": ["integer", "null"]},
                       "scale_min": {"type": "integer"}, "scale_max": {"type": "integer"},
                       "comment": {"type": "string"}, "answered_at": _MOMENT_OR_NULL,
                       "changed": {"type": "boolean",
                                   "description": "The customer changed an earlier answer."}}}},
}


def payload_schema(event: str) -> dict[str, Any]:
    data = DATA[event]
    return {
        "type": "object",
        "required": ["id", "type", "occurred_at", "partner", "data"],
        "properties": {
            "id": {"type": "string", "format": "uuid",
                   "description": "The event's id: deduplicate by it."},
            "type": {"type": "string", "const": event},
            "occurred_at": _MOMENT,
            "partner": {"type": "object", "required": ["id", "slug", "name"],
                        "properties": {"id": {"type": "integer"}, "slug": {"type": "string"},
                                       "name": {"type": "string"}}},
            "data": {"type": "object", "required": sorted(data), "properties": data},
        },
    }


def _header(description: str, **schema: Any) -> dict[str, Any]:
    return {"name": "", "in": "header", "required": True, "description": description,
            "schema": {"type": "string", **schema}}


def webhooks() -> dict[str, Any]:
    headers = {
        SIGNATURE_HEADER: "t=<unix time>,v1=<hex HMAC-SHA256 of \"t.body\">",
        "X-Firstline-Event": "The event type.",
        "X-Firstline-Event-Id": "The event's id, as `id` in the body.",
        "X-Firstline-Delivery": "This delivery's id.",
    }
    result = {}
    for event, label in EVENT_CHOICES:
        result[event] = {"post": {
            "summary": str(label),
            "description": f"Sent to subscriptions that chose `{event}`; signed as the API "
                           "description says.",
            "parameters": [{**_header(text), "name": name} for name, text in headers.items()],
            "requestBody": {"required": True, "content": {
                "application/json": {"schema": payload_schema(event)}}},
            "responses": {"2XX": {"description": "Received; any other answer is retried "
                                                 "(a 4xx other than 408/425/429 is not)."}},
        }}
    return result


def document(api: NinjaAPI) -> None:
    api.openapi_extra["webhooks"] = webhooks()
    api.description = (api.description or "") + SCHEME
