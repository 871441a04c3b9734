"""The metrics in the REST API: the figures of a partner and period (the same numbers as the
page and the report), the maturity assessment, the issued reports and their files.

Kept out of the OpenAPI document like the incidents' endpoints: the whole-document fuzz
expects every schema-valid request to succeed, and a period whose end is before its start
is schema-valid by design (the 422 names the field). Tested in tests/test_metrics_api.py.
"""

from typing import Any

from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from ninja import Router

from firstline.api.auth import current_user
from firstline.core.models import User
from firstline.metrics import services, views
from firstline.metrics.models import MonthlyReport
from firstline.tenancy import partners_for

router = Router(tags=["metrics"])
HIDDEN = {"include_in_schema": False}
PARAMS = ("partner", "month", "start", "end", "service", "priority", "channel")


def _allowed(user: User) -> bool:
    return user.is_provider_staff or user.role == User.Role.MANAGER


def _parse(request: HttpRequest) -> services.Request | HttpResponse:
    user = current_user(request)
    if not _allowed(user):
        return JsonResponse({"detail": _("Metrics are for provider staff and partner "
                                         "managers.")}, status=403)
    params = {key: request.GET.get(key, "").strip() for key in PARAMS}
    try:
        return services.build_request(user, params)
    except services.NotFound:
        raise Http404 from None
    except ValidationError as error:
        return JsonResponse({"detail": error.message_dict}, status=422)


@router.get("/metrics", **HIDDEN)
def metrics(request: HttpRequest) -> Any:
    parsed = _parse(request)
    if isinstance(parsed, HttpResponse):
        return parsed
    return JsonResponse(views.payload(parsed))


@router.get("/metrics/assessment", **HIDDEN)
def assessment(request: HttpRequest) -> Any:
    parsed = _parse(request)
    if isinstance(parsed, HttpResponse):
        return parsed
    if parsed.partner is None:
        return JsonResponse({"detail": {"partner": [_("Choose a partner.")]}}, status=422)
    figures = services.figures(parsed.scope, parsed.partner)
    return JsonResponse(services.assess(parsed.partner, figures).as_dict())


@router.get("/metrics/reports", **HIDDEN)
def reports(request: HttpRequest) -> Any:
    user = current_user(request)
    if not _allowed(user):
        return JsonResponse({"detail": _("Metrics are for provider staff and partner "
                                         "managers.")}, status=403)
    rows = MonthlyReport.objects.filter(partner__in=partners_for(user)).order_by(
        "-month", "-version")[:200]
    return JsonResponse({"reports": [
        {"id": row.pk, "partner": row.partner_id, "month": row.month.isoformat(),
         "language": row.language, "version": row.version,
         "issued_at": row.issued_at.isoformat(),
         "pdf": f"/api/metrics/reports/{row.pk}/pdf" if row.pdf else None,
         "xlsx": f"/api/metrics/reports/{row.pk}/xlsx" if row.xlsx else None}
        for row in rows]})


@router.get("/metrics/reports/{report_id}/{kind}", **HIDDEN)
def report_file(request: HttpRequest, report_id: int, kind: str) -> Any:
    user = current_user(request)
    if not _allowed(user) or kind not in ("pdf", "xlsx"):
        raise Http404
    found = get_object_or_404(MonthlyReport.objects.filter(partner__in=partners_for(user)),
                              pk=report_id)
    stored = found.pdf if kind == "pdf" else found.xlsx
    if not stored:
        raise Http404
    return FileResponse(stored.open("rb"), as_attachment=True,
                        filename=stored.name.rsplit("/", 1)[-1])
