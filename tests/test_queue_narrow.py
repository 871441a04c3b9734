"""The queue and the deadline board on narrow screens, in the real Debian Chromium.

At 375 px (a phone) and 768 px (a tablet) the page never scrolls sideways: each table sits in
its own scroll region (focusable, named after its heading, scrolled by the arrow keys), and
the columns an operator does not pick a ticket by are left to the ticket page. On the board
a subject wraps at its spaces, never inside a word (at 768 px it used to break every few
letters). At 1280 px both pages are as they were: every column, the board's fixed widths.
"""

from datetime import timedelta

import pytest
from django.db import connections

from firstline.core.clock import now
from firstline.tickets import services as ticket_services
from firstline.tickets.models import Channel, Ticket

from .browser import ARTIFACTS, BROWSER_TEST
from .test_a11y_axe import AXE, violations
from .test_desk_browser import CSP_WATCH, signed_in_page

pytestmark = BROWSER_TEST

# Subjects as the demo data writes them: long and short, Russian and English; minutes to the
# deadline (negative: breached), so both board lists and every badge colour are filled.
SUBJECTS = (
    ("Виртуальная машина сильно тормозит, сайт открывается по пятнадцать секунд",
     "normal", -40),
    ("ВМ недоступна по SSH", "critical", -5),
    ("Письма попадают в спам у Яндекса и Gmail", "normal", 90),
    ("Не работает почта", "high", 30),
)
# One token longer than a phone's screen, as a pasted address comes in a subject.
LONG_TOKEN = "https://portal.alpha.example/clients/orders/2026/export?format=xlsx&period=month"

ALL_COLUMNS = ["Номер", "Партнёр", "Тема", "Контакт", "Статус", "Приоритет", "Исполнитель",
               "Срок"]

# Every word of a cell's text that the browser laid out over more than one line.
BROKEN_WORDS = """(selector) => {
  const broken = [];
  for (const cell of document.querySelectorAll(selector)) {
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (const match of node.data.matchAll(/\\S+/g)) {
        // A hyphen or a dash is a break opportunity of its own; a long address is allowed
        // to break (it is wider than any column).
        if (/[-–\\/]/.test(match[0])) continue;
        const range = document.createRange();
        range.setStart(node, match.index);
        range.setEnd(node, match.index + match[0].length);
        const tops = new Set([...range.getClientRects()].filter((r) => r.width > 0)
                             .map((r) => Math.round(r.top)));
        if (tops.size > 1) broken.push(match[0]);
      }
    }
  }
  return broken;
}"""

PAGE_FITS = "document.documentElement.scrollWidth <= window.innerWidth"


def demo_like(cast, long_token: bool = False) -> None:
    """Four tickets a partner, two breached and two at risk, with the operator assigned; with
    `long_token` a fifth, breached, whose subject holds LONG_TOKEN."""
    moment = now()
    subjects = SUBJECTS + ((f"Не открывается {LONG_TOKEN}", "high", -15),) if long_token \
        else SUBJECTS
    for side in (cast.a, cast.b):
        for subject, priority, minutes in subjects:
            ticket = ticket_services.create_ticket(
                partner=side.partner, actor=side.customer, channel=Channel.PORTAL,
                contact=side.contact, subject=subject, text=subject, priority=priority)
            due = moment + timedelta(minutes=minutes)
            Ticket.objects.filter(pk=ticket.pk).update(
                due_at=due, reaction_due_at=due, assignee=cast.operator)


def open_page(browser, live_server, user, width, path):
    page = signed_in_page(browser, live_server, user)
    page.add_init_script(CSP_WATCH)
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{live_server.url}{path}")
    return page


def visible_headers(page, table="table.queue-list") -> list[str]:
    return [th.text_content().strip() for th in page.locator(f"{table} thead th").all()
            if th.is_visible()]


def region_facts(page, selector) -> dict:
    """How a table's scroll region is built: in the tab order, a named region."""
    return page.evaluate("""(selector) => {
      const region = document.querySelector(selector).closest('.table-scroll');
      const label = document.getElementById(region.getAttribute('aria-labelledby'));
      return {tabindex: region.tabIndex, role: region.getAttribute('role'),
              name: label ? label.textContent.trim() : '',
              overflow: getComputedStyle(region).overflowX,
              scrolls: region.scrollWidth > region.clientWidth};
    }""", selector)


@pytest.mark.parametrize(("width", "columns"), [
    (375, ["Номер", "Тема", "Срок"]),
    (768, ["Номер", "Тема", "Статус", "Приоритет", "Срок"]),
])
def test_the_queue_fits_a_narrow_screen_with_what_an_operator_picks_a_ticket_by(
        django_db_setup, live_server, cast, browser, width, columns):
    demo_like(cast)
    page = open_page(browser, live_server, cast.operator, width, "/tickets/")
    assert page.locator("table.queue-list tbody tr").count() == 12
    assert page.evaluate(PAGE_FITS)
    assert visible_headers(page) == columns
    facts = region_facts(page, "table.queue-list")
    assert facts == {"tabindex": 0, "role": "region", "name": "Очередь заявок",
                     "overflow": "auto", "scrolls": False}
    assert page.evaluate(BROKEN_WORDS, "table.queue-list td:nth-child(3)") == []
    # Every deadline is on the screen whole, no sideways scrolling needed to read it.
    for badge in page.locator("table.queue-list .due").all():
        box = badge.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= width
    page.screenshot(path=str(ARTIFACTS / f"queue-narrow-{width}.png"), full_page=True)
    assert page.evaluate("window.cspViolations") == []
    connections.close_all()


def test_a_partner_engineers_queue_drops_the_same_columns_without_the_partner_one(
        django_db_setup, live_server, cast, browser):
    demo_like(cast)
    page = open_page(browser, live_server, cast.a.engineer, 375, "/tickets/?status=any")
    assert "Партнёр" not in [th.text_content().strip()
                             for th in page.locator("table.queue-list thead th").all()]
    assert visible_headers(page) == ["Номер", "Тема", "Срок"]
    assert page.evaluate(PAGE_FITS)
    page.set_viewport_size({"width": 768, "height": 900})
    assert visible_headers(page) == ["Номер", "Тема", "Статус", "Приоритет", "Срок"]
    connections.close_all()


@pytest.mark.parametrize("path", ["/tickets/", "/board/"])
def test_on_a_phone_an_address_in_a_subject_breaks_inside_its_cell(
        django_db_setup, live_server, cast, browser, path):
    demo_like(cast, long_token=True)
    page = open_page(browser, live_server, cast.operator, 375, path)
    name = "queue" if path == "/tickets/" else "board"
    table = "table.queue-list" if path == "/tickets/" else "#breached table.board"
    subjects = f"{table} tbody td:nth-child(3)"  # after the number (and the partner)
    cell = page.locator(subjects, has_text=LONG_TOKEN).first
    assert cell.evaluate("el => el.scrollWidth <= el.clientWidth")
    assert page.evaluate(PAGE_FITS)
    # The deadlines stay on the screen: the table did not grow past its region.
    assert not region_facts(page, table)["scrolls"]
    assert page.evaluate(BROKEN_WORDS, subjects) == []
    page.screenshot(path=str(ARTIFACTS / f"{name}-narrow-375-address.png"), full_page=True)
    connections.close_all()


def test_a_table_wider_than_the_screen_scrolls_in_its_region_from_the_keyboard(
        django_db_setup, live_server, cast, browser):
    """At 1280 px the queue keeps every column and its layout as it was, so an address in a
    subject makes the table wider than the screen: the table scrolls, the page does not."""
    demo_like(cast, long_token=True)
    page = open_page(browser, live_server, cast.operator, 1280, "/tickets/")
    assert page.evaluate(PAGE_FITS)
    assert region_facts(page, "table.queue-list")["scrolls"]
    # The region is the next Tab stop after the last link above the table, and the arrow
    # keys scroll it; the page stays put.
    page.locator(".queue-views a.reset-filters").focus()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.classList.contains('table-scroll')")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    # Polled from here: wait_for_function's string would be evaluated in the page, which the
    # page's Content-Security-Policy refuses.
    scrolled = 0
    for _ in range(40):
        scrolled = page.evaluate("document.querySelector('.table-scroll').scrollLeft")
        if scrolled > 0:
            break
        page.wait_for_timeout(50)
    assert scrolled > 0
    assert page.evaluate("window.scrollX") == 0
    assert page.evaluate(PAGE_FITS)
    page.screenshot(path=str(ARTIFACTS / "queue-1280-scrolled.png"))
    connections.close_all()


@pytest.mark.parametrize("width", [375, 768])
def test_the_board_fits_a_narrow_screen_and_breaks_no_subject_inside_a_word(
        django_db_setup, live_server, cast, browser, width):
    demo_like(cast)
    page = open_page(browser, live_server, cast.operator, width, "/board/")
    assert page.locator("#breached table.board tbody tr").count() == 4
    # Four of demo_like's and the cast's own four, due within the default policy's hours.
    assert page.locator("#at_risk table.board tbody tr").count() == 8
    assert page.evaluate(PAGE_FITS)
    for section, name in (("#breached", "Просрочены (4)"),
                          ("#at_risk", "Под угрозой: срок истекает в течение 2 часов (8)")):
        facts = region_facts(page, f"{section} table.board")
        assert facts == {"tabindex": 0, "role": "region", "name": name, "overflow": "auto",
                         "scrolls": False}
    expected = ["Номер", "Тема", "Срок"] if width == 375 else [
        "Номер", "Тема", "Приоритет", "Срок"]
    assert visible_headers(page, "#breached table.board") == expected
    subjects = ".board td:nth-child(3)"
    long_one = page.locator(subjects, has_text="Виртуальная машина").first
    assert long_one.bounding_box()["height"] > 40  # it does wrap, over several lines
    assert page.evaluate(BROKEN_WORDS, subjects) == []
    page.screenshot(path=str(ARTIFACTS / f"board-narrow-{width}.png"), full_page=True)
    assert page.evaluate("window.cspViolations") == []

    # The control: the board's old narrow layout (its fixed column widths with
    # `overflow-wrap: anywhere`) is caught by the same check.
    page.evaluate("""() => {
      const widths = ['7.5rem', '11rem', '', '8.5rem', '11rem', '19rem'];
      document.querySelectorAll('.board').forEach((table) => {
        table.querySelectorAll('col').forEach((col, i) => { col.style.width = widths[i]; });
        table.querySelectorAll('th, td').forEach((cell) => {
          cell.style.display = 'table-cell'; cell.style.overflowWrap = 'anywhere'; });
      });
    }""")
    assert page.evaluate(BROKEN_WORDS, subjects) != []
    connections.close_all()


def test_at_1280_px_the_queue_and_the_board_are_as_they_were(django_db_setup, live_server,
                                                             cast, browser):
    demo_like(cast)
    page = open_page(browser, live_server, cast.operator, 1280, "/tickets/")
    assert visible_headers(page) == ALL_COLUMNS
    assert page.evaluate(PAGE_FITS)
    assert not region_facts(page, "table.queue-list")["scrolls"]
    table = page.locator("table.queue-list").bounding_box()
    assert table["width"] == pytest.approx(1280 - 2 * 18, abs=2)  # main's width, as before
    page.screenshot(path=str(ARTIFACTS / "queue-narrow-1280.png"), full_page=True)

    ticket = ticket_services.create_ticket(
        partner=cast.a.partner, actor=cast.a.customer, channel=Channel.PORTAL,
        contact=cast.a.contact, subject=f"Не открывается {LONG_TOKEN}", text=LONG_TOKEN)
    Ticket.objects.filter(pk=ticket.pk).update(due_at=now() - timedelta(minutes=15))
    page.goto(f"{live_server.url}/board/")
    assert visible_headers(page, "#breached table.board") == [
        "Номер", "Партнёр", "Тема", "Приоритет", "Исполнитель", "Срок"]
    assert page.evaluate("getComputedStyle(document.querySelector('table.board')).tableLayout"
                         ) == "fixed"
    number = page.locator("#breached table.board thead th").first.bounding_box()
    assert number["width"] == pytest.approx(7.5 * 15, abs=1)  # the column widths it had
    assert page.evaluate(PAGE_FITS)
    # In the fixed layout the address longer than its cell breaks inside the cell; the
    # words around it do not.
    cell = page.locator(".board td:nth-child(3)", has_text=LONG_TOKEN)
    assert cell.evaluate("el => el.scrollWidth <= el.clientWidth")
    assert cell.bounding_box()["height"] > 40
    assert page.evaluate(BROKEN_WORDS, ".board td:nth-child(3)") == []
    assert not region_facts(page, "#breached table.board")["scrolls"]
    page.screenshot(path=str(ARTIFACTS / "board-narrow-1280.png"), full_page=True)
    assert page.evaluate("window.cspViolations") == []
    connections.close_all()


@pytest.mark.parametrize("path", ["/tickets/", "/board/"])
def test_narrow_queue_and_board_have_no_serious_accessibility_violation(
        django_db_setup, live_server, cast, browser, path):
    if not AXE.exists():
        pytest.skip(f"axe-core is not installed ({AXE})")
    demo_like(cast, long_token=True)
    page = open_page(browser, live_server, cast.operator, 375, path)
    found = violations(page, f"narrow-375{path.replace('/', '-').rstrip('-')}")
    connections.close_all()
    assert found == []
