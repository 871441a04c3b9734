"""A fixed cast on two partners, shared by every test.

Partner A ("alpha") and partner B ("beta") each have an engineer, a manager, an API
integration account, an organisation, two customer contacts with portal accounts, a
service and a ticket per contact. Provider staff: an operator and a supervisor.
"""

from dataclasses import dataclass

import pytest
from django.test import Client

from firstline.contacts.models import Contact, ContactEmail, Organisation
from firstline.core.models import Partner, Service, Tariff, User
from firstline.tickets import services as ticket_services
from firstline.tickets.models import Channel, Ticket

PASSWORD = "correct-horse-battery"


@dataclass
class Side:
    partner: Partner
    engineer: User
    manager: User
    integration: User
    organisation: Organisation
    contact: Contact
    customer: User
    other_contact: Contact
    other_customer: User
    service: Service
    ticket: Ticket
    other_ticket: Ticket


@dataclass
class Cast:
    operator: User
    supervisor: User
    a: Side
    b: Side


def make_user(username: str, role: str, partner: Partner | None = None, **extra) -> User:
    return User.objects.create_user(
        username=username, password=PASSWORD, role=role, partner=partner, **extra
    )


def make_contact(partner: Partner, organisation: Organisation, name: str, email: str):
    user = make_user(f"{partner.slug}:{email}", User.Role.CUSTOMER, partner, email=email,
                     first_name=name)
    contact = Contact.objects.create(
        partner=partner, organisation=organisation, name=name, user=user
    )
    ContactEmail.objects.create(partner=partner, contact=contact, address=email,
                                is_confirmed=True)
    return contact, user


def make_side(slug: str, tariff: Tariff) -> Side:
    partner = Partner.objects.create(
        name=f"Partner {slug}", slug=slug, support_email=f"support@{slug}.example",
        tariff=tariff,
    )
    organisation = Organisation.objects.create(
        partner=partner, name=f"{slug} customer LLC", contract_number=f"{slug}-001"
    )
    contact, customer = make_contact(partner, organisation, f"Ivan {slug}", f"ivan@{slug}.example")
    other_contact, other_customer = make_contact(
        partner, organisation, f"Olga {slug}", f"olga@{slug}.example"
    )
    service = Service.objects.create(partner=partner, name=f"VPS {slug}")
    ticket = ticket_services.create_ticket(
        partner=partner, actor=customer, channel=Channel.PORTAL, contact=contact,
        subject=f"No FTP access at {slug}", text=f"I cannot reach FTP ({slug}).",
        service=service,
    )
    other_ticket = ticket_services.create_ticket(
        partner=partner, actor=other_customer, channel=Channel.PORTAL, contact=other_contact,
        subject=f"Mail is slow at {slug}", text="Mail takes minutes to arrive.",
    )
    return Side(
        partner=partner,
        engineer=make_user(f"{slug}-engineer", User.Role.ENGINEER, partner),
        manager=make_user(f"{slug}-manager", User.Role.MANAGER, partner),
        integration=make_user(f"{slug}-integration", User.Role.INTEGRATION, partner),
        organisation=organisation,
        contact=contact,
        customer=customer,
        other_contact=other_contact,
        other_customer=other_customer,
        service=service,
        ticket=ticket,
        other_ticket=other_ticket,
    )


@pytest.fixture
def tariff(db) -> Tariff:
    return Tariff.objects.create(
        code="start", name="Start", requests_included=10, minutes_included=50,
        monthly_fee="4900", first_month_fee="4900", overage_request_fee="350",
        overage_minute_fee="9",
    )


@pytest.fixture
def cast(db, tariff) -> Cast:
    return Cast(
        operator=make_user("operator", User.Role.OPERATOR, first_name="Olga",
                           last_name="Operator"),
        supervisor=make_user("supervisor", User.Role.SUPERVISOR),
        a=make_side("alpha", tariff),
        b=make_side("beta", tariff),
    )


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _serve_live_requests_one_at_a_time_on_sqlite() -> None:
    """On SQLite the test database is in memory, and the live server's request threads all
    share the test's one connection; two requests at once on it (a page and its HTMX panels
    or polls) can hang both for good. Served one at a time (a plain WSGIServer answers with
    `Connection: close`, so a browser's kept-alive connection doesn't hold the server), the
    browser tests see the same pages. PostgreSQL gives each thread its own connection."""
    from django.conf import settings
    from django.core.servers.basehttp import WSGIServer
    from django.test.testcases import LiveServerThread

    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":
        return

    class SerialWSGIServer(WSGIServer):
        def __init__(self, *args, connections_override=None, **kwargs):
            # LiveServerThread.run has already given its own thread the shared connection.
            super().__init__(*args, **kwargs)

    LiveServerThread.server_class = SerialWSGIServer


_serve_live_requests_one_at_a_time_on_sqlite()


@pytest.fixture(autouse=True)
def fresh_caches():
    """Compiled calendars and partner configuration are cached per process; SQLite reuses
    the ids of rolled-back rows, so each test starts with empty caches."""
    from firstline.core import config_cache
    from firstline.sla.calendars import clear_schedule_cache

    clear_schedule_cache()
    config_cache.clear()
    yield
    clear_schedule_cache()
    config_cache.clear()


@pytest.fixture
def browser(monkeypatch):
    """A headless Debian Chromium; screenshots go to test-artifacts/."""
    from playwright.sync_api import sync_playwright

    from .browser import ARTIFACTS, CHROMIUM, LAUNCH_ARGS

    ARTIFACTS.mkdir(exist_ok=True)
    # Playwright's sync API keeps an event loop in this thread; the ORM calls the test
    # makes between steps are still plain synchronous code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield browser
        browser.close()
