"""In Chromium, in Russian: a policy is deleted through its confirmation page, one in use
is refused with where it is used, and the new-calendar form says what 24x7 does; no page
breaks the Content-Security-Policy."""

from django.db import connections

from firstline.sla.models import SlaPolicy

from .browser import ARTIFACTS, BROWSER_TEST
from .conftest import PASSWORD
from .test_sla_deadlines import office_policy

pytestmark = BROWSER_TEST


def test_a_supervisor_confirms_a_policy_delete_and_sees_why_another_cannot_go(
    django_db_setup, live_server, cast, browser
):
    used = office_policy(cast.a.partner, name="Рабочие часы")
    spare = office_policy(cast.a.partner, name="Запасная", default=False)
    page = browser.new_page(locale="ru-RU")
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text)
            if message.type == "error" else None)
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", cast.supervisor.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url("**/tickets/")

    page.goto(f"{live_server.url}/settings/sla/{cast.a.partner.pk}/")
    page.click(f"a[href$='/policies/{spare.pk}/delete/']")
    page.wait_for_selector(".confirm-delete")
    assert "Удалить политику «Запасная»" in page.text_content(".confirm-delete")
    page.screenshot(path=str(ARTIFACTS / "sla-policy-delete-confirm.png"), full_page=True)
    assert SlaPolicy.objects.filter(pk=spare.pk).exists()
    page.click(".confirm-delete button.danger")
    page.wait_for_url(f"**/settings/sla/{cast.a.partner.pk}/")
    assert "Политика «Запасная» удалена." in page.text_content("body")
    assert not SlaPolicy.objects.filter(pk=spare.pk).exists()

    page.click(f"a[href$='/policies/{used.pk}/delete/']")
    page.wait_for_selector(".confirm-delete")
    refusal = page.text_content(".confirm-delete")
    assert "используется, удалить её нельзя" in refusal
    assert "по умолчанию" in refusal
    assert page.locator(".confirm-delete button").count() == 0
    page.screenshot(path=str(ARTIFACTS / "sla-policy-delete-refused.png"), full_page=True)

    page.goto(f"{live_server.url}/calendars/new/")
    text = page.text_content("main form")
    assert "круглосуточный календарь — нет, его часы идут и в праздники" in text
    assert page.is_checked("input[name=uses_production_calendar][value=by_kind]")
    page.screenshot(path=str(ARTIFACTS / "calendar-new-24x7.png"), full_page=True)

    assert not [text for text in problems if "Content Security Policy" in text], problems
    connections.close_all()
