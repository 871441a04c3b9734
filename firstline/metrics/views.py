"""The metrics pages: the dashboard, the maturity assessment, the monthly reports. Thin:
parse with `services.build_request`, compute, render. Provider staff see every partner;
a partner's manager only their own (tenancy through `firstline.tenancy`)."""

import json
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import F
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from firstline.core.models import Service, User
from firstline.metrics import present, registry, report, services
from firstline.metrics.facts import previous_month
from firstline.metrics.models import MonthlyReport
from firstline.tenancy import partners_for
from firstline.tickets.models import Channel, Priority
from firstline.web.access import _area_required

metrics_required = _area_required(
    lambda user: user.is_provider_staff or user.role == User.Role.MANAGER
)


def _request(request: HttpRequest) -> tuple[services.Request | None, dict[str, str]]:
    params = {key: request.GET.get(key, "").strip() for key in
              ("partner", "month", "start", "end", "service", "priority", "channel")}
    try:
        return services.build_request(request.user, params), {}
    except services.NotFound:
        raise Http404 from None
    except ValidationError as error:
        return None, {field: " ".join(texts) for field, texts in error.message_dict.items()}


def _choices(request: HttpRequest, parsed: services.Request | None) -> dict[str, Any]:
    partners = partners_for(request.user).order_by("name")
    services_qs = Service.objects.filter(partner__in=partners).select_related("partner")
    if parsed is not None and parsed.partner is not None:
        services_qs = services_qs.filter(partner=parsed.partner)
    return {
        "partners": partners if request.user.is_provider_staff else [],
        "services": services_qs.order_by("partner__name", "name"),
        "priorities": Priority.choices,
        "channels": Channel.choices,
        "params": {key: request.GET.get(key, "") for key in
                   ("partner", "month", "start", "end", "service", "priority", "channel")},
    }


def _rows(parsed: services.Request) -> list[dict[str, Any]]:
    figures = services.figures(parsed.scope, parsed.partner)
    before = services.figures(services.previous_scope(parsed.scope, parsed.partner),
                              parsed.partner)
    return present.rows(figures, before)


@require_GET
@metrics_required
def dashboard(request: HttpRequest) -> HttpResponse:
    parsed, errors = _request(request)
    context: dict[str, Any] = {"errors": errors, **_choices(request, parsed)}
    if parsed is not None:
        rows = _rows(parsed)
        drillable = {m.key for m in registry.metrics() if m.tickets is not None}
        for row in rows:
            row["drill"] = row["key"] in drillable
        context.update({
            "parsed": parsed, "levels": present.by_level(rows), "query": request.GET.urlencode(),
            "charts": services.trend_charts(
                services.monthly_trend(parsed.scope, parsed.partner),
                services.targets_for(parsed.partner)),
            "met": sum(row["met"] is True for row in rows),
            "missed": sum(row["met"] is False for row in rows),
        })
        # Partners side by side: provider staff looking at all partners only.
        if request.user.is_provider_staff and parsed.partner is None:
            context["comparison"] = services.compare_partners(parsed.scope)
    return render(request, "metrics/dashboard.html", context, status=400 if errors else 200)


def payload(parsed: services.Request) -> dict[str, Any]:
    """The figures as JSON values: the same numbers as the page and the report."""
    return {
        "partner": parsed.partner.pk if parsed.partner else None,
        "start": parsed.scope.start.isoformat(), "end": parsed.scope.end.isoformat(),
        "filters": parsed.filters,
        "metrics": json.loads(json.dumps(_rows(parsed), default=str)),
    }


@require_GET
@metrics_required
def data(request: HttpRequest) -> HttpResponse:
    """The same figures as JSON."""
    parsed, errors = _request(request)
    if parsed is None:
        return JsonResponse({"detail": errors}, status=422)
    return JsonResponse(payload(parsed))


DRILL_LIMIT = 200


def late_first(key: str) -> list[Any]:
    """False sorts before True: the metric's own deadline first, then the other one."""
    flags = ["reaction_in_time", "resolution_in_time"]
    if key != "reaction_time":
        flags.reverse()
    return [F(flag).asc(nulls_last=True) for flag in flags]


@require_GET
@metrics_required
def drill(request: HttpRequest, key: str) -> HttpResponse:
    """The tickets behind a ticket metric's figure; those past a deadline first."""
    metric = registry.REGISTRY.get(key) if registry.metrics() else None
    if metric is None or metric.tickets is None:
        raise Http404
    parsed, errors = _request(request)
    context: dict[str, Any] = {"errors": errors, "metric": metric, **_choices(request, parsed)}
    if parsed is not None:
        rows = metric.tickets(parsed.scope).select_related("partner", "service")
        total = rows.count()
        context.update({
            "parsed": parsed, "total": total,
            "tickets": rows.order_by(*late_first(key), "created_at")[:DRILL_LIMIT],
            "query": request.GET.urlencode(),
        })
    return render(request, "metrics/drill.html", context, status=400 if errors else 200)


@require_GET
@metrics_required
def assessment(request: HttpRequest) -> HttpResponse:
    parsed, errors = _request(request)
    context: dict[str, Any] = {"errors": errors, **_choices(request, parsed)}
    if parsed is not None and parsed.partner is None:
        errors["partner"] = _("Choose a partner.")
    elif parsed is not None:
        figures = services.figures(parsed.scope, parsed.partner)
        context.update({"parsed": parsed,
                        "assessment": services.assess(parsed.partner, figures)})
    return render(request, "metrics/assessment.html", context)


@metrics_required
def reports(request: HttpRequest) -> HttpResponse:
    """The archive of issued reports; POST issues a new version on demand."""
    partners = partners_for(request.user)
    if request.method == "POST":
        raw = request.POST.get("partner", "")
        if not raw.isdigit():
            messages.error(request, _("Choose a partner."))
            return redirect("metrics:reports")
        partner = get_object_or_404(partners, pk=int(raw))
        try:
            month = services._month(request.POST.get("month", ""))
        except ValidationError:
            messages.error(request, _("Give the month as YYYY-MM."))
            return redirect("metrics:reports")
        language = request.POST.get("language", "ru")
        if language not in report.LANGUAGES:
            messages.error(request, _("Choose the report's language."))
            return redirect("metrics:reports")
        notes = request.POST.get("notes", "")
        if len(notes) > report.MAX_NOTES or "\x00" in notes:
            messages.error(request, _("Notes: at most %(n)d characters.") % {
                "n": report.MAX_NOTES})
            return redirect("metrics:reports")
        issued = report.issue(partner, month, language, actor=request.user, notes=notes)
        messages.success(request, _("Report issued: version %(version)d.") % {
            "version": issued.version})
        return redirect(f"{reverse('metrics:reports')}?partner={partner.pk}")
    rows = MonthlyReport.objects.filter(partner__in=partners).select_related("partner")
    if request.GET.get("partner", "").isdigit():
        rows = rows.filter(partner_id=int(request.GET["partner"]))
    return render(request, "metrics/reports.html", {
        "reports": rows[:200], "partners": partners.order_by("name"),
        # The month a report is usually wanted for: the one just ended.
        "month": previous_month(services.current_month()).strftime("%Y-%m"),
    })


@require_GET
@metrics_required
def report_file(request: HttpRequest, pk: int, kind: str) -> HttpResponse:
    found = get_object_or_404(
        MonthlyReport.objects.filter(partner__in=partners_for(request.user)), pk=pk)
    stored = found.pdf if kind == "pdf" else found.xlsx
    if not stored:
        raise Http404
    return FileResponse(stored.open("rb"), as_attachment=True,
                        filename=stored.name.rsplit("/", 1)[-1])
