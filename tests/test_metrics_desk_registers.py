"""KPI targets and the evidence registers on the desk (a supervisor is not `is_staff`, so
Django admin is out of reach): list, add, revise; audited; bad input refused by field with
nothing changed; a partner's manager reads their own partner's rows and edits nothing."""

from datetime import date

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from firstline.core.models import AuditEvent, User
from firstline.metrics import services
from firstline.metrics.models import Evidence, MetricTarget
from tests.conftest import client_for, make_user


@pytest.fixture
def ru(cast):
    client = client_for(cast.supervisor)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "ru"
    return client


def test_supervisor_sets_and_revises_targets(cast, ru):
    url = reverse("metrics:targets")
    assert ru.post(url, {"metric": "reaction_time", "target": "90"}).status_code == 302
    provider_wide = MetricTarget.objects.get(partner=None, metric="reaction_time")
    assert provider_wide.target == pytest.approx(0.9)
    assert provider_wide.revised_by == cast.supervisor
    assert ru.post(url, {"metric": "reaction_time", "target": "80",
                         "partner": cast.a.partner.pk}).status_code == 302
    # A revision changes the row in place, dated and signed, with the value before audited.
    assert ru.post(url, {"metric": "reaction_time", "target": "85",
                         "partner": cast.a.partner.pk}).status_code == 302
    own = MetricTarget.objects.get(partner=cast.a.partner, metric="reaction_time")
    assert own.target == pytest.approx(0.85) and own.revised_at == date.today()
    event = AuditEvent.objects.filter(action="metrics.target_revised").get()
    assert event.before["target"] == pytest.approx(0.8)
    assert event.after["target"] == pytest.approx(0.85)
    assert services.targets_for(cast.a.partner)["reaction_time"] == pytest.approx(0.85)
    assert services.targets_for(cast.b.partner)["reaction_time"] == pytest.approx(0.9)
    page = ru.get(url).content.decode()
    assert "Время реакции" in page and "85 %" in page and "Все партнёры" in page


def test_target_bad_input_is_refused_by_field_and_changes_nothing(cast, ru):
    url = reverse("metrics:targets")
    over = ru.post(url, {"metric": "reaction_time", "target": "150"})
    assert over.status_code == 400 and "Доля — от 0 до 100%" in over.content.decode()
    negative = ru.post(url, {"metric": "requests_count", "target": "-1"})
    assert negative.status_code == 400
    assert "Норматив не может быть отрицательным" in negative.content.decode()
    unknown = ru.post(url, {"metric": "no_such_metric", "target": "1"})
    assert unknown.status_code == 400 and 'id="id_metric"' in unknown.content.decode()
    # Another partner than the user's may not be named (a manager cannot post at all).
    manager = client_for(cast.a.manager)
    assert manager.post(url, {"metric": "reaction_time", "target": "50"}).status_code == 403
    assert not MetricTarget.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="metrics.").exists()


def test_evidence_add_revise_and_bad_input(cast, ru):
    url = reverse("metrics:evidence")
    document = SimpleUploadedFile("plan.pdf", b"%PDF-1.4 plan", content_type="application/pdf")
    added = ru.post(url, {"kind": Evidence.Kind.SERVICE_PLAN, "title": "План управления услугами",
                          "person": "Иванова", "held_on": "2026-11-01",
                          "next_due": "2027-11-01", "partner": cast.a.partner.pk,
                          "document": document})
    assert added.status_code == 302
    record = Evidence.objects.get()
    assert record.partner == cast.a.partner and record.document.name.endswith(".pdf")
    assert AuditEvent.objects.filter(action="metrics.evidence_added", actor=cast.supervisor)
    # The next due date before the date held: refused by name; the record unchanged.
    page = reverse("metrics:evidence-record", args=[record.pk])
    refused = ru.post(page, {"kind": Evidence.Kind.SERVICE_PLAN, "title": "Другое",
                             "person": "Иванова", "held_on": "2026-11-01",
                             "next_due": "2026-10-01", "partner": cast.a.partner.pk})
    assert refused.status_code == 400
    assert "Следующий срок не может быть раньше 01.11.2026" in refused.content.decode()
    record.refresh_from_db()
    assert record.title == "План управления услугами"
    blank = ru.post(url, {"kind": Evidence.Kind.CONTROL, "title": " ", "person": "",
                          "held_on": "2026-11-01"})
    assert blank.status_code == 400 and Evidence.objects.count() == 1
    revised = ru.post(page, {"kind": Evidence.Kind.SERVICE_PLAN, "title": "План на 2027",
                             "person": "Иванова", "held_on": "2026-11-01",
                             "next_due": "2027-06-01", "partner": cast.a.partner.pk})
    assert revised.status_code == 302
    record.refresh_from_db()
    assert record.title == "План на 2027" and record.next_due == date(2027, 6, 1)
    assert record.document  # kept when no new file is sent
    event = AuditEvent.objects.get(action="metrics.evidence_revised")
    assert event.before["title"] == "План управления услугами"
    # The assessment sees the register.
    assert "План на 2027" in ru.get(url).content.decode()


def test_tenancy_of_the_registers(cast, ru):
    mine = Evidence.objects.create(partner=cast.a.partner, kind=Evidence.Kind.CONTROL,
                                   title="Контроль A", person="A", held_on=date(2026, 11, 1))
    theirs = Evidence.objects.create(partner=cast.b.partner, kind=Evidence.Kind.CONTROL,
                                     title="Контроль B", person="B", held_on=date(2026, 11, 1))
    MetricTarget.objects.create(partner=cast.b.partner, metric="csat", target=80)
    manager = client_for(cast.a.manager)
    listing = manager.get(reverse("metrics:evidence")).content.decode()
    assert "Контроль A" in listing and "Контроль B" not in listing
    assert manager.get(reverse("metrics:evidence-record", args=[theirs.pk])).status_code == 404
    own = manager.get(reverse("metrics:evidence-record", args=[mine.pk]))
    assert own.status_code == 200
    assert 'enctype="multipart/form-data"' not in own.content.decode()  # read only
    assert manager.post(reverse("metrics:evidence-record", args=[mine.pk]),
                        {"title": "x"}).status_code == 403
    assert cast.b.partner.name not in manager.get(reverse("metrics:targets")).content.decode()
    # An operator reads, and cannot change; another partner in the form is not a choice.
    operator = client_for(cast.operator)
    assert operator.get(reverse("metrics:targets")).status_code == 200
    assert operator.post(reverse("metrics:targets"), {"metric": "csat",
                                                      "target": "1"}).status_code == 403
    admin = make_user("boss", User.Role.ADMIN)
    assert client_for(admin).post(reverse("metrics:targets"), {
        "metric": "csat", "target": "90", "partner": "999999"}).status_code == 400
    assert client_for(cast.a.engineer).get(reverse("metrics:targets")).status_code == 403
    assert "Контроль B" in ru.get(reverse("metrics:evidence")).content.decode()
