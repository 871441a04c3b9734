"""The partner's SLA document (F36): ten sections filled from the partner's real settings,
read back from the DOCX (real headings and tables) and the PDF; versions with what changed;
tenancy; a partner without an SLA policy refused by name with nothing stored."""

import io
import shutil
import subprocess
from datetime import time
from decimal import Decimal
from pathlib import Path

import pytest
from docx import Document
from pypdf import PdfReader

from firstline.agreements import services
from firstline.agreements.models import AgreementVersion, AuthorisedPerson, CompensationRule
from firstline.core.models import AuditEvent, User
from firstline.incidents.models import MaintenancePolicy, MaintenanceWindow
from firstline.sla.models import (
    BusinessCalendar,
    SlaPolicy,
    SlaTarget,
    TypicalRequest,
    UrgencyRule,
    WorkingInterval,
)
from tests.conftest import client_for, make_user


@pytest.fixture
def settings_a(cast):
    partner = cast.a.partner
    partner.legal_name = "ООО «Альфа Хостинг»"
    partner.support_phone = "+7 495 123-45-67"
    partner.save()
    calendar = BusinessCalendar.objects.create(partner=partner, name="Альфа: Пн–Пт 9–18",
                                               time_zone="Asia/Yekaterinburg")
    WorkingInterval.objects.bulk_create(
        WorkingInterval(calendar=calendar, weekday=day, start=time(9), end=time(18))
        for day in range(5))
    policy = SlaPolicy.objects.create(partner=partner, name="Стандарт", is_default=True,
                                      calendar=calendar)
    for priority, reaction, resolution in (("critical", 30, 240), ("high", 60, 540),
                                           ("normal", 120, 1080), ("low", 240, 2700)):
        SlaTarget.objects.create(partner=partner, policy=policy, priority=priority,
                                 reaction_minutes=reaction, resolution_minutes=resolution)
    TypicalRequest.objects.create(partner=partner, name="Сброс пароля панели",
                                  resolution_minutes=90)
    UrgencyRule.objects.create(partner=partner, position=1, name="Сервер недоступен",
                               keywords="не работает, недоступен", priority="critical",
                               service=cast.a.service)
    maintenance = MaintenancePolicy.objects.create(partner=partner, sla_policy=policy,
                                                   notice_business_days=5)
    MaintenanceWindow.objects.create(partner=partner, policy=maintenance, starts=time(0),
                                     ends=time(3))
    AuthorisedPerson.objects.create(partner=partner, organisation=cast.a.organisation,
                                    name="Петров Пётр", position="ИТ-директор",
                                    email="petrov@alpha.example", phone="+7 900 000-00-01")
    CompensationRule.objects.create(partner=partner, breach_percent=Decimal("5"),
                                    fee_percent=Decimal("10"))
    return partner


def docx_of(version: AgreementVersion) -> Document:
    with version.docx.open("rb") as stored:
        return Document(io.BytesIO(stored.read()))


def pdf_text(version: AgreementVersion) -> str:
    with version.pdf.open("rb") as stored:
        data = stored.read()
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def test_docx_has_ten_sections_filled_from_the_settings(cast, settings_a):
    version = services.generate(settings_a, actor=cast.supervisor)
    document = docx_of(version)
    headings = [p.text for p in document.paragraphs if p.style.name == "Heading 1"]
    assert headings == [
        "1. Введение и предмет обслуживания", "2. Термины и определения",
        "3. Процедуры взаимодействия сторон", "4. Критерии типов и приоритетов заявок",
        "5. Нормативы на сроки и время обслуживания",
        "6. Регламентные работы", "7. Компенсации", "8. Конфиденциальность",
        "9. Актуализация", "10. Подписи сторон"]
    parts = [p.text for p in document.paragraphs if p.style.name == "Heading 2"]
    assert "3.1. Единая точка приёма обращений" in parts
    text = "\n".join(p.text for p in document.paragraphs)
    cells = [[cell.text for cell in row.cells] for table in document.tables
             for row in table.rows]
    # 3: the single point of contact and the authorised persons, from the settings.
    assert ["Телефон", "+7 495 123-45-67"] in cells
    assert ["Эл. почта", "support@alpha.example"] in cells
    assert ["alpha customer LLC", "alpha-001", "Петров Пётр", "ИТ-директор",
            "petrov@alpha.example", "+7 900 000-00-01"] in cells
    # 4: the urgency criteria.
    assert any(row[1] == "Сервер недоступен" and row[3] == "Критический"
               and "VPS alpha" in row[2] for row in cells)
    # 5: targets per priority in business hours, the calendar and its time zone.
    assert ["Критический", "30 мин", "4 ч"] in cells
    assert ["Высокий", "1 ч", "9 ч"] in cells
    assert ["Низкий", "4 ч", "45 ч"] in cells
    assert ["Сброс пароля панели", "1 ч 30 мин"] in cells
    assert "«Альфа: Пн–Пт 9–18»" in text and "Asia/Yekaterinburg" in text
    # 6: notice, allowed hours, affected functions.
    assert "за 5 рабочих дней" in text
    assert ["каждый день", "00:00–03:00"] in cells
    assert "VPS alpha" in text
    # 7: the compensation table.
    assert ["5%", "10%"] in cells
    assert "ООО «Альфа Хостинг»" in text
    assert all(table.style.name == "Table Grid" for table in document.tables)
    event = AuditEvent.objects.get(action="agreement.generated")
    assert event.actor == cast.supervisor and event.partner == settings_a


def test_pdf_renders_the_same_content_in_cyrillic(cast, settings_a, tmp_path):
    version = services.generate(settings_a, actor=cast.supervisor)
    text = pdf_text(version)
    assert "Соглашение об уровне обслуживания" in text
    assert "10. Подписи сторон" in text and "+7 495 123-45-67" in text
    assert "45 ч" in text
    if shutil.which("pdftoppm"):
        target = tmp_path / "page"
        with version.pdf.open("rb") as stored:
            (tmp_path / "doc.pdf").write_bytes(stored.read())
        subprocess.run(["pdftoppm", "-png", "-r", "50", str(tmp_path / "doc.pdf"),
                        str(target)], check=True, timeout=60)
        assert sorted(Path(tmp_path).glob("page*.png"))


def test_versions_and_what_changed(cast, settings_a):
    first = services.generate(settings_a, actor=cast.supervisor)
    target = SlaTarget.objects.get(policy__partner=settings_a, priority="critical")
    target.resolution_minutes = 180
    target.save()
    services.add_compensation(settings_a, cast.supervisor, breach_percent=Decimal("10"),
                              fee_percent=Decimal("20"))
    second = services.generate(settings_a, actor=cast.supervisor)
    assert (first.version, second.version) == (1, 2)
    assert first.snapshot != second.snapshot  # the first keeps what it was made from
    changed = services.changes(first.snapshot, second.snapshot)
    assert [change["number"] for change in changed] == [5, 7]
    deadlines = changed[0]
    assert deadlines["removed"] == ["Критический | 30 мин | 4 ч"]
    assert deadlines["added"] == ["Критический | 30 мин | 3 ч"]
    assert changed[1]["added"] == ["10% | 20%"] and changed[1]["removed"] == []
    page = client_for(cast.supervisor).get(f"/agreements/{settings_a.pk}/",
                                          HTTP_ACCEPT_LANGUAGE="ru")
    body = page.content.decode()
    assert page.status_code == 200
    assert "Что изменилось в версии 2 по сравнению с версией 1" in body
    assert "Критический | 30 мин | 3 ч" in body


def test_a_partner_without_a_policy_is_refused_by_name(cast, settings_a):
    with pytest.raises(services.ValidationError) as refused:
        services.generate(cast.b.partner, actor=cast.supervisor)
    assert "Partner beta" in refused.value.message_dict["policy"][0]
    assert not AgreementVersion.objects.exists()
    response = client_for(cast.supervisor).post(f"/agreements/{cast.b.partner.pk}/generate/",
                                                follow=True, HTTP_ACCEPT_LANGUAGE="ru")
    assert "У партнёра Partner beta нет политики SLA" in response.content.decode()
    assert not AgreementVersion.objects.exists()


def test_tenancy_and_roles(cast, settings_a):
    version = services.generate(settings_a, actor=cast.supervisor)
    manager_a = client_for(cast.a.manager)
    assert manager_a.get("/agreements/").url == f"/agreements/{settings_a.pk}/"
    assert manager_a.get(f"/agreements/{settings_a.pk}/").status_code == 200
    docx = manager_a.get(f"/agreements/{settings_a.pk}/versions/{version.pk}/docx/")
    assert docx.status_code == 200 and b"".join(docx.streaming_content)[:2] == b"PK"
    # Another partner's manager: the page, the file and the actions are not found.
    manager_b = client_for(cast.b.manager)
    assert manager_b.get(f"/agreements/{settings_a.pk}/").status_code == 404
    assert manager_b.get(
        f"/agreements/{settings_a.pk}/versions/{version.pk}/pdf/").status_code == 404
    assert manager_b.post(f"/agreements/{settings_a.pk}/generate/").status_code == 404
    person = AuthorisedPerson.objects.get()
    assert manager_b.post(
        f"/agreements/{settings_a.pk}/persons/{person.pk}/delete/").status_code == 404
    assert manager_b.get(f"/agreements/{cast.b.partner.pk}/"
                         f"versions/{version.pk}/pdf/").status_code == 404
    assert AuthorisedPerson.objects.exists()
    # Operators and engineers have no SLA document pages.
    assert client_for(cast.operator).get("/agreements/").status_code == 403
    assert client_for(cast.a.engineer).get(f"/agreements/{settings_a.pk}/").status_code == 403
    admin = make_user("boss", User.Role.ADMIN)
    assert client_for(admin).get("/agreements/").status_code == 200


def test_desk_forms_add_and_refuse_with_the_field_named(cast, settings_a):
    manager = client_for(cast.a.manager)
    manager.defaults["HTTP_ACCEPT_LANGUAGE"] = "ru"
    url = f"/agreements/{settings_a.pk}/"
    added = manager.post(url + "persons/", {
        "organisation": cast.a.organisation.pk, "name": "Сидорова Анна",
        "email": "anna@alpha.example"})
    assert added.status_code == 302
    assert AuthorisedPerson.objects.filter(name="Сидорова Анна").exists()
    assert AuditEvent.objects.filter(action="agreement.person_added", actor=cast.a.manager)
    # Another partner's organisation is not a choice; a duplicate name is refused by name.
    foreign = manager.post(url + "persons/", {"organisation": cast.b.organisation.pk,
                                              "name": "Кто-то"})
    assert foreign.status_code == 400 and 'id="id_organisation"' in foreign.content.decode()
    twice = manager.post(url + "persons/", {"organisation": cast.a.organisation.pk,
                                            "name": "Сидорова Анна"})
    assert twice.status_code == 400
    assert "Сидорова Анна уже уполномочен" in twice.content.decode()
    assert AuthorisedPerson.objects.filter(partner=settings_a).count() == 2
    # Compensation: a share over 100% and a duplicate row are refused, nothing stored.
    over = manager.post(url + "compensation/", {"breach_percent": "150", "fee_percent": "5"})
    assert over.status_code == 400
    duplicate = manager.post(url + "compensation/", {"breach_percent": "5", "fee_percent": "1"})
    assert duplicate.status_code == 400 and "уже есть строка от 5%" in duplicate.content.decode()
    assert CompensationRule.objects.filter(partner=settings_a).count() == 1
    # Terms: a revision period of 0 months is refused; a good one saved and used.
    assert manager.post(url + "terms/", {"revision_months": "0"}).status_code == 400
    saved = manager.post(url + "terms/", {
        "revision_months": "6", "written_only": "Смена списка уполномоченных лиц\n",
        "affected_functions": "Панель управления\nПочта"})
    assert saved.status_code == 302
    data = services.build(settings_a)
    lines = [line for section in data["sections"] for line in services.section_lines(section)]
    assert "• Смена списка уполномоченных лиц" in lines
    assert "• Панель управления" in lines
    assert any("каждые 6 месяцев" in line for line in lines)


def test_api_lists_versions_and_serves_files_within_tenancy(cast, settings_a):
    version = services.generate(settings_a, actor=cast.supervisor)
    listed = client_for(cast.a.manager).get("/api/agreements").json()["versions"]
    assert [(row["id"], row["version"], row["policy"]) for row in listed] == [
        (version.pk, 1, "Стандарт")]
    assert len(listed[0]["sections"]) == 10
    got = client_for(cast.a.manager).get(listed[0]["docx"])
    assert got.status_code == 200 and b"".join(got.streaming_content)[:2] == b"PK"
    # Another partner's manager sees none and cannot fetch the file; an engineer is refused.
    assert client_for(cast.b.manager).get("/api/agreements").json() == {"versions": []}
    assert client_for(cast.b.manager).get(listed[0]["pdf"]).status_code == 404
    assert client_for(cast.a.engineer).get("/api/agreements").status_code == 403
    assert client_for(cast.supervisor).get(
        f"/api/agreements?partner={cast.b.partner.pk}").json() == {"versions": []}


def test_each_settings_form_says_what_it_saved_and_keeps_a_refused_form_on_the_page(
        cast, settings_a):
    """The three settings forms (one `SettingsFormView` each): saved -> back to the partner
    page with its message in the reader's language; refused -> the page (400) with the
    posted values and the error on the field, the other forms empty, nothing stored."""
    manager = client_for(cast.a.manager)
    manager.defaults["HTTP_ACCEPT_LANGUAGE"] = "ru"
    url = f"/agreements/{settings_a.pk}/"
    for path, data, said in [
        ("persons/", {"organisation": cast.a.organisation.pk, "name": "Петров Олег"},
         "Уполномоченное лицо добавлено."),
        ("compensation/", {"breach_percent": "20", "fee_percent": "10"},
         "Строка компенсации добавлена."),
        ("terms/", {"revision_months": "12", "written_only": "", "affected_functions": ""},
         "Условия сохранены."),
    ]:
        page = manager.post(url + path, data, follow=True)
        assert page.redirect_chain == [(url, 302)], path
        assert said in page.content.decode()
    assert AuthorisedPerson.objects.filter(partner=settings_a, name="Петров Олег").exists()

    before = CompensationRule.objects.filter(partner=settings_a).count()
    refused = manager.post(url + "compensation/", {"breach_percent": "20", "fee_percent": "3"})
    text = refused.content.decode()
    assert refused.status_code == 400
    assert 'name="fee_percent"' in text and 'value="3"' in text  # what was posted stays
    assert "уже есть строка от 20%" in text
    assert 'name="name"' in text and "Петров Олег" in text  # the person form and its list
    assert CompensationRule.objects.filter(partner=settings_a).count() == before
