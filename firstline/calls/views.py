"""The phone channel's pages: Zadarma's notification URL, the call card, the line overview.

Thin: each view parses, calls `services` or `queries`, renders.
"""

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Min, Q
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from firstline.calls import inbox, queries, services, zadarma
from firstline.calls.events import BadEvent
from firstline.calls.models import Call, CallEventInbox, Outcome, RawCallEvent, Source
from firstline.calls.phones import display
from firstline.core.clock import now
from firstline.core.models import User
from firstline.quality.script import METHODS, method_label, script_for
from firstline.quality.script_models import IdentificationRule
from firstline.tenancy import partners_for, tickets_for
from firstline.tickets.models import ACTIVE_STATUSES
from firstline.web.access import desk_required, staff_required

# An ended call stays on the card this long, for the ticket to be written after it.
CARD_KEEPS_ENDED = timedelta(minutes=15)
# calls_work applies an event within a second: one waiting longer than this means the
# worker is not running (or cannot keep up), and the staff are told so.
INBOX_STALE_AFTER = timedelta(seconds=30)


@csrf_exempt
@require_http_methods(["GET", "POST"])
def zadarma_notify(request: HttpRequest) -> HttpResponse:
    """Zadarma's notification URL: the zd_echo check (GET) and the call notifications.

    A signed notification is stored as received (`calls.inbox`) and answered 200 at once;
    the `calls_work` worker applies it. One refused for what it says (a number that is no
    partner's, a caller that is not a number, a malformed time) is kept for an operator
    all the same and still answered 200, with the reason: Zadarma wants 200, and sending
    it again would not change it. Only a bad signature is refused (401, nothing stored)."""
    if request.method == "GET":
        echo = request.GET.get("zd_echo", "")
        if not echo:
            return JsonResponse({"detail": _("zd_echo is missing.")}, status=400)
        return HttpResponse(echo, content_type="text/plain; charset=utf-8")
    fields = {key: value for key, value in request.POST.items()}
    if fields.get("event") not in zadarma.SIGNED_FIELDS:
        # NOTIFY_RECORD, NOTIFY_IVR...: nothing firstline reads; acknowledged, not stored.
        return JsonResponse({"ignored": fields.get("event", "")})
    if not zadarma.signature_ok(fields, request.headers.get("Signature", ""),
                                settings.FIRSTLINE_ZADARMA_SECRET):
        return JsonResponse({"detail": _("Bad signature.")}, status=401)
    if any("\x00" in key or "\x00" in value for key, value in fields.items()):
        # PostgreSQL cannot store it (the insert would fail with a 500); no PBX sends it.
        return JsonResponse({"detail": _("The text contains a NUL character (\\x00), which "
                                         "cannot be stored.")}, status=400)
    received = now()
    reason = ""
    try:
        services.precheck(zadarma.to_event(fields, arrived=received))
    except BadEvent as exc:
        reason = str(exc)
    key = zadarma.dedupe_key(fields)
    event_id = inbox.store(source=Source.ZADARMA, payload=fields, dedupe_key=key,
                           external_id=fields.get("pbx_call_id", "").strip(),
                           partner_id=None, received_at=received)
    if event_id is None:
        found = inbox.state_of(Source.ZADARMA, key)
        state = found.state if found is not None else inbox.ACCEPTED
        return JsonResponse({"state": state, "duplicate": True,
                             "reason": found.reason if found is not None else ""})
    return JsonResponse({"state": "failed" if reason else inbox.ACCEPTED, "duplicate": False,
                         "reason": reason})


def _card_calls(user: User) -> list[Call]:
    recent = now() - CARD_KEEPS_ENDED
    return list(
        queries.calls_for(user)
        .filter(operator=user)
        .filter(Q(outcome__in=[Outcome.RINGING, Outcome.TALKING])
                | Q(ended_at__gte=recent, ticket__isnull=True))
        .select_related("partner").order_by("-started_at")[:3]
    )


def _identification(call: Call) -> list[dict[str, str]]:
    rules = script_for(call.partner).identification
    return [
        {"method": method_label(method), "rule": str(IdentificationRule(rules[method]).label)}
        for method in METHODS if rules[method] != IdentificationRule.NOT_ASKED
    ]


def _greeting(call: Call, user: User) -> str:
    with translation.override(call.partner.language or "ru"):
        return call.partner.greeting_script(user.first_name or user.display_name)


def _card(user: User, call: Call) -> dict[str, Any]:
    contact = services.contact_for_number(call.partner_id, call.caller)
    open_tickets = []
    if contact is not None:
        open_tickets = list(tickets_for(user).filter(
            contact=contact, status__in=ACTIVE_STATUSES).order_by("-created_at")[:5])
    return {
        "call": call,
        "caller": display(call.caller) if call.caller else _("unknown number"),
        # Said to the caller: in the partner's language, whatever the desk's language is.
        "greeting": _greeting(call, user),
        "identification": _identification(call),
        "contact": contact,
        "open_tickets": open_tickets,
    }


@require_GET
@staff_required
def card(request: HttpRequest) -> HttpResponse:
    """The screen pop: the operator's ringing and answered calls (polled every 2 s).

    Answers 204 (HTMX leaves the page alone) while the same calls are shown, so a ticket
    being typed on the card is not wiped by the poll."""
    calls = _card_calls(request.user)
    shown = ",".join(str(call.pk) for call in calls)
    if "shown" in request.GET and request.GET["shown"] == shown:
        return HttpResponse(status=204)
    cards = [_card(request.user, call) for call in calls]
    return render(request, "calls/card.html", {"cards": cards, "shown": shown})


@require_GET
@staff_required
def call_status(request: HttpRequest, pk: int) -> HttpResponse:
    call = get_object_or_404(queries.calls_for(request.user), pk=pk)
    return render(request, "calls/status.html", {"call": call})


@require_POST
@staff_required
def ticket_from_call(request: HttpRequest, pk: int) -> HttpResponse:
    call = get_object_or_404(queries.calls_for(request.user).select_related("partner"), pk=pk)
    try:
        ticket = services.create_ticket_from_call(
            call=call, actor=request.user, subject=request.POST.get("subject", ""),
            text=request.POST.get("text", ""),
        )
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, "; ".join(getattr(exc, "messages", [str(exc)])))
        return redirect(request.POST.get("next") or "queue")
    return redirect("ticket", pk=ticket.pk)


@require_POST
@staff_required
def attach_to_ticket(request: HttpRequest, pk: int) -> HttpResponse:
    call = get_object_or_404(queries.calls_for(request.user), pk=pk)
    ticket_id = request.POST.get("ticket", "")
    ticket = get_object_or_404(tickets_for(request.user),
                               pk=int(ticket_id) if ticket_id.isdigit() else 0)
    try:
        services.attach_call(call=call, ticket=ticket, actor=request.user)
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, "; ".join(getattr(exc, "messages", [str(exc)])))
        return redirect(request.POST.get("next") or "queue")
    return redirect("ticket", pk=ticket.pk)


@require_GET
@desk_required
def overview(request: HttpRequest) -> HttpResponse:
    """Talk minutes this month and the line this week, per partner; the latest calls."""
    user = request.user
    partners = list(partners_for(user).select_related("tariff"))
    today = now().date()
    minutes = queries.talk_minutes_for(partners, today)
    weeks = queries.line_weeks_for(partners, today)
    rows = [
        {"partner": partner, "used": minutes[partner.pk],
         "included": partner.tariff.minutes_included, "week": weeks[partner.pk]}
        for partner in partners
    ]
    calls = list(queries.calls_for(user).select_related("partner", "operator", "ticket")[:50])
    refused = (RawCallEvent.objects.filter(state=RawCallEvent.State.FAILED).count()
               if user.is_provider_staff else None)
    return render(request, "calls/overview.html", {
        "rows": rows, "calls": calls, "refused": refused,
        "backlog": _stale_inbox() if user.is_provider_staff else None,
    })


def _stale_inbox() -> dict[str, Any] | None:
    """How many received events wait to be applied and since when, if for too long."""
    backlog = CallEventInbox.objects.aggregate(count=Count("id"), oldest=Min("received_at"))
    if backlog["oldest"] is None or now() - backlog["oldest"] < INBOX_STALE_AFTER:
        return None
    return backlog
