"""The desk's header on a narrow screen, in the real Debian Chromium.

Below 1200 px the links, the language, the user and «Выйти» fold into one panel behind the
«Меню» button, so the bar stays one row high instead of wrapping over the page; the button
works from the keyboard (Enter, Esc back to the button) and a click outside closes it. On a
1280 px screen the header is the one it was: every link in the bar, no button.
"""

import pytest
from django.db import connections

from .browser import ARTIFACTS, BROWSER_TEST
from .test_a11y_axe import AXE, violations
from .test_desk_browser import CSP_WATCH, active, signed_in_page

pytestmark = BROWSER_TEST

TOGGLE = "header.topbar [data-menu-toggle]"
SIGN_OUT = "header.topbar form[action$='/logout/'] button"


def open_page(browser, live_server, user, width, path="/tickets/"):
    page = signed_in_page(browser, live_server, user)
    page.add_init_script(CSP_WATCH)
    page.set_viewport_size({"width": width, "height": 800})
    page.goto(f"{live_server.url}{path}")
    return page


def header_box(page) -> dict:
    return page.locator("header.topbar").bounding_box()


def bar_links(page) -> list:
    """The header's own links (the «Настройки» group's are counted apart)."""
    return page.locator("header.topbar nav > a").all()


def test_at_375_px_the_header_is_one_row_and_the_menu_opens_from_the_keyboard(
        django_db_setup, live_server, cast, browser):
    page = open_page(browser, live_server, cast.operator, 375)
    toggle = page.locator(TOGGLE)
    header = header_box(page)
    brand = page.locator("header.topbar .brand").bounding_box()
    button = toggle.bounding_box()
    # One row: the brand and the button side by side, the bar no taller than its padding
    # around the taller of them (the links used to wrap it to six rows, 171 px).
    assert toggle.is_visible() and toggle.text_content().strip() == "Меню"
    assert abs((brand["y"] + brand["height"] / 2) - (button["y"] + button["height"] / 2)) < 4
    assert header["height"] <= max(brand["height"], button["height"]) + 24
    assert button["x"] + button["width"] <= 375
    assert page.evaluate("(() => { const h = document.querySelector('header.topbar');"
                         " return h.scrollWidth <= h.clientWidth; })()")
    links = bar_links(page)
    assert len(links) >= 6
    assert not any(link.is_visible() for link in links)
    assert not page.locator(SIGN_OUT).is_visible()
    assert toggle.get_attribute("aria-expanded") == "false"
    page.screenshot(path=str(ARTIFACTS / "header-375-closed.png"))

    page.focus(TOGGLE)
    page.keyboard.press("Enter")
    assert toggle.get_attribute("aria-expanded") == "true"
    texts = [link.text_content().strip() for link in links]
    assert {"Очередь", "Новая заявка", "Инциденты", "База знаний", "Звонки"} <= set(texts)
    for link in links + [page.locator(SIGN_OUT)]:
        assert link.is_visible()
        box = link.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 375
        assert box["y"] >= header["y"] + header["height"] - 1  # under the bar, not over it
    assert "Olga Operator" in page.text_content("header.topbar .who")
    page.screenshot(path=str(ARTIFACTS / "header-375-open.png"))
    page.keyboard.press("Tab")
    assert active(page) == "Очередь"  # the panel comes next in the tab order
    page.keyboard.press("Escape")
    assert toggle.get_attribute("aria-expanded") == "false"
    assert not links[0].is_visible()
    assert active(page, "el => el.matches('[data-menu-toggle]')")

    toggle.click()
    assert links[0].is_visible()
    page.mouse.click(187, 790)  # a click on the page below the panel closes it
    assert not links[0].is_visible()
    toggle.click()
    page.locator("header.topbar nav > a", has_text="Инциденты").click()
    page.wait_for_url("**/incidents/**")
    assert page.evaluate("window.cspViolations") == []
    connections.close_all()


def test_at_375_px_a_supervisor_reaches_the_settings_group_inside_the_menu(
        django_db_setup, live_server, cast, browser):
    page = open_page(browser, live_server, cast.supervisor, 375)
    page.click(TOGGLE)
    group = page.locator("header.topbar details.nav-group")
    calendars = group.locator("a", has_text="Календари")
    assert group.locator("summary").is_visible() and not calendars.is_visible()
    group.locator("summary").click()
    # Inside the panel the group opens in place, indented, not as a drop-down over it.
    box = calendars.bounding_box()
    summary = group.locator("summary").bounding_box()
    assert box["x"] > summary["x"] and box["x"] + box["width"] <= 375
    assert box["y"] > summary["y"]
    page.screenshot(path=str(ARTIFACTS / "header-375-settings.png"))
    page.keyboard.press("Escape")  # the group closes first, the panel stays
    assert not calendars.is_visible()
    assert page.locator(TOGGLE).get_attribute("aria-expanded") == "true"
    page.locator("header.topbar details.nav-group summary").click()
    calendars.click()
    page.wait_for_url("**/calendars/**")
    connections.close_all()


def test_at_768_px_the_menu_is_a_drop_down_under_the_button(django_db_setup, live_server,
                                                           cast, browser):
    page = open_page(browser, live_server, cast.supervisor, 768, "/board/")
    assert header_box(page)["height"] < 60
    page.click(TOGGLE)
    panel = page.locator("#topbar-menu").bounding_box()
    assert panel["x"] + panel["width"] <= 768 + 1 and panel["width"] < 768 / 2 + 40
    assert page.locator(SIGN_OUT).is_visible()
    page.screenshot(path=str(ARTIFACTS / "header-768-open.png"))
    connections.close_all()


@pytest.mark.parametrize("who", ["operator", "supervisor"])
def test_at_1280_px_the_header_is_as_it_was(django_db_setup, live_server, cast, browser, who):
    page = open_page(browser, live_server, getattr(cast, who), 1280)
    assert not page.locator(TOGGLE).is_visible()
    # The wrappers of the narrow layout take no part in this one.
    assert page.evaluate("getComputedStyle(document.getElementById('topbar-menu')).display"
                         ) == "contents"
    header = header_box(page)
    for link in bar_links(page) + [page.locator(SIGN_OUT)]:
        assert link.is_visible()
        box = link.bounding_box()
        assert header["y"] <= box["y"] and box["y"] + box["height"] <= header["y"] + header[
            "height"]
        assert box["x"] + box["width"] <= 1280
    assert header["height"] < 70  # at most the two rows it had
    page.screenshot(path=str(ARTIFACTS / f"header-1280-{who}.png"))
    connections.close_all()


def test_without_scripts_a_narrow_header_shows_every_link(django_db_setup, live_server,
                                                          cast, browser):
    from django.test import Client

    client = Client()
    client.force_login(cast.operator)
    context = browser.new_context(locale="ru-RU", java_script_enabled=False,
                                  viewport={"width": 375, "height": 800})
    context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value,
                          "url": live_server.url}])
    page = context.new_page()
    page.goto(f"{live_server.url}/tickets/")
    assert not page.locator(TOGGLE).is_visible()
    assert all(link.is_visible() for link in bar_links(page))
    assert page.locator(SIGN_OUT).is_visible()
    connections.close_all()


def test_the_open_menu_has_no_serious_accessibility_violation(django_db_setup, live_server,
                                                              cast, browser):
    if not AXE.exists():
        pytest.skip(f"axe-core is not installed ({AXE})")
    page = open_page(browser, live_server, cast.supervisor, 375)
    page.click(TOGGLE)
    page.click("header.topbar details.nav-group summary")
    found = violations(page, "header-375-open")
    connections.close_all()
    assert found == []


def test_at_1280_px_the_settings_group_closes_on_esc_and_on_a_click_outside(
        django_db_setup, live_server, cast, browser):
    page = open_page(browser, live_server, cast.supervisor, 1280)
    group = page.locator("header.topbar details.nav-group")
    calendars = group.locator("a", has_text="Календари")
    group.locator("summary").click()
    assert calendars.is_visible()
    page.mouse.click(640, 700)
    assert not calendars.is_visible()  # it stayed open over the page until clicked again
    page.focus("header.topbar details.nav-group summary")
    page.keyboard.press("Enter")
    assert calendars.is_visible()
    page.keyboard.press("Tab")
    assert active(page) == "Настройки SLA"
    page.keyboard.press("Escape")
    assert not calendars.is_visible()
    assert active(page, "el => el.tagName") == "SUMMARY"
    connections.close_all()
