"""The seller's requisites (issue 11, remainder a): set by the administrator (audited),
printed on the invoice PDF and XLSX, and kept by an issued invoice when they change."""

import io
from datetime import UTC, date, datetime

import pytest
from django.core.exceptions import ValidationError
from openpyxl import load_workbook
from pypdf import PdfReader

from firstline.billing import services
from firstline.billing.models import Invoice, Plan, Seller
from firstline.core.models import AuditEvent, User
from tests.billing_support import billing_seed  # noqa: F401
from tests.conftest import client_for, make_user

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("billing_seed")]

REQUISITES = {
    "name": "ООО «Первая линия»", "inn": "7701234567", "kpp": "770101001",
    "address": "125009, Москва, ул. Тверская, д. 1", "bank": "ПАО Сбербанк",
    "bic": "044525225", "account": "40702810900000000001",
    "correspondent_account": "30101810400000000225",
}
NOVEMBER = date(2025, 11, 1)
ISSUED_AT = datetime(2025, 12, 1, 6, tzinfo=UTC)


def test_bad_requisites_are_refused_naming_the_fields():
    with pytest.raises(ValidationError) as refused:
        services.set_seller(actor=None, **{**REQUISITES, "inn": "12345", "bic": "04452522x",
                                           "account": "", "kpp": "1"})
    assert set(refused.value.message_dict) == {"inn", "bic", "account", "kpp"}
    assert not Seller.objects.exists()


def test_an_invoice_keeps_the_requisites_it_was_issued_with(cast):
    admin = make_user("admin", User.Role.ADMIN)
    services.set_seller(actor=admin, **REQUISITES)
    services.subscribe(partner=cast.a.partner, plan=Plan.objects.get(code="start"),
                       starts_on=date(2025, 10, 1), actor=None)
    invoice = services.issue_invoice(cast.a.partner, NOVEMBER, at=ISSUED_AT, mail=False)
    services.set_seller(actor=admin, **{**REQUISITES, "name": "ООО «Новое имя»"})
    event = AuditEvent.objects.filter(action="billing.seller").order_by("id").last()
    assert (event.actor, event.before["name"], event.after["name"]) == (
        admin, REQUISITES["name"], "ООО «Новое имя»")

    stored = Invoice.objects.get(pk=invoice.pk)
    assert stored.seller == REQUISITES
    with stored.pdf.open("rb") as handle:
        text = " ".join(page.extract_text() for page in PdfReader(handle).pages)
    assert "Первая линия" in text and "7701234567 / 770101001" in text
    assert "40702810900000000001" in text and "Новое имя" not in text
    with stored.xlsx.open("rb") as handle:
        sheet = load_workbook(io.BytesIO(handle.read())).worksheets[0]
    cells = [value for row in sheet.iter_rows(values_only=True) for value in row if value]
    assert REQUISITES["name"] in cells and REQUISITES["account"] in cells
    # The batch path carries the requisites in force, as the single path does.
    services.subscribe(partner=cast.b.partner, plan=Plan.objects.get(code="start"),
                       starts_on=date(2025, 10, 1), actor=None)
    batch = services.issue_month(NOVEMBER, at=ISSUED_AT, documents=False)
    assert [i.seller["name"] for i in batch] == ["ООО «Новое имя»"]


def test_only_the_administrator_edits_the_requisites_on_the_plans_page(cast):
    admin = make_user("admin", User.Role.ADMIN)
    form = {"action": "seller", **REQUISITES}
    assert client_for(cast.supervisor).post("/billing/plans/", form).status_code == 403
    bad = client_for(admin).post("/billing/plans/", {**form, "inn": "1"})
    assert bad.status_code == 422 and "inn" in bad.content.decode()
    assert client_for(admin).post("/billing/plans/", form).status_code == 302
    assert services.seller_requisites() == REQUISITES
    page = client_for(cast.supervisor).get("/billing/plans/").content.decode()
    assert "7701234567" in page
