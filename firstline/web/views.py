"""The desk: the queue and the ticket page for provider staff and partner accounts.

Views parse, call a service, render. Which tickets a user can reach is decided by
firstline.tenancy; a ticket outside it is a 404 exactly like a missing one.
"""

from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from firstline.core.audit import events_for
from firstline.core.clock import now
from firstline.outbox.queries import pending_for_ticket
from firstline.sla import countdown
from firstline.tenancy import attachments_for, messages_for, tickets_for
from firstline.tickets import services
from firstline.tickets.models import Ticket
from firstline.web import queues
from firstline.web.access import desk_required
from firstline.web.forms import MessageForm, QueueFilterForm, TicketUpdateForm, add_service_error
from firstline.web.script_forms import checklist_context


def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    if not user.is_authenticated:
        return redirect("login")
    if user.is_customer:
        return redirect("portal:tickets")
    return redirect("queue")


def is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


@desk_required
def queue_view(request: HttpRequest) -> HttpResponse:
    """The queue; its filters are remembered per user and restored when none are given."""
    user = request.user
    params = queues.filter_params(request.GET)
    if request.GET.get("reset"):
        queues.forget(user)
    elif not params:
        params = queues.saved_filters(user)
    form = QueueFilterForm(params or None, user=user)
    filters = form.to_filter()
    if params and form.is_valid() and not request.GET.get("reset"):
        queues.remember(user, params)
    tickets = queues.user_queue(user, filters)
    page = Paginator(tickets, settings.FIRSTLINE_PAGE_SIZE).get_page(request.GET.get("page"))
    countdown.attach(page.object_list, now())
    context = {
        "form": form,
        "page": page,
        "query": urlencode(params),
        "views": queues.status_views(params, filters.status),
        "restored": bool(params) and not queues.filter_params(request.GET),
    }
    template = "web/queue.html#results" if is_htmx(request) else "web/queue.html"
    return render(request, template, context)


@desk_required
def next_ticket_view(request: HttpRequest) -> HttpResponse:
    """«Следующая заявка»: the next one due in the user's remembered queue."""
    after = request.GET.get("after", "")
    ticket = queues.next_ticket(request.user, after=int(after) if after.isdigit() else None)
    if ticket is None:
        messages.info(request, _("No more tickets in your queue."))
        return redirect("queue")
    return redirect("ticket", pk=ticket.pk)


def _ticket_context(request: HttpRequest, ticket: Ticket, **forms: Any) -> dict[str, Any]:
    countdown.attach([ticket], now())
    conversation = (
        messages_for(request.user)
        .filter(ticket=ticket)
        .select_related("author", "author_contact")
        .prefetch_related("attachments")
    )
    return {
        "ticket": ticket,
        "conversation": conversation,
        "events": events_for(ticket).order_by("-created_at", "-id"),
        "message_form": forms.get("message_form") or MessageForm(),
        "update_form": forms.get("update_form")
        or TicketUpdateForm(ticket=ticket, user=request.user),
        "greeting": ticket.partner.greeting_script(request.user.display_name),
        "outgoing": pending_for_ticket(ticket.pk) if request.user.is_provider_staff else (),
        # The script's checklist card (web/script/checklist.html); bound forms after an error.
        **checklist_context(request.user, ticket, forms),
    }


def _get_ticket(request: HttpRequest, pk: int) -> Ticket:
    return get_object_or_404(
        tickets_for(request.user).select_related(
            "partner", "contact", "contact__organisation", "assignee", "service",
            "sla_policy", "typical_request",
        ),
        pk=pk,
    )


@desk_required
def ticket_view(request: HttpRequest, pk: int) -> HttpResponse:
    ticket = _get_ticket(request, pk)
    return render(request, "web/ticket.html", _ticket_context(request, ticket))


@desk_required
@require_POST
def add_message_view(request: HttpRequest, pk: int) -> HttpResponse:
    ticket = _get_ticket(request, pk)
    form = MessageForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            services.add_message(
                ticket=ticket,
                actor=request.user,
                kind=form.cleaned_data["kind"],
                text=form.cleaned_data["text"],
                attachments=form.cleaned_data["attachments"],
                reply_kind=form.cleaned_data["reply_kind"],
            )
        except ValidationError as error:
            add_service_error(form, error)
        else:
            messages.success(request, _("Message added."))
            return redirect("ticket", pk=ticket.pk)
    context = _ticket_context(request, ticket, message_form=form)
    return render(request, "web/ticket.html", context, status=400)


@desk_required
@require_POST
def update_ticket_view(request: HttpRequest, pk: int) -> HttpResponse:
    ticket = _get_ticket(request, pk)
    form = TicketUpdateForm(request.POST, ticket=ticket, user=request.user)
    if form.is_valid():
        change = services.TicketChange(
            status=form.cleaned_data["status"],
            priority=form.cleaned_data["priority"],
            assignee=form.cleaned_data["assignee"],
        )
        try:
            services.change_ticket(ticket=ticket, actor=request.user, change=change)
        except ValidationError as error:
            add_service_error(form, error)
        else:
            messages.success(request, _("Ticket updated."))
            return redirect("ticket", pk=ticket.pk)
    context = _ticket_context(request, ticket, update_form=form)
    return render(request, "web/ticket.html", context, status=400)


@desk_required
@require_POST
def take_over_view(request: HttpRequest, pk: int) -> HttpResponse:
    ticket = _get_ticket(request, pk)
    services.take_over(ticket=ticket, actor=request.user)
    messages.success(request, _("You have taken the ticket over."))
    return redirect("ticket", pk=ticket.pk)


@desk_required
@require_POST
def resolve_view(request: HttpRequest, pk: int) -> HttpResponse:
    ticket = _get_ticket(request, pk)
    try:
        services.change_ticket(
            ticket=ticket, actor=request.user, change=services.TicketChange(status="resolved")
        )
    except ValidationError as error:
        for text in error.messages:
            messages.error(request, text)
    else:
        messages.success(request, _("Ticket resolved."))
    return redirect("ticket", pk=ticket.pk)


@login_required
def attachment_view(request: HttpRequest, pk: int) -> FileResponse:
    attachment = get_object_or_404(attachments_for(request.user), pk=pk)
    return FileResponse(
        attachment.file.open("rb"), as_attachment=True, filename=attachment.filename
    )
