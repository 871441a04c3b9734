"""SSRF: webhook URLs that reach inside the provider's network are refused, at save time and
again at send time, unless an administrator allows private addresses."""

import ipaddress

import pytest
from django.core.exceptions import ValidationError

from firstline.outbox.delivery import run_pass
from firstline.outbox.models import Status
from firstline.tickets import services as ticket_services
from firstline.tickets.models import Channel as TicketChannel
from firstline.webhooks import addresses, services
from firstline.webhooks.models import Subscription
from tests.test_outbox_http import FakeServer

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_cached_subscriptions():
    """Workers cache subscriptions for seconds; tests reuse ids of rolled-back rows."""
    from firstline.webhooks import adapter

    adapter.forget()
    yield
    adapter.forget()

REFUSED = [
    "http://127.0.0.1/hook", "http://localhost:8000/hook", "http://10.1.2.3/", "http://172.16.0.1/",
    "http://192.168.1.1/", "http://169.254.169.254/latest/meta-data/", "http://[::1]/",
    "http://[::ffff:127.0.0.1]/", "http://[fe80::1]/", "http://224.0.0.1/", "http://0.0.0.0/",
    "http://100.64.0.1/", "http://240.0.0.1/", "http://[fc00::1]/", "http://2130706433/",
]


@pytest.fixture
def no_private(settings, monkeypatch):
    settings.FIRSTLINE_WEBHOOKS_ALLOW_PRIVATE = False
    monkeypatch.delenv(addresses.ALLOW_PRIVATE, raising=False)


@pytest.mark.parametrize("url", REFUSED)
def test_a_private_or_special_address_is_refused_on_the_url_field(cast, no_private, url):
    with pytest.raises(ValidationError) as refused:
        services.create_subscription(actor=cast.a.manager, partner=cast.a.partner, url=url,
                                     events=["ticket.created"])
    assert set(refused.value.message_dict) == {"url"}
    assert not Subscription.objects.exists()


def test_public_addresses_pass_the_address_check():
    for text in ("93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "77.88.55.242"):
        assert addresses.is_public(ipaddress.ip_address(text))
    # A literal public address needs no DNS at all.
    addresses.check("https://77.88.55.242/hook")


def test_the_admin_allowance_lets_a_local_receiver_in(cast, settings):
    settings.FIRSTLINE_WEBHOOKS_ALLOW_PRIVATE = True
    subscription, _secret = services.create_subscription(
        actor=cast.a.manager, partner=cast.a.partner, url="http://127.0.0.1:8080/hook",
        events=["ticket.created"])
    assert subscription.pk
    # Schemes and credentials stay refused even then.
    for url in ("file:///etc/passwd", "gopher://127.0.0.1/", "http://a:b@127.0.0.1/"):
        with pytest.raises(ValidationError) as refused:
            services.create_subscription(actor=cast.a.manager, partner=cast.a.partner,
                                         url=url, events=["ticket.created"])
        assert set(refused.value.message_dict) == {"url"}


def test_the_address_is_checked_again_at_send_time(cast, settings):
    # Saved while private addresses were allowed (or while DNS pointed elsewhere) ...
    settings.FIRSTLINE_WEBHOOKS_ALLOW_PRIVATE = True
    with FakeServer() as server:
        subscription, _secret = services.create_subscription(
            actor=cast.a.manager, partner=cast.a.partner, url=server.url("/h"),
            events=["ticket.created"])
        ticket_services.create_ticket(
            partner=cast.a.partner, actor=cast.operator, channel=TicketChannel.PHONE,
            subject="Тест", text="Текст", contact=cast.a.contact)
        # ... and now the address is no longer allowed: nothing leaves.
        settings.FIRSTLINE_WEBHOOKS_ALLOW_PRIVATE = False
        run_pass(limit=10)

    assert server.requests == []
    delivery = services.deliveries_for(subscription).get()
    assert delivery.message.status == Status.FAILED
    assert "not a public Internet address" in delivery.message.last_error
