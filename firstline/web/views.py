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
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from firstline.core.audit import events_for
from firstline.core.clock import now
from firstline.outbox.queries import pending_for_ticket
from firstline.quality import macros
from firstline.sla import countdown
from firstline.tenancy import attachments_for, messages_for, tickets_for
from firstline.tickets import merge as merging
from firstline.tickets import services
from firstline.tickets.models import Ticket
from firstline.web import drafts, pending_steps, queues
from firstline.web.access import desk_required
from firstline.web.confirm import confirm_delete
from firstline.web.forms import MessageForm, QueueFilterForm, TicketUpdateForm, add_service_error
from firstline.web.paging import BoundedPaginator
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
    tickets = queues.page_queue(user, filters)
    page = BoundedPaginator(tickets, settings.FIRSTLINE_PAGE_SIZE).get_page(
        request.GET.get("page"))
    countdown.attach(page.object_list, now())
    context = {
        "form": form,
        "page": page,
        "rows": queues.queue_rows(page.object_list),
        "partner_column": not user.is_partner_user,  # a partner sees only its own
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
        .prefetch_related("attachments", "telegram_files", "inbound_letters")
    )
    message_form = forms.get("message_form")
    if message_form is None:
        # The reply draft of this user survives a reload (saved as typed, web.drafts).
        draft = drafts.draft_for(ticket, request.user)
        message_form = MessageForm(initial=drafts.initial(draft))
    staff = request.user.is_provider_staff
    return {
        "ticket": ticket,
        "conversation": conversation,
        "events": events_for(ticket).order_by("-created_at", "-id"),
        "message_form": message_form,
        "update_form": forms.get("update_form")
        or TicketUpdateForm(ticket=ticket, user=request.user),
        "greeting": ticket.partner.greeting_script(request.user.display_name),
        "outgoing": pending_for_ticket(ticket.pk) if staff else (),
        "reply_templates": macros.reply_templates(ticket) if staff else (),
        "notice": forms.get("notice", ""),
        "resolve_errors": forms.get("resolve_errors", ()),
        "refused": forms.get("refused", False),
        # «Объединить с…»: what was typed and why it was refused, under the field.
        "merge_into": forms.get("merge_into", ""),
        "merge_errors": forms.get("merge_errors", ()),
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


def answer(request: HttpRequest, pk: int, *, done: str = "", reason: str = "",
           **bound: Any) -> HttpResponse:
    """The answer to a change made on the ticket page.

    HTMX: the ticket page rendered again (200, or 422 with the refusal in place); the page
    swaps the parts it asked for, so nothing reloads. Otherwise post/redirect/get on success,
    and on a refusal the page with the errors (ticket.js puts the ticket's address back, so
    a reload shows the ticket, never a 405). `reason` says in the notice why, where no
    field can show it.
    """
    refused = not done
    if not is_htmx(request):
        if not refused:
            messages.success(request, done)
            return redirect("ticket", pk=pk)
        ticket = _get_ticket(request, pk)
        return render(request, "web/ticket.html", _ticket_context(request, ticket, **bound),
                      status=400)
    ticket = _get_ticket(request, pk)  # read again: the change is in it
    notice = done or reason or _("Not done: see what is marked.")
    context = _ticket_context(request, ticket, notice=notice, refused=refused, **bound)
    return render(request, "web/ticket.html", context, status=422 if refused else 200)


@desk_required
def ticket_view(request: HttpRequest, pk: int) -> HttpResponse:
    ticket = _get_ticket(request, pk)
    return render(request, "web/ticket.html", _ticket_context(request, ticket))


def _back_to_ticket(request: HttpRequest, pk: int) -> HttpResponse | None:
    # A reload or a bookmark of an action's address shows the ticket instead of a 405.
    return None if request.method == "POST" else redirect("ticket", pk=pk)


@desk_required
@require_http_methods(["GET", "POST"])
def add_message_view(request: HttpRequest, pk: int) -> HttpResponse:
    """A reply or note; «Send and resolve» / «Send and hand over» do the rest at once."""
    if back := _back_to_ticket(request, pk):
        return back
    ticket = _get_ticket(request, pk)
    form = MessageForm(request.POST, request.FILES)
    then = request.POST.get("then", "")
    pending = (
        pending_steps.save_pending(ticket, request.user, request.POST)
        if then == macros.Then.HAND_OVER else {}
    )
    if pending:
        return answer(request, pk, message_form=form, **pending)
    if form.is_valid():
        try:
            macros.send_reply(
                ticket=ticket,
                actor=request.user,
                kind=form.cleaned_data["kind"],
                text=form.cleaned_data["text"],
                attachments=form.cleaned_data["attachments"],
                reply_kind=form.cleaned_data["reply_kind"],
                then=then,
            )
        except ValidationError as error:
            add_service_error(form, error)
        else:
            drafts.discard(ticket, request.user)
            done = {macros.Then.RESOLVE: _("Sent; the ticket is resolved."),
                    macros.Then.HAND_OVER: _("Sent; the ticket is handed over to the partner.")}
            return answer(request, pk, done=done.get(then, _("Message added.")))
    return answer(request, pk, message_form=form)


@desk_required
@require_POST
def draft_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Keep the reply as typed (the editor posts it after a pause): 204, nothing to swap."""
    ticket = _get_ticket(request, pk)
    drafts.save(ticket, request.user, text=request.POST.get("text", ""),
                kind=request.POST.get("kind", ""),
                reply_kind=request.POST.get("reply_kind", ""))
    return HttpResponse(status=204)


@desk_required
@require_http_methods(["GET", "POST"])
def update_ticket_view(request: HttpRequest, pk: int) -> HttpResponse:
    if back := _back_to_ticket(request, pk):
        return back
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
            return answer(request, pk, done=_("Ticket updated."))
    return answer(request, pk, update_form=form)


@desk_required
@require_POST
def take_over_view(request: HttpRequest, pk: int) -> HttpResponse:
    ticket = _get_ticket(request, pk)
    services.take_over(ticket=ticket, actor=request.user)
    return answer(request, pk, done=_("You have taken the ticket over."))


@desk_required
@require_http_methods(["GET", "POST"])
def resolve_view(request: HttpRequest, pk: int) -> HttpResponse:
    if back := _back_to_ticket(request, pk):
        return back
    ticket = _get_ticket(request, pk)
    try:
        services.change_ticket(
            ticket=ticket, actor=request.user, change=services.TicketChange(status="resolved")
        )
    except ValidationError as error:
        if not is_htmx(request):
            for text in error.messages:
                messages.error(request, text)
            return redirect("ticket", pk=ticket.pk)
        return answer(request, pk, reason=" ".join(error.messages),
                      resolve_errors=error.messages)
    return answer(request, pk, done=_("Ticket resolved."))


@login_required
def attachment_view(request: HttpRequest, pk: int) -> FileResponse:
    attachment = get_object_or_404(attachments_for(request.user), pk=pk)
    return FileResponse(
        attachment.file.open("rb"), as_attachment=True, filename=attachment.filename
    )


@desk_required
@require_http_methods(["GET", "POST"])
def spam_view(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: confirm; POST: mark the ticket as spam (closed, nobody mailed)."""
    ticket = _get_ticket(request, pk)
    title = _("Mark %(number)s as spam") % {"number": ticket.number}
    back = reverse("ticket", args=[pk])
    if request.method == "POST":
        try:
            merging.mark_spam(ticket=ticket, actor=request.user)
        except ValidationError as error:
            return confirm_delete(request, title=title, question="", cancel_url=back,
                                  refusal=error.messages, status=400)
        return answer(request, pk, done=_("Marked as spam; the ticket is closed."))
    return confirm_delete(
        request, title=title, cancel_url=back, button=_("Mark as spam"),
        question=_("Mark “%(subject)s” as spam? The ticket is closed and the customer gets "
                   "no letter; it does not count as a request.") % {"subject": ticket.subject},
    )


@desk_required
@require_http_methods(["GET", "POST"])
def unspam_view(request: HttpRequest, pk: int) -> HttpResponse:
    """POST: not spam after all (the ticket stays closed)."""
    if back := _back_to_ticket(request, pk):
        return back
    ticket = _get_ticket(request, pk)
    merging.unmark_spam(ticket=ticket, actor=request.user)
    return answer(request, pk, done=_("The spam mark is removed; the ticket stays closed."))


@desk_required
@require_http_methods(["GET", "POST"])
def merge_view(request: HttpRequest, pk: int) -> HttpResponse:
    """GET ?into=FL-…: confirm the merge (or show why not, under the field); POST: merge."""
    ticket = _get_ticket(request, pk)
    typed = (request.POST if request.method == "POST" else request.GET).get("into", "")
    try:
        target = merging.find_target(request.user, typed)
        refusals = merging.merge_refusals(ticket, target)
        if refusals:
            raise ValidationError(refusals)
        if request.method == "POST":
            merging.merge(source=ticket, target=target, actor=request.user)
    except ValidationError as error:
        return answer(request, pk, reason=" ".join(error.messages), merge_into=typed,
                      merge_errors=error.messages)
    if request.method == "POST":
        messages.success(request, _("%(source)s is merged into %(target)s.")
                         % {"source": ticket.number, "target": target.number})
        return redirect("ticket", pk=target.pk)
    return confirm_delete(
        request, title=_("Merge %(source)s into %(target)s") % {
            "source": ticket.number, "target": target.number},
        cancel_url=reverse("ticket", args=[pk]), button=_("Merge"),
        hidden={"into": str(target.pk)},
        question=_("Merge %(source)s «%(source_subject)s» into %(target)s «%(target_subject)s»? "
                   "Its messages move to %(target)s, it is closed, and nobody is mailed.") % {
            "source": ticket.number, "source_subject": ticket.subject,
            "target": target.number, "target_subject": target.subject},
    )
