"""The metrics in the REST API: the figures of a partner and period (the same numbers as the
page and the report), the maturity assessment, the issued reports and their files.

The query parameters are typed in the OpenAPI document (ids, months and days as patterns,
priorities and channels as enums); what no schema can say (a period whose end is before its
start, a service of another partner, an assessment without a partner) is a 422 naming the
field, in the body every API error has (firstline/api/errors.py).
"""

from typing import Annotated, Any, Literal

from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from ninja import Field as NinjaField
from ninja import Query, Router, Schema
from ninja.errors import ValidationError as SchemaValidationError
from pydantic import ConfigDict, Field

from firstline.api.auth import current_user
from firstline.api.fields import Id
from firstline.api.schemas import COMMON_ERRORS, NOT_FOUND, ErrorOut, InvalidInputOut
from firstline.core.models import User
from firstline.metrics import services, views
from firstline.metrics.models import MonthlyReport
from firstline.tenancy import partners_for
from firstline.tickets.models import Channel, Priority

router = Router(tags=["metrics"])
MONTH_PATTERN = r"^2\d{3}-(0[1-9]|1[0-2])$"
DAY_PATTERN = r"^2\d{3}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$"
Month = Annotated[str, Field(pattern=MONTH_PATTERN, examples=["2026-11"])]
Day = Annotated[str, Field(pattern=DAY_PATTERN, examples=["2026-11-30"])]


class MetricsQuery(Schema):
    model_config = ConfigDict(extra="forbid")

    partner: Id | None = NinjaField(None, description="Ignored for a partner's manager.")
    month: Month | None = None
    start: Day | None = NinjaField(None, description="With `end`: a period instead of a month.")
    end: Day | None = None
    service: Id | None = None
    priority: Priority | None = None
    channel: Channel | None = None


class ReportOut(Schema):
    id: int
    partner: int
    month: str
    language: str
    version: int
    issued_at: str
    pdf: str | None
    xlsx: str | None


class ReportsOut(Schema):
    reports: list[ReportOut]


FIGURES = {200: dict[str, Any], **COMMON_ERRORS, **NOT_FOUND}
FILE_TYPES = {
    "application/pdf": {"schema": {"type": "string", "format": "binary"}},
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
        "schema": {"type": "string", "format": "binary"}},
}


def _allowed(user: User) -> bool:
    return user.is_provider_staff or user.role == User.Role.MANAGER


def _refused() -> JsonResponse:
    return JsonResponse({"detail": _("Metrics are for provider staff and partner managers.")},
                        status=403)


def _invalid(error: ValidationError) -> SchemaValidationError:
    # Raised as the query's own errors: the 422 then names the query parameters the client
    # sent ("partner", not the bodies' "partner_id"), in the API's error body.
    return SchemaValidationError([
        {"loc": ("query", field), "msg": message}
        for field, messages in error.message_dict.items() for message in messages])


def _parse(request: HttpRequest, query: MetricsQuery) -> services.Request | HttpResponse:
    user = current_user(request)
    if not _allowed(user):
        return _refused()
    params = {key: "" if value is None else str(value)
              for key, value in query.dict().items()}
    try:
        return services.build_request(user, params)
    except services.NotFound:
        raise Http404 from None
    except ValidationError as error:
        raise _invalid(error) from None


@router.get("/metrics", response=FIGURES)
def metrics(request: HttpRequest, query: Query[MetricsQuery]) -> Any:
    """The figures of a partner (or all visible partners) for a month or a period."""
    parsed = _parse(request, query)
    if isinstance(parsed, HttpResponse):
        return parsed
    return JsonResponse(views.payload(parsed))


@router.get("/metrics/assessment", response=FIGURES)
def assessment(request: HttpRequest, query: Query[MetricsQuery]) -> Any:
    """The maturity assessment of one partner; without a partner, a 422 naming it."""
    parsed = _parse(request, query)
    if isinstance(parsed, HttpResponse):
        return parsed
    if parsed.partner is None:
        raise _invalid(ValidationError({"partner": _("Choose a partner.")}))
    figures = services.figures(parsed.scope, parsed.partner)
    return JsonResponse(services.assess(parsed.partner, figures).as_dict())


@router.get("/metrics/reports", response={200: ReportsOut, **COMMON_ERRORS})
def reports(request: HttpRequest) -> Any:
    user = current_user(request)
    if not _allowed(user):
        return _refused()
    rows = MonthlyReport.objects.filter(partner__in=partners_for(user)).order_by(
        "-month", "-version")[:200]
    return JsonResponse({"reports": [
        {"id": row.pk, "partner": row.partner_id, "month": row.month.isoformat(),
         "language": row.language, "version": row.version,
         "issued_at": row.issued_at.isoformat(),
         "pdf": f"/api/metrics/reports/{row.pk}/pdf" if row.pdf else None,
         "xlsx": f"/api/metrics/reports/{row.pk}/xlsx" if row.xlsx else None}
        for row in rows]})


@router.get("/metrics/reports/{report_id}/{kind}",
            response={401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: InvalidInputOut,
                      503: ErrorOut},
            openapi_extra={"responses": {"200": {"description": "The file.",
                                                 "content": FILE_TYPES}}})
def report_file(request: HttpRequest, report_id: Id, kind: Literal["pdf", "xlsx"]) -> Any:
    """An issued report's PDF or XLSX file."""
    user = current_user(request)
    if not _allowed(user):
        raise Http404
    found = get_object_or_404(MonthlyReport.objects.filter(partner__in=partners_for(user)),
                              pk=report_id)
    stored = found.pdf if kind == "pdf" else found.xlsx
    if not stored:
        raise Http404
    return FileResponse(stored.open("rb"), as_attachment=True,
                        filename=stored.name.rsplit("/", 1)[-1])
