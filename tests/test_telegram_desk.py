"""The partner's bot on the desk: supervisors set the token and the mode and point Telegram's
webhook at the desk; bad tokens are refused naming the field; partner accounts and customers
cannot open the page; every change is audited without the token."""

import pytest
from django.test import override_settings
from django.urls import reverse

from firstline.core.audit import AuditEvent
from firstline.telegram import services
from firstline.telegram.models import Bot
from tests.conftest import client_for
from tests.telegram_standin import TelegramStandIn

TOKEN = "7012345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"


@pytest.fixture
def api():
    with TelegramStandIn() as standin:
        standin.add_bot(TOKEN, "alpha_support_bot")
        with override_settings(FIRSTLINE_TELEGRAM_API_URL=standin.url,
                               SITE_URL="https://desk.example"):
            yield standin


def test_a_supervisor_connects_the_partners_bot_and_sets_its_webhook(cast, api):
    client = client_for(cast.supervisor)
    url = reverse("telegram:settings", args=[cast.a.partner.pk])
    page = client.get(url)
    assert page.status_code == 200 and "@BotFather" in page.text
    answer = client.post(url, {"token": TOKEN, "mode": "webhook", "is_active": "on"})
    assert answer.status_code == 302
    bot = Bot.objects.get(partner=cast.a.partner)
    assert bot.bot_id == 7012345678 and str(bot.token) == TOKEN
    assert len(str(bot.secret_token)) >= 32
    event = AuditEvent.objects.get(action="telegram.bot_saved")
    assert TOKEN not in str(event.after) and event.after["token_changed"] is True

    client.post(reverse("telegram:set-webhook", args=[cast.a.partner.pk]))
    webhook = api.webhook_of(TOKEN)
    assert webhook["url"] == "https://desk.example/telegram/7012345678/webhook"
    assert webhook["secret_token"] == str(bot.secret_token)
    bot.refresh_from_db()
    assert bot.username == "alpha_support_bot" and bot.webhook_set_at is not None
    page = client.get(url).text
    assert "@alpha_support_bot" in page and TOKEN not in page
    assert str(bot.secret_token) not in page

    # An empty token keeps the stored one; the mode changes.
    client.post(url, {"token": "", "mode": "polling", "is_active": "on"})
    bot.refresh_from_db()
    assert bot.mode == Bot.Mode.POLLING and str(bot.token) == TOKEN


@pytest.mark.parametrize("token", ["", "not-a-token", "123:short", "abc:" + "A" * 35])
def test_a_bad_token_is_refused_naming_the_field_and_nothing_is_saved(cast, api, token):
    client = client_for(cast.supervisor)
    answer = client.post(reverse("telegram:settings", args=[cast.a.partner.pk]),
                         {"token": token, "mode": "webhook", "is_active": "on"})
    assert answer.status_code == 400
    assert "token" in answer.context["form"].errors
    assert not Bot.objects.exists() and not AuditEvent.objects.filter(
        action__startswith="telegram.").exists()


def test_a_bad_mode_and_a_bot_of_another_partner_are_refused(cast, api):
    with pytest.raises(Exception, match="mode"):
        services.save_bot(partner=cast.a.partner, actor=cast.supervisor, token=TOKEN,
                          mode="carrier-pigeon", is_active=True)
    services.save_bot(partner=cast.a.partner, actor=cast.supervisor, token=TOKEN,
                      mode="webhook", is_active=True)
    client = client_for(cast.supervisor)
    answer = client.post(reverse("telegram:settings", args=[cast.b.partner.pk]),
                         {"token": TOKEN, "mode": "webhook", "is_active": "on"})
    assert answer.status_code == 400
    assert "another partner" in str(answer.context["form"].errors["token"])
    assert not Bot.objects.filter(partner=cast.b.partner).exists()


def test_telegram_refusing_the_webhook_is_shown_and_recorded(cast, api):
    bot = services.save_bot(partner=cast.a.partner, actor=cast.supervisor, token=TOKEN,
                            mode="webhook", is_active=True)
    api.fail_next("setWebhook", 400, "Bad Request: bad webhook: HTTPS url must be provided")
    client = client_for(cast.supervisor)
    answer = client.post(reverse("telegram:set-webhook", args=[cast.a.partner.pk]),
                         follow=True)
    assert "bad webhook" in answer.text
    bot.refresh_from_db()
    assert "bad webhook" in bot.last_error and bot.webhook_set_at is None


def test_an_http_site_cannot_set_a_webhook(cast, api):
    services.save_bot(partner=cast.a.partner, actor=cast.supervisor, token=TOKEN,
                      mode="webhook", is_active=True)
    with override_settings(SITE_URL="http://127.0.0.1:8000"):
        answer = client_for(cast.supervisor).post(
            reverse("telegram:set-webhook", args=[cast.a.partner.pk]), follow=True)
    assert "https://" in answer.text
    assert not api.sent("setWebhook")


def test_partner_accounts_and_customers_cannot_open_the_bot_settings(cast, api):
    services.save_bot(partner=cast.a.partner, actor=cast.supervisor, token=TOKEN,
                      mode="webhook", is_active=True)
    for user in (cast.a.engineer, cast.a.manager, cast.a.customer, cast.b.manager,
                 cast.operator):
        client = client_for(user)
        for url in (reverse("telegram:partners"),
                    reverse("telegram:settings", args=[cast.a.partner.pk])):
            assert client.get(url).status_code == 403, (user, url)
        assert client.post(reverse("telegram:set-webhook", args=[cast.a.partner.pk])
                           ).status_code == 403
    assert client_for(cast.supervisor).get(
        reverse("telegram:settings", args=[999999])).status_code == 404
    assert not api.calls
