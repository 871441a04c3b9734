"""Billing's batch path (issue 11, the 1,000-invoice aim): `issue_month` issues exactly the
invoice `issue_invoice` gives, once per partner and month, numbered without gaps, also
with two runs at once; the files are rendered and mailed afterwards, once."""

import io
import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction

from firstline.billing import services
from firstline.billing.models import Counter, FirstMonth, Invoice, Plan, Subscription
from firstline.calls.models import Call, Direction, Outcome, Source
from firstline.core.models import AuditEvent, Partner, Tariff, User
from firstline.incidents.models import Incident, IncidentTicket
from firstline.outbox.models import OutboxMessage
from firstline.tickets.models import Channel, Ticket
from tests.billing_support import billing_seed  # noqa: F401
from tests.conftest import make_contact

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("billing_seed")]

NOVEMBER = date(2025, 11, 1)
ISSUED_AT = datetime(2025, 12, 1, 6, tzinfo=UTC)  # 9:00 in Moscow, 11:00 in Yekaterinburg


class _RolledBack(Exception):
    pass


def _tickets(partner, contact, count: int, day: date, channel: str = Channel.EMAIL):
    at = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    return Ticket.objects.bulk_create(
        Ticket(partner=partner, contact=contact, channel=channel, subject=f"Request {n}",
               created_at=at + timedelta(minutes=7 * n, seconds=n), updated_at=at)
        for n in range(count))


def _calls(partner, seconds: list[int], day: date, outcome: str = Outcome.ANSWERED):
    at = datetime(day.year, day.month, day.day, 10, tzinfo=UTC)
    Call.objects.bulk_create(
        Call(partner=partner, source=Source.WEBHOOK, external_id=f"{partner.pk}-{day}-{n}",
             direction=Direction.INBOUND, caller=f"+7495000{n:04d}",
             started_at=at + timedelta(minutes=n), answered_at=at,
             ended_at=at + timedelta(seconds=talk), talk_seconds=talk, outcome=outcome)
        for n, talk in enumerate(seconds))


def _varied_partners(cast) -> list[Partner]:
    """alpha: Start, first month pro rata, Moscow, with tickets that do not count; beta:
    All inclusive after Optimum with extra accounts, Yekaterinburg, English, per-second
    minutes."""
    alpha, beta = cast.a.partner, cast.b.partner
    services.subscribe(partner=alpha, plan=Plan.objects.get(code="start"),
                       starts_on=date(2025, 11, 10), first_month=FirstMonth.PRO_RATA,
                       actor=None)
    _tickets(alpha, cast.a.contact, 14, date(2025, 11, 10))
    _tickets(alpha, None, 2, date(2025, 11, 11), channel=Channel.MONITORING)
    engineer_contact, engineer = make_contact(alpha, cast.a.organisation, "Eng", "e@a.example")
    User.objects.filter(pk=engineer.pk).update(role=User.Role.ENGINEER)
    _tickets(alpha, engineer_contact, 1, date(2025, 11, 12))
    follower = _tickets(alpha, cast.a.other_contact, 1, date(2025, 11, 13))[0]
    first = Ticket.objects.filter(partner=alpha).order_by("pk")[0]
    when = datetime(2025, 11, 10, tzinfo=UTC)
    incident = Incident.objects.create(partner=alpha, title="Outage", started_at=when,
                                       detected_at=when)
    for ticket in (first, follower):
        IncidentTicket.objects.create(partner=alpha, incident=incident, ticket=ticket)
    _calls(alpha, [1800, 1800, 121], date(2025, 11, 20))
    _calls(alpha, [600], date(2025, 11, 21), outcome=Outcome.ABANDONED)
    _tickets(alpha, cast.a.contact, 3, date(2025, 12, 2))  # December's: not November's

    tariff = Tariff.objects.get(pk=beta.tariff_id)
    tariff.pk, tariff.code = None, "per-second"
    tariff.minute_rounding = Tariff.MinuteRounding.PER_SECOND
    tariff.save()
    Partner.objects.filter(pk=beta.pk).update(time_zone="Asia/Yekaterinburg", language="en",
                                              tariff=tariff)
    Subscription.objects.create(partner=beta, plan=Plan.objects.get(code="optimum"),
                                starts_on=date(2025, 6, 1))
    Subscription.objects.create(partner=beta, plan=Plan.objects.get(code="all-inclusive"),
                                starts_on=date(2025, 11, 1), extra_accounts=2)
    _tickets(beta, cast.b.contact, 230, date(2025, 11, 3))
    # 19:30 UTC on 31 October is 00:30 on 1 November in Yekaterinburg: November's.
    _tickets(beta, cast.b.contact, 1, date(2025, 10, 31))
    Ticket.objects.filter(partner=beta, created_at__date=date(2025, 10, 31)).update(
        created_at=datetime(2025, 10, 31, 19, 30, tzinfo=UTC))
    _calls(beta, [6061] * 10, date(2025, 11, 21))
    return list(Partner.objects.filter(pk__in=[alpha.pk, beta.pk]).select_related("tariff")
                .order_by("pk"))


def _snapshot(invoice: Invoice) -> dict:
    row = {field.attname: getattr(invoice, field.attname)
           for field in Invoice._meta.concrete_fields if field.attname != "id"}
    row["pdf"], row["xlsx"] = invoice.pdf.name, invoice.xlsx.name
    row["lines"] = [
        {field.attname: getattr(line, field.attname)
         for field in line._meta.concrete_fields if field.attname not in ("id", "invoice_id")}
        for line in invoice.lines.order_by("position")]
    row["audit"] = [(event.actor_id, event.partner_id, event.action, event.target_type,
                     event.before, event.after)
                    for event in AuditEvent.objects.filter(target_type="invoice",
                                                           target_id=str(invoice.pk))]
    return row


def test_the_batch_issues_exactly_the_invoice_of_the_single_path(cast):
    partners = _varied_partners(cast)
    singles = []
    with pytest.raises(_RolledBack), transaction.atomic():
        for partner in partners:
            invoice = services.issue_invoice(partner, NOVEMBER, at=ISSUED_AT, documents=False,
                                             mail=False)
            singles.append(_snapshot(Invoice.objects.get(pk=invoice.pk)))
        raise _RolledBack
    assert not Invoice.objects.exists()

    batch = services.issue_month(NOVEMBER, at=ISSUED_AT, documents=False, mail=False)

    assert [invoice.partner_id for invoice in batch] == [p.pk for p in partners]
    stored = [_snapshot(Invoice.objects.get(pk=invoice.pk)) for invoice in batch]
    for single, batched in zip(singles, stored, strict=True):
        assert batched.keys() == single.keys()
        for key in single:
            assert batched[key] == single[key], key
    # What the cases above are about, so that a match is not a match of two empty invoices.
    alpha, beta = stored
    assert [line["code"] for line in alpha["lines"]] == ["fee", "requests", "minutes"]
    assert alpha["usage"]["requests"] == 14 and len(alpha["usage"]["calls"]) == 3
    assert beta["usage"]["requests"] == 231 and beta["usage"]["minutes"] == 1011
    assert beta["lines"][0]["description"] == "Всё включено, monthly fee"  # English letters
    assert beta["usage"]["tickets"][0]["date"] == "2025-11-01 00:30"
    assert [line["code"] for line in beta["lines"]] == ["fee", "requests", "minutes",
                                                        "accounts"]


def test_the_batch_invoices_a_month_once_and_only_when_it_is_over(cast):
    partners = _varied_partners(cast)
    alpha, beta = partners
    # 23:30 on 30 November in Moscow is 01:30 on 1 December in Yekaterinburg.
    evening = datetime(2025, 11, 30, 20, 30, tzinfo=UTC)
    assert [i.partner_id for i in services.issue_month(NOVEMBER, at=evening,
                                                       documents=False)] == [beta.pk]
    single = services.issue_invoice(alpha, NOVEMBER, at=ISSUED_AT, documents=False)
    assert services.issue_month(NOVEMBER, at=ISSUED_AT, documents=False) == []
    assert sorted(Invoice.objects.values_list("number", flat=True)) == ["2025-00001",
                                                                        "2025-00002"]
    assert Counter.objects.get(series="INV", year=2025).last == 2
    with pytest.raises(ValidationError):
        services.issue_invoice(alpha, NOVEMBER, at=ISSUED_AT)
    # A credit note opens the month again, for the batch as for the single path.
    services.issue_credit_note(single, reason="Wrong plan", actor=cast.supervisor,
                               at=ISSUED_AT)
    again = services.issue_month(NOVEMBER, at=ISSUED_AT, documents=False)
    assert [(i.partner_id, i.number) for i in again] == [(alpha.pk, "2025-00003")]


def test_the_clock_issues_the_due_partners_together(cast):
    partners = _varied_partners(cast)
    issued = services.issue_due(datetime(2025, 12, 1, 9, tzinfo=UTC), documents=False)
    assert sorted(i.partner_id for i in issued) == [p.pk for p in partners]
    assert services.issue_due(datetime(2025, 12, 2, 9, tzinfo=UTC), documents=False) == []


def test_the_files_are_rendered_and_mailed_after_commit_once(cast,
                                                             django_capture_on_commit_callbacks):
    partners = _varied_partners(cast)
    User.objects.filter(pk=cast.a.manager.pk).update(email="manager@alpha.example")
    with django_capture_on_commit_callbacks(execute=True):
        issued = services.issue_month(NOVEMBER, at=ISSUED_AT, partners=partners[:1])
    invoice = Invoice.objects.get(pk=issued[0].pk)
    assert invoice.pdf.name.endswith(".pdf") and invoice.xlsx.name.endswith(".xlsx")
    with invoice.pdf.open("rb") as pdf:
        assert pdf.read(4) == b"%PDF"
    mail = OutboxMessage.objects.get(recipient="manager@alpha.example",
                                     dedupe_key__startswith="billing-invoice:")
    assert {item["path"] for item in mail.attachments} == {invoice.pdf.name,
                                                           invoice.xlsx.name}
    # A task run twice (or by two workers) renders and mails once.
    assert services.attach_documents(invoice.pk) is False
    assert OutboxMessage.objects.filter(dedupe_key__startswith="billing-invoice:").count() == 1
    assert Invoice.objects.get(pk=invoice.pk).pdf.name == invoice.pdf.name


@pytest.mark.django_db(transaction=True)
def test_two_batches_and_a_single_issuer_at_once_invoice_each_partner_once(cast):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's row locks: SQLite has one writer at a time anyway")
    partners = _varied_partners(cast)
    barrier = threading.Barrier(3)
    results: list[list[str]] = []

    def run(work) -> None:
        try:
            barrier.wait(timeout=30)
            results.append(work())
        except ValidationError as error:
            results.append([f"refused:{','.join(error.message_dict)}"])
        finally:
            connection.close()

    def batch() -> list[str]:
        return [i.number for i in services.issue_month(NOVEMBER, at=ISSUED_AT,
                                                       documents=False)]

    def single() -> list[str]:
        return [services.issue_invoice(partners[1], NOVEMBER, at=ISSUED_AT,
                                       documents=False).number]

    threads = [threading.Thread(target=run, args=(work,)) for work in (batch, batch, single)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    numbers = sorted(n for result in results for n in result if not n.startswith("refused"))
    assert numbers == ["2025-00001", "2025-00002"]
    assert sorted(Invoice.objects.values_list("partner_id", flat=True)) == [p.pk
                                                                            for p in partners]
    assert Counter.objects.get(series="INV", year=2025).last == 2


def test_the_demo_seed_subscribes_its_partners_so_usage_shows(db):
    from django.core.management import call_command

    call_command("seed_demo", stdout=io.StringIO())
    rows = Subscription.objects.select_related("partner__tariff", "plan")
    assert sorted((row.partner.tariff.code, row.plan.code) for row in rows) == sorted(
        [("start", "start"), ("optimum", "optimum"), ("all-inclusive", "all-inclusive")])
    for row in rows:
        found = services.usage(row.partner)
        assert found is not None and found.requests > 0


def test_the_pdf_lists_every_request_and_call(cast):
    from pypdf import PdfReader

    partner = cast.a.partner
    services.subscribe(partner=partner, plan=Plan.objects.get(code="start"),
                       starts_on=date(2025, 10, 1), actor=None)
    tickets = _tickets(partner, cast.a.contact, 230, date(2025, 11, 3))
    _calls(partner, [61] * 210, date(2025, 11, 4))
    invoice = services.issue_invoice(partner, NOVEMBER, at=ISSUED_AT, mail=False)
    with invoice.pdf.open("rb") as handle:
        text = " ".join(page.extract_text() for page in PdfReader(handle).pages)
    last = max(ticket.pk for ticket in tickets)
    assert f"FL-{last:06d}" in text  # beyond the 200 rows the PDF used to stop at
    assert text.count("+7495000") == 210
