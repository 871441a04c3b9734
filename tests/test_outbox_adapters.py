"""Channel adapters over real protocols: Django mail, JSON webhooks and SMS.ru over HTTP.

The HTTP tests run a real server on 127.0.0.1 and assert the exact request that reached it.
"""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail

from firstline.core.models import Partner
from firstline.outbox import adapters
from firstline.outbox.delivery import deliver_due
from firstline.outbox.models import Channel, OutboxMessage, Status
from firstline.outbox.services import enqueue
from firstline.tickets.models import Ticket
from tests.test_outbox_http import FakeServer, Seen, closed_port, make_partner, make_ticket

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TEXT = 'Заявка FL-000042: "сервер недоступен"\nОтветьте, пожалуйста.'


@pytest.fixture
def partner(db) -> Partner:
    return make_partner("alpha")


@pytest.fixture
def ticket(partner: Partner) -> Ticket:
    return make_ticket(partner)


def reload(message: OutboxMessage) -> OutboxMessage:
    message.refresh_from_db()
    return message


# E-mail -------------------------------------------------------------------------------------


def test_a_letter_goes_from_the_partners_address_with_its_headers(partner, ticket) -> None:
    message = enqueue(
        partner=partner, ticket=ticket, channel=Channel.EMAIL,
        recipient="ivan@customer.example", subject="Re: Нет доступа к FTP",
        body="Здравствуйте! Доступ восстановлен.", html="<p>Здравствуйте! Доступ восстановлен.</p>",
        headers={"In-Reply-To": "<q1@customer.example>",
                 "References": "<q0@customer.example> <q1@customer.example>"},
    )
    assert deliver_due() == 1
    (letter,) = mail.outbox
    assert letter.from_email == "support@alpha.example"
    assert letter.to == ["ivan@customer.example"]
    assert letter.subject == "Re: Нет доступа к FTP"
    assert letter.body == "Здравствуйте! Доступ восстановлен."
    assert letter.alternatives[0].content == "<p>Здравствуйте! Доступ восстановлен.</p>"
    assert letter.alternatives[0].mimetype == "text/html"
    wire = letter.message()
    assert wire["Message-ID"] == message.headers["Message-ID"]
    assert wire["In-Reply-To"] == "<q1@customer.example>"
    assert wire["References"] == "<q0@customer.example> <q1@customer.example>"
    assert wire["From"] == "support@alpha.example"
    message = reload(message)
    assert message.status == Status.SENT
    assert message.provider_message_id == message.headers["Message-ID"]


def test_a_provider_letter_goes_from_the_default_address(db, settings) -> None:
    settings.DEFAULT_FROM_EMAIL = "noreply@firstline.example"
    enqueue(partner=None, channel=Channel.EMAIL, recipient="lead@firstline.example",
            subject="Отчёт", body="Готов.")
    assert deliver_due() == 1
    assert mail.outbox[0].from_email == "noreply@firstline.example"
    assert "html" not in str(mail.outbox[0].message()["Content-Type"])


# SMS through the JSON webhook ---------------------------------------------------------------


@pytest.fixture
def sms_webhook(settings):
    settings.FIRSTLINE_SMS_PROVIDER = "webhook"
    settings.FIRSTLINE_SMS_WEBHOOK_AUTH_HEADER = "X-Api-Key"
    settings.FIRSTLINE_SMS_WEBHOOK_AUTH_VALUE = "sms-secret"
    return settings


def test_an_sms_webhook_gets_the_exact_request(partner, ticket, sms_webhook) -> None:
    with FakeServer(lambda seen: (202, {"message_id": "gw-77"})) as server:
        sms_webhook.FIRSTLINE_SMS_WEBHOOK_URL = server.url("/v1/sms?channel=alerts")
        message = enqueue(partner=partner, ticket=ticket, channel=Channel.SMS,
                          recipient="+79255070602", body=TEXT)
        assert deliver_due() == 1
    (seen,) = server.requests
    assert (seen.method, seen.path, seen.query) == ("POST", "/v1/sms", {"channel": ["alerts"]})
    assert seen.headers["x-api-key"] == "sms-secret"
    assert "authorization" not in seen.headers
    assert seen.headers["content-type"] == "application/json; charset=utf-8"
    assert seen.headers["idempotency-key"] == f"firstline-outbox-{message.pk}"
    # Russian text as UTF-8 on the wire, not \\u escapes; quotes and newline JSON-escaped.
    assert "Заявка FL-000042: \\\"сервер недоступен\\\"\\nОтветьте".encode() in seen.body
    assert b"\\u04" not in seen.body
    assert seen.json() == {"phone": "+79255070602", "text": TEXT, "partner": "alpha",
                           "ticket": f"FL-{ticket.pk:06d}"}
    message = reload(message)
    assert (message.status, message.provider_message_id) == (Status.SENT, "gw-77")


def test_the_sms_payload_template_is_configurable(partner, sms_webhook) -> None:
    sms_webhook.FIRSTLINE_SMS_WEBHOOK_TEMPLATE = (
        '{"messages": [{"to": "{phone}", "body": "[{partner}] {text}"}], "flash": false}'
    )
    with FakeServer() as server:
        sms_webhook.FIRSTLINE_SMS_WEBHOOK_URL = server.url("/send")
        enqueue(partner=partner, channel=Channel.SMS, recipient="+79255070602",
                body="Текст с {phone} внутри")
        assert deliver_due() == 1
    assert server.requests[0].json() == {
        # One pass: a placeholder inside the customer's text is sent as written.
        "messages": [{"to": "+79255070602", "body": "[alpha] Текст с {phone} внутри"}],
        "flash": False,
    }


def test_a_4xx_from_the_sms_webhook_fails_at_once(partner, sms_webhook) -> None:
    with FakeServer(lambda seen: (422, {"error": "invalid phone"})) as server:
        sms_webhook.FIRSTLINE_SMS_WEBHOOK_URL = server.url("/send")
        message = enqueue(partner=partner, channel=Channel.SMS, recipient="+79255070602",
                          body="x")
        deliver_due()
    message = reload(message)
    assert (message.status, message.attempts) == (Status.FAILED, 1)
    assert message.last_error == 'SMS webhook: HTTP 422 {"error": "invalid phone"}'


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_a_5xx_or_429_from_the_sms_webhook_is_retried(partner, sms_webhook, status) -> None:
    with FakeServer(lambda seen: (status, "try later")) as server:
        sms_webhook.FIRSTLINE_SMS_WEBHOOK_URL = server.url("/send")
        message = enqueue(partner=partner, channel=Channel.SMS, recipient="+79255070602",
                          body="x")
        deliver_due()
    message = reload(message)
    assert (message.status, message.attempts) == (Status.PENDING, 1)
    assert message.last_error == f"SMS webhook: HTTP {status} try later"


def test_a_webhook_that_does_not_answer_in_time_is_retried(partner, sms_webhook) -> None:
    sms_webhook.FIRSTLINE_OUTBOX_HTTP_TIMEOUT = 0.2
    with FakeServer(delay=1.0) as server:
        sms_webhook.FIRSTLINE_SMS_WEBHOOK_URL = server.url("/slow")
        message = enqueue(partner=partner, channel=Channel.SMS, recipient="+79255070602",
                          body="x")
        assert deliver_due() == 0
    message = reload(message)
    assert message.status == Status.PENDING
    assert "timed out" in message.last_error


def test_a_server_that_is_down_delays_the_message_and_loses_nothing(partner, sms_webhook) -> None:
    """Down: retried with back-off. Back: delivered exactly once."""
    port = closed_port()
    sms_webhook.FIRSTLINE_SMS_WEBHOOK_URL = f"http://127.0.0.1:{port}/send"
    with time_machine.travel(NOW, tick=False) as clock:
        message = enqueue(partner=partner, channel=Channel.SMS, recipient="+79255070602",
                          body="Эскалация")
        deliver_due()
        clock.shift(timedelta(minutes=1))
        deliver_due()
        message = reload(message)
        assert (message.status, message.attempts) == (Status.PENDING, 2)
        assert "ConnectionRefusedError" in message.last_error
        assert f"127.0.0.1:{port}/send" in message.last_error
        second_wait = message.next_attempt_at - (NOW + timedelta(minutes=1))
        assert timedelta(seconds=90) <= second_wait <= timedelta(minutes=2)

        with FakeServer(port=port) as server:  # the gateway is back, on the same address
            assert deliver_due() == 0  # the retry is not due yet
            clock.move_to(message.next_attempt_at)
            assert deliver_due() == 1
            clock.shift(timedelta(hours=3))
            assert deliver_due() == 0
    assert len(server.requests) == 1
    message = reload(message)
    assert (message.status, message.attempts) == (Status.SENT, 3)


# SMS.ru ------------------------------------------------------------------------------------


def smsru_ok(seen: Seen) -> tuple[int, dict]:
    phone = seen.form()["to"]
    return 200, {
        "status": "OK", "status_code": 100, "balance": 4122.56,
        "sms": {phone: {"status": "OK", "status_code": 100, "sms_id": "000000-10000001"}},
    }


def smsru_error(code: int, text: str):
    return lambda seen: (200, {"status": "ERROR", "status_code": code, "status_text": text})


@pytest.fixture
def smsru(settings):
    settings.FIRSTLINE_SMS_PROVIDER = "smsru"
    settings.FIRSTLINE_SMSRU_API_ID = "A3CA597E-3ACF-4E7D-82EE-CF82B52B1A8B"
    return settings


def test_smsru_gets_the_documented_request(partner, smsru) -> None:
    smsru.FIRSTLINE_SMSRU_FROM = "FirstLine"
    with FakeServer(smsru_ok) as server:
        smsru.FIRSTLINE_SMSRU_URL = server.url("/sms/send")
        message = enqueue(partner=partner, channel=Channel.SMS,
                          recipient="+7 (925) 507-06-02", body=TEXT)
        assert deliver_due() == 1
    (seen,) = server.requests
    assert (seen.method, seen.path, seen.query) == ("POST", "/sms/send", {})
    assert seen.headers["content-type"] == "application/x-www-form-urlencoded"
    assert seen.form() == {
        "api_id": "A3CA597E-3ACF-4E7D-82EE-CF82B52B1A8B", "to": "79255070602",
        "msg": TEXT, "json": "1", "from": "FirstLine",
    }
    # UTF-8 percent-encoding, as SMS.ru requires ("%D0%97" is the Cyrillic "З").
    assert b"msg=%D0%97%D0%B0%D1%8F%D0%B2%D0%BA%D0%B0" in seen.body
    message = reload(message)
    assert (message.status, message.provider_message_id) == (Status.SENT, "000000-10000001")


def test_smsru_test_mode_is_passed_on(partner, smsru) -> None:
    smsru.FIRSTLINE_SMSRU_TEST = True
    with FakeServer(smsru_ok) as server:
        smsru.FIRSTLINE_SMSRU_URL = server.url("/sms/send")
        enqueue(partner=partner, channel=Channel.SMS, recipient="89255070602", body="x")
        assert deliver_due() == 1
    assert server.requests[0].form()["test"] == "1"
    assert server.requests[0].form()["to"] == "79255070602"  # domestic 8… is +7…


def test_smsru_out_of_money_is_retried_and_sent_once_topped_up(partner, smsru) -> None:
    answers = [smsru_error(201, "Не хватает средств на лицевом счету"), smsru_ok]
    with FakeServer(lambda seen: answers[0](seen)) as server, time_machine.travel(
        NOW, tick=False
    ) as clock:
        smsru.FIRSTLINE_SMSRU_URL = server.url("/sms/send")
        message = enqueue(partner=partner, channel=Channel.SMS, recipient="+79255070602",
                          body="Эскалация")
        assert deliver_due() == 0
        message = reload(message)
        assert (message.status, message.attempts) == (Status.PENDING, 1)
        assert message.last_error == "SMS.ru status_code 201: Не хватает средств на лицевом счету"

        answers.pop(0)  # the account is topped up
        clock.move_to(message.next_attempt_at)
        assert deliver_due() == 1
    message = reload(message)
    assert message.status == Status.SENT
    assert message.last_error.startswith("SMS.ru status_code 201")  # history kept
    assert len(server.requests) == 2


def test_smsru_refusing_the_number_fails_at_once(partner, smsru) -> None:
    def no_route(seen: Seen) -> tuple[int, dict]:
        return 200, {"status": "OK", "status_code": 100, "sms": {seen.form()["to"]: {
            "status": "ERROR", "status_code": 207,
            "status_text": "На этот номер нет маршрута для доставки сообщений"}}}

    with FakeServer(no_route) as server:
        smsru.FIRSTLINE_SMSRU_URL = server.url("/sms/send")
        message = enqueue(partner=partner, channel=Channel.SMS, recipient="+79255070602",
                          body="x")
        deliver_due()
    message = reload(message)
    assert (message.status, message.attempts) == (Status.FAILED, 1)
    assert message.last_error == (
        "SMS.ru status_code 207: На этот номер нет маршрута для доставки сообщений"
    )


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        ((200, "100\n000000-10000000\nbalance=10"), "SMS.ru: not a JSON answer"),
        ((502, "<html>Bad gateway</html>"), "SMS.ru: HTTP 502"),
        ((200, {"status": "ERROR", "status_code": 220,
                "status_text": "Сервис временно недоступен"}), "SMS.ru status_code 220"),
        ((200, {"status": "OK", "status_code": 100, "sms": {}}), "SMS.ru: no result for"),
    ],
)
def test_unclear_or_temporary_smsru_answers_are_retried(partner, smsru, reply, error) -> None:
    with FakeServer(lambda seen: reply) as server:
        smsru.FIRSTLINE_SMSRU_URL = server.url("/sms/send")
        message = enqueue(partner=partner, channel=Channel.SMS, recipient="+79255070602",
                          body="x")
        deliver_due()
    message = reload(message)
    assert message.status == Status.PENDING
    assert message.last_error.startswith(error)


# Voice and webhooks --------------------------------------------------------------------------


def test_a_voice_call_goes_to_the_voice_webhook(partner, settings) -> None:
    settings.FIRSTLINE_VOICE_PROVIDER = "webhook"
    settings.FIRSTLINE_VOICE_WEBHOOK_AUTH_VALUE = "Bearer voice-token"
    with FakeServer(lambda seen: (200, {"call_id": "call-9"})) as server:
        settings.FIRSTLINE_VOICE_WEBHOOK_URL = server.url("/calls")
        message = enqueue(partner=partner, channel=Channel.VOICE, recipient="+79255070602",
                          body="Критическая заявка просрочена")
        assert deliver_due() == 1
    (seen,) = server.requests
    assert (seen.method, seen.path) == ("POST", "/calls")
    assert seen.headers["authorization"] == "Bearer voice-token"
    assert seen.json() == {"phone": "+79255070602", "text": "Критическая заявка просрочена"}
    assert reload(message).provider_message_id == "call-9"


def test_a_webhook_message_posts_its_body_with_its_headers(partner) -> None:
    with FakeServer(lambda seen: (204, "")) as server:
        message = enqueue(
            partner=partner, channel=Channel.WEBHOOK, recipient=server.url("/events"),
            body='{"event": "ticket.breached", "ticket": "FL-000042"}',
            headers={"X-Signature": "abc", "content-type": "application/cloudevents+json"},
        )
        assert deliver_due() == 1
    (seen,) = server.requests
    assert seen.body == b'{"event": "ticket.breached", "ticket": "FL-000042"}'
    assert seen.headers["x-signature"] == "abc"
    assert seen.headers["content-type"] == "application/cloudevents+json"
    assert reload(message).status == Status.SENT


def test_a_channel_without_a_provider_waits_until_one_is_configured(partner, settings) -> None:
    """Not configured is temporary: the message waits instead of being lost."""
    message = enqueue(partner=partner, channel=Channel.SMS, recipient="+79255070602", body="x")
    assert adapters.is_channel_configured(Channel.SMS) is False
    assert deliver_due() == 0
    message = reload(message)
    assert message.status == Status.PENDING
    assert message.last_error.startswith("FIRSTLINE_SMS_PROVIDER is not set")

    settings.FIRSTLINE_SMS_PROVIDER = "carrier-pigeon"
    assert adapters.is_channel_configured(Channel.SMS) is False
    settings.FIRSTLINE_SMS_PROVIDER = "smsru"
    assert adapters.is_channel_configured(Channel.SMS) is False  # no api_id yet
    settings.FIRSTLINE_SMSRU_API_ID = "key"
    assert adapters.is_channel_configured(Channel.SMS) is True
    assert adapters.is_channel_configured(Channel.EMAIL) is True
    assert adapters.is_channel_configured(Channel.VOICE) is False
