"""The SLA documents in the REST API: the generated versions a user may see (provider
supervisors and administrators: every partner's; a partner's manager: their partner's), and
each version's DOCX or PDF. Generating stays on the desk page, where the partner's settings
are edited."""

from typing import Any, Literal

from django.http import FileResponse, Http404, HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from ninja import Field as NinjaField
from ninja import Query, Router, Schema
from pydantic import ConfigDict

from firstline.agreements import services
from firstline.agreements.models import AgreementVersion
from firstline.api.auth import current_user
from firstline.api.fields import Id
from firstline.api.schemas import COMMON_ERRORS, ErrorOut, InvalidInputOut
from firstline.tenancy import partners_for

router = Router(tags=["agreements"])
FILE_TYPES = {
    services.DOCX_TYPE: {"schema": {"type": "string", "format": "binary"}},
    "application/pdf": {"schema": {"type": "string", "format": "binary"}},
}


class VersionsQuery(Schema):
    model_config = ConfigDict(extra="forbid")

    partner: Id | None = NinjaField(None, description="Only this partner's versions.")


class VersionOut(Schema):
    id: int
    partner: int
    version: int
    language: str
    policy: str
    created_at: str
    sections: list[str]
    docx: str | None
    pdf: str | None


class VersionsOut(Schema):
    versions: list[VersionOut]


def _refused() -> JsonResponse:
    return JsonResponse({"detail": _(
        "SLA documents are for provider supervisors, administrators and partner managers.")},
        status=403)


@router.get("/agreements", response={200: VersionsOut, **COMMON_ERRORS})
def versions(request: HttpRequest, query: Query[VersionsQuery]) -> Any:
    """The generated SLA document versions, newest first (at most 200)."""
    user = current_user(request)
    if not services.can_use(user):
        return _refused()
    rows = AgreementVersion.objects.filter(partner__in=partners_for(user))
    if query.partner is not None:
        rows = rows.filter(partner_id=query.partner)
    rows = rows.order_by("partner_id", "-version")[:200]
    return JsonResponse({"versions": [
        {"id": row.pk, "partner": row.partner_id, "version": row.version,
         "language": row.language, "policy": row.snapshot.get("policy", ""),
         "created_at": row.created_at.isoformat(),
         "sections": [f"{s['number']}. {s['title']}" for s in row.snapshot.get("sections", [])],
         "docx": f"/api/agreements/{row.pk}/docx" if row.docx else None,
         "pdf": f"/api/agreements/{row.pk}/pdf" if row.pdf else None}
        for row in rows]})


@router.get("/agreements/{version_id}/{kind}",
            response={401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: InvalidInputOut,
                      503: ErrorOut},
            openapi_extra={"responses": {"200": {"description": "The file.",
                                                 "content": FILE_TYPES}}})
def version_file(request: HttpRequest, version_id: Id, kind: Literal["docx", "pdf"]) -> Any:
    """A generated SLA document's DOCX or PDF file."""
    user = current_user(request)
    if not services.can_use(user):
        raise Http404
    found = get_object_or_404(
        AgreementVersion.objects.filter(partner__in=partners_for(user)), pk=version_id)
    stored = found.docx if kind == "docx" else found.pdf
    if not stored:
        raise Http404
    return FileResponse(stored.open("rb"), as_attachment=True,
                        filename=stored.name.rsplit("/", 1)[-1])
