"""Billing in the REST API (read-only): issued invoices and credit notes with their lines and
files, and this month's usage against the plan. Provider staff see every partner, a
partner's manager its own; other accounts get a 403."""

from datetime import date
from decimal import Decimal
from typing import Any, Literal

from django.db.models import QuerySet
from django.http import FileResponse, Http404, HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema

from firstline.api.auth import current_user
from firstline.api.fields import Id
from firstline.api.pagination import PageParams, paginate
from firstline.api.schemas import COMMON_ERRORS, NOT_FOUND, ErrorOut, InvalidInputOut
from firstline.billing import services
from firstline.billing.models import Invoice
from firstline.core.models import User
from firstline.tenancy import partners_for

router = Router(tags=["billing"])
FILE_TYPES = {
    "application/pdf": {"schema": {"type": "string", "format": "binary"}},
    services.XLSX_TYPE: {"schema": {"type": "string", "format": "binary"}},
}


# A Literal, not the model's `Kind` choices: ninja names an enum's schema after its class,
# and tickets' Message.Kind is a "Kind" too.
InvoiceKind = Literal["invoice", "credit_note"]


class InvoiceFilters(PageParams):
    partner_id: Id | None = None
    kind: InvoiceKind | None = None


class InvoiceLineOut(Schema):
    description: str
    quantity: Decimal
    unit: str
    unit_price: Decimal
    amount: Decimal


class InvoiceOut(Schema):
    id: int
    number: str
    kind: InvoiceKind
    partner_id: int
    month: date
    plan_name: str
    subtotal: Decimal = Field(description="Excluding VAT, RUB.")
    vat_percent: Decimal
    vat: Decimal
    total: Decimal = Field(description="Including VAT, RUB.")
    corrects: str | None = Field(description="A credit note: the number of the invoice it "
                                             "cancels.")
    issued_at: str
    pdf: str | None
    xlsx: str | None
    lines: list[InvoiceLineOut]


class InvoicePage(Schema):
    items: list[InvoiceOut]
    next_cursor: str | None


class BillingUsageOut(Schema):
    partner_id: int
    month: date
    plan: str
    requests: int
    requests_included: int
    minutes: int
    minutes_included: int
    accounts: int
    accounts_included: int


def _allowed(user: User) -> bool:
    return user.is_provider_staff or user.role == User.Role.MANAGER


def _refused() -> JsonResponse:
    return JsonResponse({"detail": _("Billing is for provider staff and partner managers.")},
                        status=403)


def _invoices(user: User) -> QuerySet[Invoice]:
    return (Invoice.objects.filter(partner__in=partners_for(user))
            .select_related("corrects").prefetch_related("lines"))


def _out(row: Invoice) -> dict[str, Any]:
    return {
        "id": row.pk, "number": row.number, "kind": row.kind, "partner_id": row.partner_id,
        "month": row.month, "plan_name": row.plan_name, "subtotal": row.subtotal,
        "vat_percent": row.vat_percent, "vat": row.vat, "total": row.total,
        "corrects": row.corrects.number if row.corrects else None,
        "issued_at": row.issued_at.isoformat(),
        "pdf": f"/api/billing/invoices/{row.pk}/pdf" if row.pdf else None,
        "xlsx": f"/api/billing/invoices/{row.pk}/xlsx" if row.xlsx else None,
        "lines": [{"description": line.description, "quantity": line.quantity,
                   "unit": line.unit, "unit_price": line.unit_price, "amount": line.amount}
                  for line in row.lines.all()],
    }


@router.get("/billing/invoices", response={200: InvoicePage, **COMMON_ERRORS})
def list_invoices(request: HttpRequest, filters: Query[InvoiceFilters]) -> Any:
    """Issued invoices and credit notes you can see, newest first."""
    user = current_user(request)
    if not _allowed(user):
        return _refused()
    rows = _invoices(user)
    if filters.partner_id is not None:
        rows = rows.filter(partner_id=filters.partner_id)
    if filters.kind is not None:
        rows = rows.filter(kind=filters.kind)
    items, next_cursor = paginate(rows, filters)
    return {"items": [_out(row) for row in items], "next_cursor": next_cursor}


@router.get("/billing/invoices/{invoice_id}",
            response={200: InvoiceOut, **COMMON_ERRORS, **NOT_FOUND})
def get_invoice(request: HttpRequest, invoice_id: Id) -> Any:
    user = current_user(request)
    if not _allowed(user):
        return _refused()
    return _out(get_object_or_404(_invoices(user), pk=invoice_id))


@router.get("/billing/invoices/{invoice_id}/{kind}",
            response={401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: InvalidInputOut,
                      503: ErrorOut},
            openapi_extra={"responses": {"200": {"description": "The file.",
                                                 "content": FILE_TYPES}}})
def invoice_file(request: HttpRequest, invoice_id: Id, kind: Literal["pdf", "xlsx"]) -> Any:
    """An issued invoice's PDF, or its XLSX with the usage detail."""
    user = current_user(request)
    if not _allowed(user):
        return _refused()
    found = get_object_or_404(_invoices(user), pk=invoice_id)
    stored = found.pdf if kind == "pdf" else found.xlsx
    if not stored:
        raise Http404
    return FileResponse(stored.open("rb"), as_attachment=True,
                        filename=stored.name.rsplit("/", 1)[-1])


@router.get("/billing/usage", response={200: list[BillingUsageOut], **COMMON_ERRORS})
def usage(request: HttpRequest) -> Any:
    """This month's requests, talk minutes and accounts of each subscribed partner you can
    see, against its plan."""
    user = current_user(request)
    if not _allowed(user):
        return _refused()
    out = []
    for partner in partners_for(user).select_related("tariff").order_by("pk"):
        found = services.usage(partner)
        if found is None:
            continue
        out.append({"partner_id": partner.pk, "month": found.month, "plan": found.plan,
                    "requests": found.requests, "requests_included": found.requests_included,
                    "minutes": found.minutes, "minutes_included": found.minutes_included,
                    "accounts": found.accounts, "accounts_included": found.accounts_included})
    return out
