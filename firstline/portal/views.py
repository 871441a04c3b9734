"""The customer portal: sign in (password or one-time link), my tickets, a new ticket, answer.

The partner in the sign-in URL only chooses whose portal the customer is signing in to;
after that everything is scoped by the signed-in customer through firstline.tenancy.
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _

from firstline.accounts import throttle
from firstline.accounts.client import client_address
from firstline.accounts.views import remember_portal
from firstline.core.models import Partner
from firstline.portal import services as portal_services
from firstline.portal.forms import LoginLinkForm, NewTicketForm, PortalLoginForm
from firstline.telegram import files as telegram_files
from firstline.tenancy import messages_for, tickets_for
from firstline.tickets import services
from firstline.tickets.models import Channel, Message
from firstline.web.access import customer_required
from firstline.web.forms import CustomerMessageForm, add_service_error

_BACKEND = "django.contrib.auth.backends.ModelBackend"


def login_view(request: HttpRequest, slug: str) -> HttpResponse:
    partner = get_object_or_404(Partner, slug=slug, is_active=True)
    password_form = PortalLoginForm(prefix="pw")
    link_form = LoginLinkForm(prefix="link")
    if request.method == "POST" and "pw-email" in request.POST:
        password_form = PortalLoginForm(request.POST, prefix="pw")
        if password_form.is_valid():
            data = password_form.cleaned_data
            try:
                user = portal_services.authenticate_customer(
                    partner, data["email"], data["password"], address=client_address(request)
                )
            except throttle.Locked as locked:
                password_form.add_error(None, locked.message)
            else:
                if user is not None:
                    login(request, user, backend=_BACKEND)
                    return remember_portal(redirect("portal:tickets"), partner)
                password_form.add_error(None, _("Wrong e-mail or password."))
    elif request.method == "POST":
        link_form = LoginLinkForm(request.POST, prefix="link")
        if link_form.is_valid():
            portal_services.request_login_link(
                partner, link_form.cleaned_data["email"], address=client_address(request)
            )
            messages.info(
                request,
                _("If this address belongs to a customer of %(partner)s, a sign-in link is on "
                  "its way. It works once and for %(minutes)d minutes.")
                % {"partner": partner.name, "minutes": settings.FIRSTLINE_LOGIN_LINK_MINUTES},
            )
            return redirect("portal:login", slug=slug)
    context = {"partner": partner, "password_form": password_form, "link_form": link_form}
    return render(request, "portal/login.html", context)


def login_link_view(request: HttpRequest, token: str) -> HttpResponse:
    user = portal_services.user_for_login_token(token)
    if user is None:
        return render(request, "portal/link_invalid.html", status=400)
    if request.method == "POST":
        # Signing in on POST, not GET: mail scanners that prefetch links must not use them up.
        login(request, user, backend=_BACKEND)
        return remember_portal(redirect("portal:tickets"), user.partner)
    return render(request, "portal/link_confirm.html", {"partner": user.partner})


@customer_required
def tickets_view(request: HttpRequest) -> HttpResponse:
    tickets = tickets_for(request.user).select_related("service").order_by("-created_at", "-id")
    page = Paginator(tickets, settings.FIRSTLINE_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "portal/tickets.html", {"page": page, "partner": request.user.partner})


@customer_required
def new_ticket_view(request: HttpRequest) -> HttpResponse:
    form = NewTicketForm(request.POST or None, request.FILES or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            ticket = services.create_ticket(
                partner=request.user.partner,
                actor=request.user,
                channel=Channel.PORTAL,
                contact=request.user.contact,
                subject=data["subject"],
                text=data["text"],
                service=data["service"],
                attachments=data["attachments"],
            )
        except ValidationError as error:
            add_service_error(form, error)
        else:
            messages.success(
                request,
                _("Your request is registered as %(number)s.") % {"number": ticket.number},
            )
            return redirect("portal:ticket", pk=ticket.pk)
    status = 400 if request.method == "POST" else 200
    return render(
        request, "portal/new_ticket.html", {"form": form, "partner": request.user.partner},
        status=status,
    )


@customer_required
def ticket_view(request: HttpRequest, pk: int) -> HttpResponse:
    ticket = get_object_or_404(tickets_for(request.user).select_related("service"), pk=pk)
    form = CustomerMessageForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.add_message(
                ticket=ticket,
                actor=request.user,
                kind=Message.Kind.INBOUND,
                text=form.cleaned_data["text"],
                attachments=form.cleaned_data["attachments"],
            )
        except ValidationError as error:
            add_service_error(form, error)
        else:
            messages.success(request, _("Your answer has been sent."))
            return redirect("portal:ticket", pk=ticket.pk)
    conversation = (
        messages_for(request.user)
        .filter(ticket=ticket)
        .select_related("author", "author_contact")
        .prefetch_related("attachments", telegram_files.unreceived())
    )
    context = {
        "ticket": ticket, "conversation": conversation, "form": form,
        "partner": request.user.partner,
    }
    return render(
        request, "portal/ticket.html", context, status=400 if form.errors else 200
    )
