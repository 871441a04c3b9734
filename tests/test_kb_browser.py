"""The knowledge base in the real Debian Chromium: a portal customer typing a question sees
a matching article suggested and says it solved the problem; an operator inserts an
article's link into the reply with one click; the public help page and the article editor
are screenshotted (test-artifacts/kb-*.png) to be looked at."""

from datetime import date

from django.db import connections
from django.test import Client
from playwright.sync_api import expect

from firstline.kb import services
from firstline.kb.models import Deflection

from .browser import ARTIFACTS, BROWSER_TEST

pytestmark = BROWSER_TEST

PRINTER = ("<h2>Подключение</h2><p>Откройте «Параметры» → «Принтеры и сканеры», нажмите "
           "«Добавить устройство» и выберите принтер из списка.</p><h2>Проверка</h2>"
           "<ol><li>Откройте свойства принтера.</li><li>Нажмите «Печать пробной страницы».</li>"
           "</ol>")


def signed_in_page(browser, live_server, user):
    client = Client()
    client.force_login(user)
    context = browser.new_context(locale="ru-RU", viewport={"width": 1280, "height": 900})
    context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value,
                          "url": live_server.url}])
    return context.new_page()


def publish(cast, title, body=PRINTER, **extra):
    values = {"language": "ru", "visibility": "public", **extra}
    article = services.create_article(partner=cast.a.partner, actor=cast.a.engineer,
                                      title=title, body=body, **values)
    services.submit_for_review(article=article, actor=cast.a.engineer)
    return services.publish(article=article, actor=cast.a.manager)


def test_a_portal_customer_typing_a_question_is_offered_the_article(
        django_db_setup, live_server, cast, browser):
    printer = publish(cast, "Настройка принтера")
    publish(cast, "Смена пароля почты", body="<p>Пароль меняют в личном кабинете.</p>")
    page = signed_in_page(browser, live_server, cast.a.customer)
    page.goto(f"{live_server.url}/portal/new/")
    page.fill("#id_subject", "Принтеры не настраиваются")
    suggestions = page.locator("#kb-suggestions")
    expect(suggestions).to_contain_text("Настройка принтера")
    expect(suggestions).not_to_contain_text("пароля")
    expect(suggestions.locator("mark").first).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "kb-portal-suggestion.png"), full_page=True)

    href = suggestions.locator("a").first.get_attribute("href")  # opens in a new tab
    page.goto(live_server.url + href)
    page.click("button:has-text('Статья решила мою проблему')")
    expect(page.locator(".flash")).to_contain_text("Рады, что статья помогла")
    assert Deflection.objects.get().article == printer
    assert services.deflections(cast.a.partner, date.today())["total"] == 1

    # The public help page and its search, without signing in.
    anonymous = browser.new_page(locale="ru-RU", viewport={"width": 1280, "height": 900})
    anonymous.goto(f"{live_server.url}/help/alpha/?q=принтеры+не+печатают")
    expect(anonymous.locator(".kb-hits")).to_contain_text("Настройка принтера")
    anonymous.screenshot(path=str(ARTIFACTS / "kb-help-page.png"), full_page=True)
    anonymous.goto(f"{live_server.url}/help/alpha/?q=?!")
    expect(anonymous.locator(".help-problem")).to_contain_text("Искать нечего")
    anonymous.close()
    page.context.close()
    connections.close_all()


def test_an_operator_inserts_an_articles_link_into_the_reply(
        django_db_setup, live_server, cast, browser):
    printer = publish(cast, "Доступ к FTP: проверка", body="<p>Проверьте логин FTP и пароль.</p>")
    page = signed_in_page(browser, live_server, cast.operator)
    page.goto(f"{live_server.url}/tickets/{cast.a.ticket.pk}/")
    panel = page.locator("#kb-suggestions")
    expect(panel).to_contain_text("Доступ к FTP: проверка")
    page.fill("#reply-form textarea[name=text]", "Здравствуйте! Инструкция:")
    panel.locator("button[data-kb-insert]").first.click()
    link = f"{live_server.url}/help/alpha/{printer.pk}/"
    expect(page.locator("#reply-form textarea[name=text]")).to_have_value(
        f"Здравствуйте! Инструкция: Доступ к FTP: проверка: {link}")
    page.screenshot(path=str(ARTIFACTS / "kb-ticket-panel.png"), full_page=True)

    # The editor: a script is refused with a message naming the field.
    editor = signed_in_page(browser, live_server, cast.a.engineer)
    editor.goto(f"{live_server.url}/kb/{printer.pk}/edit/")
    editor.fill("#id_body", "<p>Шаг 1</p><script>alert(1)</script>")
    editor.click("button:has-text('Сохранить черновик')")
    expect(editor.locator(".field-body .errorlist")).to_contain_text("Скрипты в статьях")
    editor.screenshot(path=str(ARTIFACTS / "kb-editor.png"), full_page=True)
    editor.goto(f"{live_server.url}/kb/{printer.pk}/")
    expect(editor.locator(".kb-versions")).to_contain_text("опубликована")
    editor.screenshot(path=str(ARTIFACTS / "kb-article-desk.png"), full_page=True)
    editor.context.close()
    page.context.close()
    connections.close_all()
