"""Announcements in the partner's own wording (the parts stay structured) and the short form
by SMS to those who asked for it; the desk's template page, tenancy, and a look at it in
Chromium."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import connections
from django.test import Client

from firstline.contacts.models import ContactPhone
from firstline.core.models import AuditEvent
from firstline.incidents import services
from firstline.incidents.models import (
    AnnouncementTemplate,
    ContactService,
    Impact,
    Subscription,
)
from firstline.outbox.models import OutboxMessage
from firstline.tickets.models import Message
from tests.browser import ARTIFACTS, BROWSER_TEST
from tests.conftest import client_for

MSK = ZoneInfo("Europe/Moscow")
NOW = datetime(2027, 3, 2, 10, 0, tzinfo=MSK)


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def incident_for(cast):
    return services.open_incident(
        partner=cast.a.partner, actor=cast.operator, title="VPS недоступны",
        services=[cast.a.service], impact=Impact.FULL, started_at=NOW - timedelta(hours=1),
        time_zone="Europe/Moscow")


def announce(cast, incident, audience="both"):
    return services.create_announcement(
        partner=cast.a.partner, actor=cast.operator, kind="incident", incident=incident,
        audience=audience,
        values={"began_at": incident.started_at, "time_zone": "Europe/Moscow",
                "services": [cast.a.service], "impact": "full",
                "expected_fix_at": NOW + timedelta(hours=2)})


def test_the_short_form_goes_by_sms_to_those_who_asked_and_to_no_one_else(cast, frozen):
    a = cast.a
    ContactService.objects.create(partner=a.partner, contact=a.contact, service=a.service,
                                  by_sms=True)
    ContactPhone.objects.create(partner=a.partner, contact=a.contact, number="+7 916 000-11-22")
    ContactPhone.objects.create(partner=a.partner, contact=a.contact, number="+7 916 999-99-99")
    # Olga asked for SMS too, then unsubscribed from the announcements by the link.
    ContactService.objects.create(partner=a.partner, contact=a.other_contact,
                                  service=a.service, by_sms=True)
    ContactPhone.objects.create(partner=a.partner, contact=a.other_contact,
                                number="+7 903 555-00-00")
    Subscription.objects.create(partner=a.partner, address="olga@alpha.example",
                                unsubscribed_at=NOW)
    Subscription.objects.create(partner=a.partner, address="duty@client.example",
                                phone="+7 (495) 111-22-33", confirmed_at=NOW)
    Subscription.objects.create(partner=a.partner, address="unconfirmed@client.example",
                                phone="+7 495 444-55-66")
    Subscription.objects.create(partner=a.partner, address="typo@client.example",
                                phone="12", confirmed_at=NOW)  # not a phone: skipped
    # Beta's subscriber hears nothing of alpha's incident.
    Subscription.objects.create(partner=cast.b.partner, address="b@client.example",
                                phone="+7 495 777-77-77", confirmed_at=NOW)
    announcement = announce(cast, incident_for(cast))
    sms = OutboxMessage.objects.filter(channel="sms").order_by("recipient")
    assert [row.recipient for row in sms] == ["+7 (495) 111-22-33", "+7 916 000-11-22"]
    text = sms[0].body
    assert text.startswith("Partner alpha. Массовый инцидент: VPS alpha.")
    assert "Ожидаемое время устранения: 02.03.2027 12:00 (Europe/Moscow)" in text
    assert len(text) <= 300 and all(row.partner == a.partner for row in sms)
    assert set(announcement.deliveries.filter(channel="sms")
               .values_list("address", flat=True)) == {"+7 (495) 111-22-33",
                                                       "+7 916 000-11-22"}
    # Linked-only: the SMS goes only to a linked ticket's customer who asked for it.
    services.link_tickets(incident=announcement.incident, actor=cast.operator,
                          tickets=[a.ticket])
    second = announce(cast, announcement.incident, audience="linked")
    assert list(second.deliveries.filter(channel="sms")
                .values_list("address", flat=True)) == ["+7 916 000-11-22"]


def test_a_template_without_the_parts_is_refused_naming_the_field(cast):
    with pytest.raises(ValidationError) as refused:
        services.save_template(partner=cast.a.partner, actor=cast.operator, kind="incident",
                               language="ru", subject="{partner}: {oops}",
                               body="Здравствуйте! У нас авария.", sms="Авария {services}")
    errors = refused.value.message_dict
    assert set(errors) == {"subject", "body", "sms"}
    assert "{oops}" in errors["subject"][0]
    assert "{parts}" in errors["body"][0]
    assert "{when}" in errors["sms"][0]
    with pytest.raises(ValidationError) as refused:
        services.save_template(partner=cast.a.partner, actor=cast.operator, kind="alarm",
                               language="de", subject="s", body="{parts}")
    assert set(refused.value.message_dict) == {"kind", "language"}
    assert not AnnouncementTemplate.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="announcement.template").exists()


def test_the_partners_wording_is_used_and_the_parts_are_still_all_there(cast, frozen):
    services.save_template(
        partner=cast.a.partner, actor=cast.operator, kind="incident", language="ru",
        subject="{partner} — авария: {services}",
        body="Уважаемые клиенты {partner}!\n\n{parts}\n\nПриносим извинения.\n{signature}",
        sms="{partner}: сбой {services}, исправим к {when}")
    incident = incident_for(cast)
    services.link_tickets(incident=incident, actor=cast.operator, tickets=[cast.a.ticket])
    ContactService.objects.create(partner=cast.a.partner, contact=cast.a.other_contact,
                                  service=cast.a.service)
    announce(cast, incident)
    reply = cast.a.ticket.messages.get(kind=Message.Kind.REPLY)
    assert reply.body_text.startswith("Уважаемые клиенты Partner alpha!")
    for part in ("Дата и время возникновения: 02.03.2027 09:00 (Europe/Moscow)",
                 "Полностью недоступна услуга: VPS alpha",
                 "Ожидаемое время устранения: 02.03.2027 12:00 (Europe/Moscow)"):
        assert part in reply.body_text
    letter = OutboxMessage.objects.get(recipient="olga@alpha.example")
    assert letter.subject == "Partner alpha — авария: VPS alpha"
    assert "Приносим извинения." in letter.body and "Отписаться" in letter.body
    # Another partner, and the other language, keep the default wording.
    assert services.default_template("incident", "en")["body"].startswith("Hello,")
    services.reset_template(partner=cast.a.partner, actor=cast.operator, kind="incident",
                            language="ru")
    assert not AnnouncementTemplate.objects.exists()
    assert AuditEvent.objects.filter(action="announcement.template_reset").count() == 1


def test_the_desk_page_saves_a_template_and_holds_tenancy(cast):
    desk = client_for(cast.a.manager)
    page = desk.get("/incidents/templates/", HTTP_ACCEPT_LANGUAGE="ru")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Partner alpha" in text and "Partner beta" not in text
    assert "{parts}" in text  # the default wording shown to start from
    refused = desk.post("/incidents/templates/", {
        "partner": cast.a.partner.pk, "kind": "recovery", "language": "en",
        "subject": "Restored", "body": "All good now."})
    assert refused.status_code == 422 and "{parts}" in refused.content.decode()
    saved = desk.post("/incidents/templates/", {
        "partner": cast.a.partner.pk, "kind": "recovery", "language": "en",
        "subject": "{partner}: restored", "body": "Dear customer,\n{parts}", "sms": ""})
    assert saved.status_code == 302
    template = AnnouncementTemplate.objects.get()
    assert (template.partner, template.kind, template.language) == (
        cast.a.partner, "recovery", "en")
    # Beta's engineer names alpha's partner: alpha is not theirs, so beta's own is edited.
    client_for(cast.b.engineer).post("/incidents/templates/", {
        "partner": cast.a.partner.pk, "kind": "recovery", "language": "en",
        "subject": "Hacked", "body": "{parts}"})
    template.refresh_from_db()
    assert template.subject == "{partner}: restored"
    assert AnnouncementTemplate.objects.get(partner=cast.b.partner).subject == "Hacked"
    assert client_for(cast.a.customer).get("/incidents/templates/").status_code in (302, 403)


def browser_test(function):
    for mark in BROWSER_TEST:
        function = mark(function)
    return function


@browser_test
def test_the_template_page_in_chromium(django_db_setup, live_server, cast, browser):
    client = Client()
    client.force_login(cast.operator)
    context = browser.new_context(locale="ru-RU", viewport={"width": 1280, "height": 900})
    context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value,
                          "url": live_server.url}])
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/incidents/templates/?partner={cast.a.partner.pk}"
                  "&kind=planned&language=ru")
        page.locator("#id_subject").fill("{partner}: плановые работы ({services})")
        page.locator("#id_body").fill("Уважаемые клиенты!\n\n{parts}\n\n{signature}")
        page.get_by_role("button", name="Сохранить шаблон").click()
        from playwright.sync_api import expect

        expect(page.locator("tr.current")).to_contain_text("свой шаблон")
        page.screenshot(path=str(ARTIFACTS / "incidents-templates.png"), full_page=True)
        assert AnnouncementTemplate.objects.get().kind == "planned"
    finally:
        context.close()
        connections.close_all()
