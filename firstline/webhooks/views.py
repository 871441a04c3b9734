"""The webhook pages: subscriptions, the secret shown once, the delivery log. Thin."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from firstline.tenancy import partners_for
from firstline.webhooks import services, signing
from firstline.webhooks.forms import NewSubscriptionForm, SubscriptionForm, add_domain_errors
from firstline.webhooks.models import Subscription

LOG_SIZE = 100


def manager_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not services.may_manage(request.user):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper


def _new_form(request: HttpRequest) -> NewSubscriptionForm:
    user = request.user
    return NewSubscriptionForm(
        request.POST or None, partners=partners_for(user).order_by("name"),
        provider_wide=services.is_provider_manager(user),
        initial={"partner": str(user.partner_id or "")},
    )


@never_cache
@manager_required
def subscription_list(request: HttpRequest) -> HttpResponse:
    form = _new_form(request)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                subscription, secret = services.create_subscription(
                    actor=request.user, partner=data["partner"], url=data["url"],
                    events=data["events"], name=data["name"])
            except ValidationError as error:
                add_domain_errors(form, error)
            else:
                return _show_secret_once(request, subscription, secret)
        status = 422
    subscriptions = services.manageable_for(request.user).select_related("partner")
    return render(request, "webhooks/list.html",
                  {"subscriptions": subscriptions, "form": form}, status=status)


def _page(request: HttpRequest, subscription: Subscription, *, form: SubscriptionForm | None
          = None, secret: str = "", status: int = 200) -> HttpResponse:
    form = form or SubscriptionForm(initial={
        "name": subscription.name, "url": subscription.url, "events": subscription.events,
        "is_active": subscription.is_active})
    context = {
        "subscription": subscription, "form": form, "secret": secret,
        "deliveries": services.deliveries_for(subscription)[:LOG_SIZE],
        "signature_header": signing.SIGNATURE_HEADER,
    }
    return render(request, "webhooks/subscription.html", context, status=status)


def _subscription(request: HttpRequest, pk: int) -> Subscription:
    return get_object_or_404(
        services.manageable_for(request.user).select_related("partner"), pk=pk)


def _secret_key(pk: int) -> str:
    return f"webhooks:secret:{pk}"


def _show_secret_once(request: HttpRequest, subscription: Subscription,
                      secret: str) -> HttpResponse:
    """Redirect to the subscription's page, which shows the secret once: a reload (or the
    back button) neither shows it again nor repeats the POST. Until that page is opened the
    secret waits in the server-side session."""
    request.session[_secret_key(subscription.pk)] = secret
    return redirect("webhooks:subscription", subscription.pk)


@never_cache
@manager_required
def subscription_page(request: HttpRequest, pk: int) -> HttpResponse:
    subscription = _subscription(request, pk)
    if request.method != "POST":
        return _page(request, subscription,
                     secret=request.session.pop(_secret_key(subscription.pk), ""))
    form = SubscriptionForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            services.update_subscription(
                actor=request.user, subscription=subscription, url=data["url"],
                events=data["events"], name=data["name"], is_active=data["is_active"])
        except ValidationError as error:
            add_domain_errors(form, error)
            subscription.refresh_from_db()
        else:
            messages.success(request, _("The subscription is saved."))
            return redirect("webhooks:subscription", pk)
    return _page(request, subscription, form=form, status=422)


@manager_required
@require_POST
def rotate(request: HttpRequest, pk: int) -> HttpResponse:
    subscription = _subscription(request, pk)
    secret = services.rotate_secret(actor=request.user, subscription=subscription)
    return _show_secret_once(request, subscription, secret)


@manager_required
@require_POST
def delete(request: HttpRequest, pk: int) -> HttpResponse:
    subscription = _subscription(request, pk)
    services.delete_subscription(actor=request.user, subscription=subscription)
    messages.success(request, _("The subscription is deleted."))
    return redirect("webhooks:list")


@manager_required
@require_POST
def send_again(request: HttpRequest, pk: int, delivery_pk: int) -> HttpResponse:
    subscription = _subscription(request, pk)
    delivery = get_object_or_404(subscription.deliveries.select_related("subscription"),
                                 pk=delivery_pk)
    try:
        services.send_again(actor=request.user, delivery=delivery)
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
    else:
        messages.success(request, _("The event will be sent again."))
    return redirect("webhooks:subscription", pk)
