"""The Content-Security-Policy in the real Debian Chromium: no page of the desk, the portal,
the admin or the API docs breaks it, and HTMX still works under it.

Every `securitypolicyviolation` event and every console message about the policy on every
page is collected; a single one fails the test, naming the page and what was refused. A new
inline <script>, style="" attribute, on*= handler or HTMX filter expression (eval) anywhere
on these pages is caught here.
"""

import re
from typing import Any

import pytest
from django.db import connections
from django.urls import reverse
from playwright.sync_api import expect

from firstline.core.models import User
from firstline.tickets.models import Message

from .browser import ARTIFACTS, BROWSER_TEST
from .conftest import PASSWORD

pytestmark = BROWSER_TEST

WATCH = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.reportViolation({
    page: location.pathname, directive: event.effectiveDirective,
    blocked: event.blockedURI, sample: event.sample, line: event.lineNumber,
  });
});
"""


class Watched:
    """A browser page whose policy violations and policy console messages are collected."""

    def __init__(self, browser: Any, base_url: str) -> None:
        self.base = base_url
        self.violations: list[Any] = []
        self.page = browser.new_page(locale="en-US", viewport={"width": 1280, "height": 900})
        self.page.expose_function("reportViolation", self._violation)
        self.page.add_init_script(WATCH)
        self.page.on("console", self._console)

    def _violation(self, details: Any) -> None:
        self.violations.append(details)

    def _console(self, message: Any) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            self.violations.append({"page": self.page.url, "console": message.text})

    def visit(self, path: str) -> Any:
        response = self.page.goto(self.base + path)
        assert response is not None and response.status == 200, (path, response and response.status)
        assert "default-src 'self'" in response.headers["content-security-policy"]
        self.page.wait_for_load_state("load")
        return response

    def sign_in(self, username: str) -> None:
        self.visit("/login/")
        self.page.fill("input[name=username]", username)
        self.page.fill("input[name=password]", PASSWORD)
        self.page.click("main button[type=submit]")
        self.page.wait_for_url("**/tickets/**")

    def assert_clean(self) -> None:
        # Violations are reported asynchronously: let the last page's events arrive.
        self.page.wait_for_timeout(300)
        assert self.violations == []
        if self.page.evaluate("typeof window.htmx === 'undefined'"):
            return  # the admin: no HTMX there
        # HTMX's own indicator <style> is off (htmx-config); app.css styles the indicator.
        assert self.page.evaluate("document.querySelectorAll('style').length") == 0
        opacity = self.page.evaluate(
            "(() => { const d = document.createElement('span'); d.className = 'htmx-indicator';"
            " document.body.append(d); const o = getComputedStyle(d).opacity; d.remove();"
            " return o; })()"
        )
        assert opacity == "0"


@pytest.fixture
def admin_user(cast) -> User:
    return User.objects.create_user(
        username="root", password=PASSWORD, role=User.Role.ADMIN, is_staff=True,
        is_superuser=True,
    )


def test_the_desk_and_its_settings_keep_the_policy_and_htmx_works(
    django_db_setup, live_server, cast, admin_user, browser
):
    desk = Watched(browser, live_server.url)
    desk.sign_in("root")
    # The queue's filters update the results through HTMX.
    desk.page.locator("input[type=search]").press_sequentially(cast.a.ticket.number, delay=10)
    # (Playwright's own wait_for_function would need eval, which the policy refuses.)
    expect(desk.page.locator("#results tbody tr")).to_have_count(1)
    assert "q=" in desk.page.url  # hx-push-url
    assert cast.a.ticket.number in desk.page.text_content("#results")
    desk.assert_clean()

    # The ticket page: the reply check answers through HTMX as the operator types.
    desk.visit(reverse("ticket", args=[cast.a.ticket.pk]))
    desk.page.locator("textarea[name=text]").press_sequentially(
        "Иван, ваша проблема решена.", delay=10
    )
    desk.page.locator("#reply-check .check-summary").wait_for()
    assert "cannot be sent" in desk.page.text_content("#reply-check")
    desk.assert_clean()
    # A refused reply comes back written; it is checked again on load (no eval needed).
    desk.page.evaluate("document.querySelector('textarea[name=text]').form.submit()")
    desk.page.wait_for_load_state("load")
    desk.page.locator("#reply-check .check-summary").wait_for()
    assert "проблема" in desk.page.input_value("textarea[name=text]")
    assert not Message.objects.filter(ticket=cast.a.ticket, kind="reply").exists()
    desk.assert_clean()

    pages = [
        reverse("sla-board"), reverse("mail:failed"),
        reverse("sla-partners"), reverse("sla-settings", args=[cast.a.partner.pk]),
        reverse("sla-policy-new", args=[cast.a.partner.pk]),
        reverse("script-partners"), reverse("script-settings", args=[cast.a.partner.pk]),
        reverse("calendars:list"), reverse("calendars:new"), reverse("calendars:production"),
        reverse("reply-rules"), reverse("reply-rules-partner", args=[cast.a.partner.pk]),
        "/admin/", "/admin/core/user/", f"/admin/core/user/{cast.operator.pk}/change/",
        "/admin/accounts/signinthrottle/",
    ]
    for path in pages:
        desk.visit(path)
        name = re.sub(r"\d+", "n", path.strip("/").replace("/", "-"))
        desk.page.screenshot(path=str(ARTIFACTS / f"csp-{name}.png"))
    desk.assert_clean()

    # The calendars' partner filter submits on change from a static script, not onchange=.
    desk.visit(reverse("calendars:list"))
    desk.page.select_option("select[name=partner]", str(cast.a.partner.pk))
    desk.page.wait_for_url(re.compile(rf".*[?&]partner={cast.a.partner.pk}\b.*"))
    desk.assert_clean()

    # The API docs: Swagger UI renders the schema under the same policy.
    desk.visit("/api/docs")
    desk.page.locator(".swagger-ui .opblock").first.wait_for()
    desk.page.locator(".swagger-ui .opblock-summary").first.click()
    desk.page.locator(".swagger-ui .opblock-body").first.wait_for()
    desk.page.screenshot(path=str(ARTIFACTS / "csp-api-docs.png"), full_page=False)
    desk.assert_clean()
    connections.close_all()


def test_the_portal_keeps_the_policy_from_sign_in_to_sign_out(
    django_db_setup, live_server, cast, browser
):
    portal = Watched(browser, live_server.url)
    login = reverse("portal:login", args=[cast.a.partner.slug])
    portal.visit(login)
    portal.page.fill("input[name=pw-email]", "ivan@alpha.example")
    portal.page.fill("input[name=pw-password]", PASSWORD)
    portal.page.click("form:has(input[name=pw-email]) button[type=submit]")
    portal.page.wait_for_url("**/portal/")
    for path in [reverse("portal:tickets"), reverse("portal:new-ticket"),
                 reverse("portal:ticket", args=[cast.a.ticket.pk])]:
        portal.visit(path)
    portal.page.screenshot(path=str(ARTIFACTS / "csp-portal-ticket.png"), full_page=True)
    portal.assert_clean()
    # Signing out lands on the partner's own portal sign-in, white label kept.
    portal.page.click("header form[action='/logout/'] button")
    portal.page.wait_for_url(f"**{login}")
    assert "Partner alpha support" in portal.page.text_content("header")
    portal.assert_clean()

    # A guessed password, five times: the lockout is said in Russian, with when to retry.
    guesser = browser.new_page(locale="ru-RU")
    guesser.goto(live_server.url + login)
    for _ in range(5):
        guesser.fill("input[name=pw-email]", "olga@alpha.example")
        guesser.fill("input[name=pw-password]", "not-her-password")
        guesser.click("form:has(input[name=pw-email]) button[type=submit]")
        guesser.wait_for_load_state("load")
    assert "Слишком много неудачных попыток входа" in guesser.text_content("main")
    guesser.screenshot(path=str(ARTIFACTS / "portal-sign-in-locked.png"), full_page=True)
    connections.close_all()
