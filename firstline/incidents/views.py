"""Thin views: the alert webhooks, the unsubscribe link and the public status page."""

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import feedgenerator
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from firstline.core.models import Partner
from firstline.incidents import alerts, services, status

MAX_ALERT_BODY = 1024 * 1024


@csrf_exempt
@require_POST
def alert_webhook(request: HttpRequest, token: str) -> HttpResponse:
    """POST /incidents/alerts/<token>/: a monitoring system's payload, of the source's kind."""
    source = alerts.source_for(token)
    if source is None:
        return JsonResponse({"detail": _("Not found.")}, status=404)
    if len(request.body) > MAX_ALERT_BODY:
        return JsonResponse({"detail": _("The payload is too large.")}, status=413)
    try:
        payload = json.loads(request.body or b"null")
    except ValueError:
        return JsonResponse({"detail": _("The body is not JSON."),
                             "errors": [{"field": "body", "message": _("Not JSON.")}]},
                            status=400)
    try:
        touched = alerts.receive(source, payload)
    except ValidationError as exc:
        errors = [{"field": field, "message": message}
                  for field, messages in exc.message_dict.items() for message in messages]
        return JsonResponse({"detail": _("Invalid alert: %(fields)s.") % {
            "fields": ", ".join(error["field"] for error in errors)}, "errors": errors},
            status=422)
    return JsonResponse({"alerts": [
        {"fingerprint": alert.fingerprint, "state": alert.state,
         "incident_id": alert.incident_id, "ticket_id": alert.ticket_id,
         "parked_reason": alert.parked_reason}
        for alert in touched]})


@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows a button (mail scanners follow links); POST unsubscribes (RFC 8058 too)."""
    if request.method == "POST":
        try:
            services.unsubscribe(token)
        except ValidationError:
            return render(request, "incidents/unsubscribe.html", {"invalid": True}, status=400)
        return render(request, "incidents/unsubscribe.html", {"done": True})
    return render(request, "incidents/unsubscribe.html", {"token": token})


def _partner(slug: str) -> Partner:
    return get_object_or_404(Partner, slug=slug, is_active=True)


def _language(request: HttpRequest) -> str:
    language = (get_language() or "ru")[:2]
    return language if language in status.LANGUAGES else "ru"


def status_page(request: HttpRequest, slug: str) -> HttpResponse:
    """The partner's public status page: no sign-in, the partner's name only."""
    language = _language(request)

    def build() -> bytes:
        partner = _partner(slug)
        page = render(request, "incidents/status.html", {"data": status.status_of(partner)})
        return page.content

    try:
        content = status.cached(slug, language, "page", build)
    except Http404:
        raise
    response = HttpResponse(content)
    response["Cache-Control"] = f"public, max-age={status.TTL_SECONDS}"
    return response


def status_feed(request: HttpRequest, slug: str) -> HttpResponse:
    """Atom: the partner's incidents and planned works of the last 90 days."""
    language = _language(request)

    def build() -> str:
        partner = _partner(slug)
        data = status.status_of(partner)
        link = request.build_absolute_uri(reverse("incidents:status", args=[slug]))
        feed = feedgenerator.Atom1Feed(
            title=_("%(partner)s: service status") % {"partner": partner.name},
            link=link, description="", language=language, feed_url=request.build_absolute_uri())
        items: list[Any] = [*data.current, *data.history]
        for incident in items:
            feed.add_item(
                title=incident.title, link=f"{link}#incident-{incident.pk}",
                unique_id=f"{link}#incident-{incident.pk}",
                description=", ".join(service.name for service in incident.services.all()),
                pubdate=incident.started_at, updateddate=incident.ended_at or incident.started_at)
        for works in data.planned:
            feed.add_item(title=works.title, link=f"{link}#works-{works.pk}",
                          unique_id=f"{link}#works-{works.pk}",
                          description=", ".join(s.name for s in works.services.all()),
                          pubdate=works.created_at)
        return feed.writeString("utf-8")

    return HttpResponse(status.cached(slug, language, "feed", build),
                        content_type="application/atom+xml; charset=utf-8")


@require_http_methods(["GET", "POST"])
def subscribe(request: HttpRequest, slug: str) -> HttpResponse:
    """The status page's subscription form (not cached: it carries a CSRF token)."""
    partner = _partner(slug)
    context: dict[str, Any] = {"partner": partner}
    if request.method == "POST":
        try:
            services.request_subscription(partner=partner, address=request.POST.get("email", ""))
        except ValidationError as exc:
            context["errors"] = exc.messages
            return render(request, "incidents/subscribe.html", context, status=422)
        context["sent"] = True
    return render(request, "incidents/subscribe.html", context)


@require_http_methods(["GET", "POST"])
def subscribe_confirm(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows a button (mail scanners follow links); POST confirms."""
    if request.method == "POST":
        try:
            services.confirm_subscription(token)
        except ValidationError as exc:
            return render(request, "incidents/subscribe.html",
                          {"errors": exc.messages}, status=400)
        return render(request, "incidents/subscribe.html", {"confirmed": True})
    return render(request, "incidents/subscribe.html", {"confirm": True})
