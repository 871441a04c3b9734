"""Billing (issue 11, items 1-4): plans, subscriptions, the usage meter and its notices,
invoices computed to the kopeck by hand, immutability, gap-free numbering, bad input."""

import io
import shutil
import subprocess
import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from pypdf import PdfReader

from firstline.billing import services
from firstline.billing.models import (
    Counter,
    FirstMonth,
    Invoice,
    Plan,
    PlanVersion,
    Subscription,
    VatRate,
)
from firstline.calls.models import Call, Direction, Outcome, Source
from firstline.core.models import AuditEvent, User
from firstline.incidents.models import Incident, IncidentTicket
from firstline.outbox.models import OutboxMessage
from firstline.tickets.models import Channel, Ticket
from tests.billing_support import billing_seed  # noqa: F401
from tests.conftest import make_contact, make_user

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("billing_seed")]

MSK = 3  # Moscow is UTC+3 all year


def _with_email(user: User) -> User:
    User.objects.filter(pk=user.pk).update(email=f"{user.username}@partner.example")
    user.refresh_from_db()
    return user


def _plan(code: str) -> Plan:
    return Plan.objects.get(code=code)


def _tickets(partner, contact, count: int, day: date, channel: str = Channel.EMAIL):
    at = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    return Ticket.objects.bulk_create(
        Ticket(partner=partner, contact=contact, channel=channel, subject=f"Request {n}",
               created_at=at + timedelta(minutes=n), updated_at=at)
        for n in range(count)
    )


def _calls(partner, seconds: list[int], day: date):
    at = datetime(day.year, day.month, day.day, 10, tzinfo=UTC)
    Call.objects.bulk_create(
        Call(partner=partner, source=Source.WEBHOOK, external_id=f"{partner.pk}-{day}-{n}",
             direction=Direction.INBOUND, caller=f"+7495000{n:04d}", started_at=at,
             answered_at=at, ended_at=at + timedelta(seconds=talk), talk_seconds=talk,
             outcome=Outcome.ANSWERED)
        for n, talk in enumerate(seconds)
    )


def _at(year: int, month: int, day: int, hour: int = 9) -> datetime:
    return datetime(year, month, day, hour - MSK, tzinfo=UTC)


def test_the_seed_plans_and_vat_rates_are_there():
    start = PlanVersion.objects.get(plan__code="start")
    assert (start.requests_included, start.minutes_included, start.monthly_fee,
            start.first_month_fee, start.overage_request_fee, start.overage_minute_fee,
            start.accounts_included) == (10, 50, Decimal("4900.00"), Decimal("4900.00"),
                                         Decimal("350.00"), Decimal("9.00"), 3)
    assert PlanVersion.objects.get(plan__code="all-inclusive").requests_included == 200
    assert services.vat_percent_for(date(2025, 12, 31)) == Decimal("20.00")
    assert services.vat_percent_for(date(2026, 1, 1)) == Decimal("22.00")


def test_money_rounds_half_up_once_at_the_line():
    assert services.money(Decimal("2.665")) == Decimal("2.67")  # half-even would give 2.66
    assert services.money(Decimal("2.664999")) == Decimal("2.66")


def test_start_partner_first_month_14_requests_63_minutes(cast):
    side = cast.a
    _with_email(side.manager)
    services.subscribe(partner=side.partner, plan=_plan("start"), starts_on=date(2025, 11, 1),
                       actor=cast.supervisor)
    _tickets(side.partner, side.contact, 14, date(2025, 11, 10))
    # Not requests: a monitoring alert, a ticket a partner's engineer opened for himself,
    # the second ticket of a mass incident (the first one counts, it is among the 14).
    _tickets(side.partner, None, 1, date(2025, 11, 11), channel=Channel.MONITORING)
    engineer_contact, _user = make_contact(side.partner, side.organisation, "Eng", "e@a.example")
    User.objects.filter(pk=_user.pk).update(role=User.Role.ENGINEER)
    _tickets(side.partner, engineer_contact, 1, date(2025, 11, 12))
    follower = _tickets(side.partner, side.other_contact, 1, date(2025, 11, 13))[0]
    first = Ticket.objects.filter(partner=side.partner, subject="Request 0").order_by("pk")[0]
    when = datetime(2025, 11, 10, tzinfo=UTC)
    incident = Incident.objects.create(partner=side.partner, title="Outage", started_at=when,
                                       detected_at=when)
    for ticket in (first, follower):
        IncidentTicket.objects.create(partner=side.partner, incident=incident, ticket=ticket)
    # 30 + 30 + 3 (121 s is 3 started minutes) = 63 minutes; a December call is not November's.
    _calls(side.partner, [1800, 1800, 121], date(2025, 11, 20))
    _calls(side.partner, [600], date(2025, 12, 2))

    invoice = services.issue_invoice(side.partner, date(2025, 11, 1), at=_at(2025, 12, 1))

    # fee, first month at the special price: 1 x 4900.00             = 4900.00
    # requests over the plan: (14 - 10) = 4 x 350.00                 = 1400.00
    # talk minutes over the plan: (63 - 50) = 13 x 9.00               =  117.00
    # subtotal 6417.00; VAT 20% (November 2025): 6417.00 x 0.20       = 1283.40
    # total 6417.00 + 1283.40                                         = 7700.40
    assert [(line.code, line.quantity, line.unit_price, line.amount)
            for line in invoice.lines.all()] == [
        ("fee", Decimal("1"), Decimal("4900.00"), Decimal("4900.00")),
        ("requests", Decimal("4"), Decimal("350.00"), Decimal("1400.00")),
        ("minutes", Decimal("13"), Decimal("9.00"), Decimal("117.00")),
    ]
    assert (invoice.subtotal, invoice.vat_percent, invoice.vat, invoice.total) == (
        Decimal("6417.00"), Decimal("20.00"), Decimal("1283.40"), Decimal("7700.40"))
    assert invoice.number == "2025-00001"
    assert len(invoice.usage["tickets"]) == 14
    assert [c["minutes"] for c in invoice.usage["calls"]] == [30, 30, 3]
    assert invoice.usage["calls"][2] == {"date": "2025-11-20 13:00", "number": "+74950000002",
                                         "seconds": 121, "minutes": 3}
    # Mailed to the partner's manager with both files, once.
    mail = OutboxMessage.objects.get(dedupe_key=f"billing-invoice:{invoice.pk}:{side.manager.pk}")
    assert {item["filename"].rsplit(".", 1)[1] for item in mail.attachments} == {"pdf", "xlsx"}
    assert AuditEvent.objects.filter(action="billing.invoice", target_id=str(invoice.pk)).exists()


def test_start_partner_pro_rata_first_month(cast):
    services.subscribe(partner=cast.a.partner, plan=_plan("start"),
                       starts_on=date(2026, 1, 10), first_month=FirstMonth.PRO_RATA, actor=None)
    invoice = services.issue_invoice(cast.a.partner, date(2026, 1, 1), at=_at(2026, 2, 2))
    # 22 of 31 days (10th-31st): 4900.00 x 22 / 31 = 3477.419... -> 3477.42
    # VAT 22% (January 2026): 3477.42 x 0.22 = 765.0324 -> 765.03; total 4242.45
    fee = invoice.lines.get()
    assert (fee.quantity, fee.amount) == (Decimal("0.7097"), Decimal("3477.42"))
    assert (invoice.subtotal, invoice.vat, invoice.total) == (
        Decimal("3477.42"), Decimal("765.03"), Decimal("4242.45"))


def test_optimum_under_its_limits_across_the_vat_change(cast):
    partner = cast.a.partner
    services.subscribe(partner=partner, plan=_plan("optimum"), starts_on=date(2025, 6, 1),
                       actor=None)
    _tickets(partner, cast.a.contact, 30, date(2025, 12, 5))
    _calls(partner, [6000] * 2, date(2025, 12, 8))  # 200 minutes of 300
    _tickets(partner, cast.a.contact, 50, date(2026, 1, 15))  # exactly the plan's 50
    _calls(partner, [18000], date(2026, 1, 16))  # 300 minutes: no overage

    december = services.issue_invoice(partner, date(2025, 12, 1), at=_at(2026, 1, 12))
    january = services.issue_invoice(partner, date(2026, 1, 1), at=_at(2026, 2, 2))

    # December 2025: 13900.00 only; VAT 20% = 2780.00; total 16680.00
    assert [line.code for line in december.lines.all()] == ["fee"]
    assert (december.subtotal, december.vat, december.total) == (
        Decimal("13900.00"), Decimal("2780.00"), Decimal("16680.00"))
    # January 2026: 13900.00; VAT 22% = 3058.00; total 16958.00
    assert (january.vat_percent, january.vat, january.total) == (
        Decimal("22.00"), Decimal("3058.00"), Decimal("16958.00"))
    # Both issued in 2026: numbered 1 and 2 of that year.
    assert (december.number, january.number) == ("2026-00001", "2026-00002")


def test_all_inclusive_after_a_plan_change_with_extra_accounts(cast, time_machine):
    partner = cast.a.partner
    services.subscribe(partner=partner, plan=_plan("optimum"), starts_on=date(2025, 10, 1),
                       actor=None)
    time_machine.move_to(_at(2025, 12, 15))
    row = services.change_plan(partner=partner, plan=_plan("all-inclusive"), extra_accounts=2,
                               actor=cast.supervisor)
    assert row.starts_on == date(2026, 1, 1)
    _tickets(partner, cast.a.contact, 230, date(2026, 1, 20))
    _calls(partner, [6060] * 10, date(2026, 1, 21))  # 10 x 101 = 1010 minutes
    _tickets(partner, cast.a.contact, 3, date(2025, 12, 20))
    time_machine.move_to(_at(2026, 2, 2))

    december = services.issue_invoice(partner, date(2025, 12, 1))
    january = services.issue_invoice(partner, date(2026, 1, 1))

    # December is still Optimum: 13900.00 + 20% 2780.00 = 16680.00
    assert (december.plan_name, december.total) == ("Оптимум", Decimal("16680.00"))
    # January, All inclusive:
    # fee 39900.00; requests (230 - 200) = 30 x 250.00 = 7500.00;
    # minutes (1010 - 1000) = 10 x 7.00 = 70.00; extra accounts 2 x 500.00 = 1000.00
    # subtotal 48470.00; VAT 22% = 10663.40; total 59133.40
    assert [(line.code, line.amount) for line in january.lines.all()] == [
        ("fee", Decimal("39900.00")), ("requests", Decimal("7500.00")),
        ("minutes", Decimal("70.00")), ("accounts", Decimal("1000.00"))]
    assert (january.subtotal, january.vat, january.total) == (
        Decimal("48470.00"), Decimal("10663.40"), Decimal("59133.40"))


def test_reissue_is_refused_and_a_credit_note_allows_a_new_invoice(cast):
    partner = cast.a.partner
    services.subscribe(partner=partner, plan=_plan("start"), starts_on=date(2025, 10, 1),
                       actor=None)
    first = services.issue_invoice(partner, date(2025, 11, 1), at=_at(2025, 12, 1))
    with pytest.raises(ValidationError) as refused:
        services.issue_invoice(partner, date(2025, 11, 1), at=_at(2025, 12, 2))
    assert "month" in refused.value.message_dict
    assert Counter.objects.get(series="INV", year=2025).last == 1

    first.plan_name = "edited"
    with pytest.raises(ValidationError):
        first.save()

    with pytest.raises(ValidationError) as no_reason:
        services.issue_credit_note(first, reason=" ", actor=cast.supervisor)
    assert "reason" in no_reason.value.message_dict
    note = services.issue_credit_note(first, reason="Wrong plan", actor=cast.supervisor,
                                      at=_at(2025, 12, 3))
    assert (note.number, note.total, note.corrects_id) == ("CN-2025-00001", -first.total,
                                                          first.pk)
    with pytest.raises(ValidationError):
        services.issue_credit_note(first, reason="Again", actor=cast.supervisor)
    again = services.issue_invoice(partner, date(2025, 11, 1), at=_at(2025, 12, 3))
    assert again.number == "2025-00002"
    assert Invoice.objects.get(pk=first.pk).plan_name == "Старт"


def test_bad_input_names_the_field_and_issues_nothing(cast):
    partner = cast.a.partner
    with pytest.raises(ValidationError) as negative:
        services.create_plan(code="cheap", name="Cheap", effective_from=date(2027, 1, 1),
                             actor=None, requests_included=-1, minutes_included=10,
                             accounts_included=3, monthly_fee="-1", first_month_fee="0",
                             overage_request_fee="1", overage_minute_fee="1",
                             extra_account_fee="1")
    assert {"requests_included", "monthly_fee"} <= set(negative.value.message_dict)
    assert not Plan.objects.filter(code="cheap").exists()
    with pytest.raises(ValidationError) as past:
        services.add_plan_version(plan=_plan("start"), effective_from=date(2020, 6, 1),
                                  actor=None, requests_included=1, minutes_included=1,
                                  accounts_included=1, monthly_fee="1", first_month_fee="1",
                                  overage_request_fee="1", overage_minute_fee="1",
                                  extra_account_fee="1")
    assert "effective_from" in past.value.message_dict

    services.subscribe(partner=partner, plan=_plan("start"), starts_on=date(2025, 10, 1),
                       actor=None)
    with pytest.raises(ValidationError) as twice:
        services.subscribe(partner=partner, plan=_plan("start"), starts_on=date(2025, 11, 1),
                           actor=None)
    assert "partner" in twice.value.message_dict
    with pytest.raises(ValidationError) as not_over:
        services.issue_invoice(partner, date(2025, 12, 1), at=_at(2025, 12, 31, 20))
    assert "month" in not_over.value.message_dict
    VatRate.objects.all().delete()
    with pytest.raises(ValidationError) as no_vat:
        services.issue_invoice(partner, date(2025, 11, 1), at=_at(2025, 12, 1))
    assert "vat_rate" in no_vat.value.message_dict
    assert not Invoice.objects.exists()
    assert not Counter.objects.filter(last__gt=0).exists()
    assert not OutboxMessage.objects.filter(dedupe_key__startswith="billing").exists()


def test_usage_meter_and_notices_at_80_and_100_percent_once_a_month(cast):
    partner = cast.a.partner
    moment = _at(2026, 3, 20)
    _with_email(cast.a.manager)
    services.subscribe(partner=partner, plan=_plan("start"), starts_on=date(2026, 1, 1),
                       actor=None)
    _tickets(partner, cast.a.contact, 7, date(2026, 3, 2))
    assert services.notify_usage(partner, moment) == 0
    _tickets(partner, cast.a.contact, 1, date(2026, 3, 3))
    found = services.usage(partner, date(2026, 3, 1))
    assert (found.requests, found.requests_included, found.accounts,
            found.accounts_included) == (8, 10, 2, 3)
    assert services.notify_usage(partner, moment) == 1  # 80%: the one manager
    assert services.notify_usage(partner, moment) == 0  # once
    _tickets(partner, cast.a.contact, 2, date(2026, 3, 4))
    assert services.notify_usage(partner, moment) == 1  # 100%
    keys = set(OutboxMessage.objects.filter(dedupe_key__startswith="billing-usage")
               .values_list("dedupe_key", flat=True))
    assert keys == {f"billing-usage:{partner.pk}:2026-03:requests:{t}:{cast.a.manager.pk}"
                    for t in (80, 100)}
    assert OutboxMessage.objects.filter(recipient=cast.a.manager.email).count() == 2


def test_the_clock_issues_last_months_invoice_on_the_first_working_day_once(cast):
    services.subscribe(partner=cast.a.partner, plan=_plan("start"), starts_on=date(2025, 3, 1),
                       actor=None)
    # 2026-01-01..08 are Russian holidays, the 10th/11th a weekend: first working day the 12th.
    assert services.issue_due(_at(2026, 1, 9)) == []
    issued = services.issue_due(_at(2026, 1, 12))
    assert [(i.partner, i.month) for i in issued] == [(cast.a.partner, date(2025, 12, 1))]
    assert services.issue_due(_at(2026, 1, 13)) == []


def test_the_documents_read_back(cast, tmp_path):
    from openpyxl import load_workbook

    partner = cast.a.partner
    services.subscribe(partner=partner, plan=_plan("start"), starts_on=date(2025, 11, 1),
                       actor=None)
    _tickets(partner, cast.a.contact, 12, date(2025, 11, 10))
    _calls(partner, [3000, 70], date(2025, 11, 11))  # 50 + 2 = 52 minutes
    invoice = services.issue_invoice(partner, date(2025, 11, 1), at=_at(2025, 12, 1))

    with invoice.xlsx.open("rb") as handle:
        book = load_workbook(io.BytesIO(handle.read()))
    sheet = book.worksheets[0]
    values = [[cell for cell in row] for row in sheet.iter_rows(values_only=True)]
    assert values[0] == ["Счёт", "2025-00001"] or values[0][1] == "2025-00001"
    # 4900 + 2 x 350 + 2 x 9 = 5618.00; VAT 1123.60; total 6741.60
    assert values[-1][-1] == pytest.approx(6741.60)
    assert [row[0] for row in book.worksheets[1].iter_rows(min_row=2, values_only=True)][:2] \
        == [f"FL-{pk:06d}" for pk in sorted(Ticket.objects.filter(
            partner=partner, created_at__year=2025).values_list("pk", flat=True))[:2]]
    assert book.worksheets[2].max_row == 3  # heading + 2 calls
    book.close()

    with invoice.pdf.open("rb") as handle:
        (tmp_path / "invoice.pdf").write_bytes(handle.read())
    text = " ".join(page.extract_text() for page in PdfReader(tmp_path / "invoice.pdf").pages)
    assert "2025-00001" in text and "6741,60" in text and "1123,60" in text  # ru: comma
    if shutil.which("pdftoppm"):  # what a reader sees (the test leaves it in tmp_path)
        subprocess.run(["pdftoppm", "-png", "-r", "60", str(tmp_path / "invoice.pdf"),
                        str(tmp_path / "page")], check=True)
        assert list(tmp_path.glob("page*.png"))
    assert "FL-" in text and "+74950000001" in text  # the usage detail


def test_pages_and_tenancy(cast):
    from tests.conftest import client_for

    admin = make_user("billing-admin", User.Role.ADMIN)
    services.subscribe(partner=cast.a.partner, plan=_plan("start"), starts_on=date(2025, 11, 1),
                       actor=None)
    services.subscribe(partner=cast.b.partner, plan=_plan("optimum"),
                       starts_on=date(2025, 11, 1), actor=None)
    invoice_b = services.issue_invoice(cast.b.partner, date(2025, 11, 1), at=_at(2025, 12, 1),
                                       documents=False)
    page = client_for(cast.supervisor).get("/billing/")
    assert page.status_code == 200 and "Partner alpha" in page.content.decode()
    assert client_for(admin).get("/billing/plans/").status_code == 200
    figures = {"plan": _plan("start").pk, "effective_from": "2099-01-01",
               "requests_included": "12", "minutes_included": "60", "accounts_included": "3",
               "monthly_fee": "-5", "first_month_fee": "4900", "overage_request_fee": "350",
               "overage_minute_fee": "9", "extra_account_fee": "500",
               "excluded_channels": ["monitoring"]}
    refused = client_for(admin).post("/billing/plans/", figures)
    assert refused.status_code == 422 and "monthly_fee" in refused.content.decode()
    assert PlanVersion.objects.filter(plan__code="start").count() == 1
    saved = client_for(admin).post("/billing/plans/", {**figures, "monthly_fee": "5200.00"})
    assert saved.status_code == 302
    assert PlanVersion.objects.get(plan__code="start", effective_from=date(2099, 1, 1)
                                   ).monthly_fee == Decimal("5200.00")
    assert client_for(cast.a.manager).get("/billing/plans/").status_code == 403

    manager = client_for(cast.a.manager)
    assert manager.get("/billing/").status_code == 302
    own = manager.get(f"/billing/partners/{cast.a.partner.pk}/")
    assert own.status_code == 200
    assert manager.get(f"/billing/partners/{cast.b.partner.pk}/").status_code == 404
    assert manager.post(f"/billing/partners/{cast.a.partner.pk}/",
                        {"action": "issue", "month": "2025-11"}).status_code == 403
    assert client_for(cast.a.customer).get("/billing/").status_code == 403
    assert client_for(cast.operator).get("/billing/").status_code == 403

    api = manager.get("/api/billing/invoices")
    assert api.status_code == 200 and api.json()["items"] == []
    assert manager.get(f"/api/billing/invoices/{invoice_b.pk}").status_code == 404
    staff = client_for(cast.supervisor).get("/api/billing/invoices").json()["items"]
    # Optimum's first month at the special price: 4900.00 + 20% 980.00 = 5880.00
    assert [(item["number"], item["total"]) for item in staff] == [("2025-00001", "5880.00")]
    usage = manager.get("/api/billing/usage").json()
    assert [row["partner_id"] for row in usage] == [cast.a.partner.pk]

    # The supervisor issues, with a bad month named.
    bad = client_for(cast.supervisor).post(f"/billing/partners/{cast.a.partner.pk}/",
                                           {"action": "issue", "month": "2099-01"})
    assert bad.status_code == 422
    ok = client_for(cast.supervisor).post(f"/billing/partners/{cast.a.partner.pk}/",
                                          {"action": "issue", "month": "2025-11"})
    assert ok.status_code == 302
    assert Invoice.objects.filter(partner=cast.a.partner).count() == 1
    assert Subscription.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_concurrent_issuers_number_without_gaps_and_invoice_a_month_once(cast):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's row locks: SQLite has one writer at a time anyway")
    for side in (cast.a, cast.b):
        services.subscribe(partner=side.partner, plan=_plan("start"),
                           starts_on=date(2025, 10, 1), actor=None)
    barrier = threading.Barrier(3)
    results: list[str] = []

    def issue(partner) -> None:
        try:
            barrier.wait(timeout=30)
            invoice = services.issue_invoice(partner, date(2025, 11, 1), at=_at(2025, 12, 1),
                                             documents=False)
            results.append(invoice.number)
        except ValidationError as error:
            results.append(f"refused:{','.join(error.message_dict)}")
        finally:
            connection.close()

    # Two workers race for alpha's November, a third issues beta's at the same moment.
    threads = [threading.Thread(target=issue, args=(partner,))
               for partner in (cast.a.partner, cast.a.partner, cast.b.partner)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(results) == ["2025-00001", "2025-00002", "refused:month"]
    assert Counter.objects.get(series="INV", year=2025).last == 2


def test_the_demo_command_subscribes_partners_to_their_tariffs_plan(cast):
    from django.core.management import call_command

    out = io.StringIO()
    call_command("billing_demo", stdout=out)
    rows = Subscription.objects.order_by("partner__slug")
    assert [(row.partner.slug, row.plan.code) for row in rows] == [("alpha", "start"),
                                                                   ("beta", "start")]
    call_command("billing_demo", stdout=out)  # once
    assert rows.count() == 2
