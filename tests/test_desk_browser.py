"""The desk in the real Debian Chromium: keyboard shortcuts, the skip link and the new-ticket
form's caller search, as an operator uses them."""

from django.db import connections
from django.test import Client

from firstline.contacts.models import ContactPhone
from firstline.tickets.models import Ticket

from .browser import ARTIFACTS, BROWSER_TEST

pytestmark = BROWSER_TEST


CSP_WATCH = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.cspViolations.push(event.effectiveDirective + " " + event.blockedURI);
});
"""


def signed_in_page(browser, live_server, user):
    client = Client()
    client.force_login(user)
    context = browser.new_context(locale="ru-RU")
    context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value,
                          "url": live_server.url}])
    return context.new_page()


def active(page, expression="el => el && (el.name || el.id || el.textContent.trim())"):
    return page.evaluate(f"({expression})(document.activeElement)")


def test_queue_is_worked_from_the_keyboard(django_db_setup, live_server, cast, browser):
    page = signed_in_page(browser, live_server, cast.operator)
    page.goto(f"{live_server.url}/tickets/?status=any")
    rows = page.locator("table.queue tbody tr")
    assert rows.count() == 4

    page.keyboard.press("/")
    assert active(page) == "q"  # the search field
    page.keyboard.press("Escape")  # leave the field; letters are shortcuts again
    page.keyboard.press("j")
    page.keyboard.press("j")
    assert "is-selected" in rows.nth(1).get_attribute("class")
    page.keyboard.press("k")
    assert "is-selected" in rows.nth(0).get_attribute("class")
    assert "is-selected" not in (rows.nth(1).get_attribute("class") or "")
    first_number = rows.nth(0).locator("a").first.text_content()
    page.screenshot(path=str(ARTIFACTS / "desk-queue-keyboard.png"))

    page.keyboard.press("?")
    dialog = page.locator("dialog#shortcuts")
    assert dialog.is_visible()
    assert "Ctrl" in dialog.text_content() and "j" in dialog.text_content()
    page.screenshot(path=str(ARTIFACTS / "desk-shortcuts.png"))
    page.keyboard.press("Escape")
    assert not dialog.is_visible()

    page.keyboard.press("Enter")
    page.wait_for_url("**/tickets/*/")
    assert first_number in page.text_content("h1")
    connections.close_all()


def test_shortcuts_do_not_fire_while_typing(django_db_setup, live_server, cast, browser):
    page = signed_in_page(browser, live_server, cast.operator)
    page.goto(f"{live_server.url}/tickets/?status=any")
    page.click("input[name=q]")
    page.keyboard.type("jk?")
    assert page.input_value("input[name=q]") == "jk?"
    assert page.locator("tr.is-selected").count() == 0
    assert not page.locator("dialog#shortcuts").is_visible()
    connections.close_all()


def test_skip_link_is_the_first_stop_and_jumps_to_the_content(django_db_setup, live_server,
                                                              cast, browser):
    desk = signed_in_page(browser, live_server, cast.operator)
    desk.goto(f"{live_server.url}/tickets/")
    desk.keyboard.press("Tab")
    assert active(desk) == "Перейти к содержимому"
    assert desk.locator(".skip-link").is_visible()  # shown when focused
    desk.keyboard.press("Enter")
    assert active(desk, "el => el.id") == "content"

    portal = browser.new_page(locale="ru-RU")
    portal.goto(f"{live_server.url}/portal/{cast.a.partner.slug}/login/")
    portal.keyboard.press("Tab")
    assert active(portal) == "Перейти к содержимому"
    connections.close_all()


def test_operator_registers_a_call_by_finding_the_caller(django_db_setup, live_server, cast,
                                                         browser):
    ContactPhone.objects.create(partner=cast.b.partner, contact=cast.b.other_contact,
                                number="+7 (812) 555-01-02")
    page = signed_in_page(browser, live_server, cast.operator)
    page.add_init_script(CSP_WATCH)
    page.goto(f"{live_server.url}/tickets/")
    page.click("text=Новая заявка")
    page.wait_for_url("**/tickets/new/")
    assert active(page) == "partner"  # nothing chosen yet: the partner first

    page.fill("#contact-q", "555-01-02")  # the caller gives a phone number
    pick = page.locator("button.contact-pick")
    pick.first.wait_for()
    assert pick.count() == 1 and "Olga beta" in pick.first.text_content()
    assert "Partner beta" in pick.first.text_content()  # searched over every partner
    page.keyboard.press("ArrowDown")  # from the search into the suggestions
    assert active(page, "el => el.className") == "contact-pick"
    page.keyboard.press("Enter")
    page.wait_for_selector(".chosen-contact")
    # Picking the caller picked their partner, showed the script and moved on to their words.
    assert page.input_value("select[name=partner]") == str(cast.b.partner.pk)
    assert "Partner beta" in page.text_content(".script-card .greeting")
    assert active(page) == "text"
    page.screenshot(path=str(ARTIFACTS / "desk-new-ticket.png"), full_page=True)

    # The search, the swaps and the shortcuts broke nothing of the Content-Security-Policy.
    assert page.evaluate("window.cspViolations") == []
    page.keyboard.type("Не приходят письма с сайта, с утра.")
    page.select_option("select[name=service]", label=cast.b.service.name)
    page.click("button:has-text('Зарегистрировать и открыть')")
    page.wait_for_url("**/tickets/*/")
    ticket = Ticket.objects.latest("pk")
    assert (ticket.partner_id, ticket.contact_id, ticket.service_id) == (
        cast.b.partner.pk, cast.b.other_contact.pk, cast.b.service.pk)
    assert ticket.assignee_id == cast.operator.pk
    assert ticket.number in page.text_content("h1")
    connections.close_all()


def test_a_refused_form_puts_the_caret_on_the_first_bad_field(django_db_setup, live_server,
                                                              cast, browser):
    page = signed_in_page(browser, live_server, cast.operator)
    page.goto(f"{live_server.url}/tickets/new/")
    page.select_option("select[name=partner]", str(cast.a.partner.pk))
    page.wait_for_selector(".script-card .greeting")
    assert active(page) == "contact_q"  # the partner is chosen: find the caller next
    page.click("button:has-text('Зарегистрировать и открыть')")
    page.wait_for_selector(".form-summary")
    assert active(page) == "text"
    assert "его словами" in page.text_content("#new-ticket .errorlist")
    assert Ticket.objects.count() == 4
    connections.close_all()


def test_a_supervisors_header_fits_a_laptop_screen_and_groups_the_settings(
    django_db_setup, live_server, cast, browser
):
    page = signed_in_page(browser, live_server, cast.supervisor)
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{live_server.url}/tickets/")
    sign_out = page.locator("header.topbar form[action$='/logout/'] button")
    box = sign_out.bounding_box()
    # With every link in one row the user's name and «Выйти» were pushed off the screen.
    assert box is not None and box["x"] + box["width"] <= 1280
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280

    menu = page.locator("details.nav-group")
    calendars = menu.locator("a", has_text="Календари")
    assert not calendars.is_visible()
    menu.locator("summary").click()
    page.screenshot(path=str(ARTIFACTS / "desk-header-settings.png"))
    calendars.click()
    page.wait_for_url("**/calendars/**")
    connections.close_all()
