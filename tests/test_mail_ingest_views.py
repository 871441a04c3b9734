"""The operator's list of letters that could not be processed, with the raw .eml."""

from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.urls import include, path, reverse

from firstline import urls as root_urls
from firstline.core.clock import now
from firstline.core.models import AuditEvent
from firstline.mail.ingest import ingest_raw, store_raw
from firstline.mail.models import InboundMail
from tests.conftest import client_for
from tests.test_mail_ingest import make_mailbox
from tests.test_mail_ingest_e2e import eml

# Until firstline/urls.py mounts the mail pages, these tests mount them themselves.
urlpatterns = list(root_urls.urlpatterns)
if not any(getattr(item, "namespace", None) == "mail" for item in urlpatterns):
    urlpatterns.append(path("mail/", include("firstline.mail.urls")))


@pytest.fixture(autouse=True)
def mail_urls(settings):
    settings.ROOT_URLCONF = __name__


@pytest.fixture
def mailbox(cast):
    return make_mailbox(cast.a)


GARBAGE = b"\x00\x01\x02 this is not a letter \xff"


def test_staff_see_failed_letters_of_every_partner(cast, mailbox) -> None:
    failed = ingest_raw(GARBAGE, mailbox=mailbox)
    beta_failed = ingest_raw(b"", mailbox=make_mailbox(cast.b))
    processed = ingest_raw(eml(), mailbox=mailbox)
    page = client_for(cast.operator).get(reverse("mail:failed"))
    assert page.status_code == 200
    html = page.content.decode()
    for inbound in (failed, beta_failed):
        assert reverse("mail:raw", args=[inbound.pk]) in html
    assert reverse("mail:raw", args=[processed.pk]) not in html
    assert "help@beta.example" in html


def test_a_letter_stuck_unprocessed_is_listed_too(cast, mailbox) -> None:
    with time_machine.travel(now() - timedelta(hours=1)):
        stuck = store_raw(eml(), mailbox=mailbox)
    fresh = store_raw(eml(message_id="<fresh@customer.example>"), mailbox=mailbox)
    html = client_for(cast.operator).get(reverse("mail:failed")).content.decode()
    assert reverse("mail:raw", args=[stuck.pk]) in html
    assert reverse("mail:raw", args=[fresh.pk]) not in html


def test_the_raw_letter_downloads_as_it_arrived(cast, mailbox) -> None:
    failed = ingest_raw(GARBAGE, mailbox=mailbox)
    response = client_for(cast.supervisor).get(reverse("mail:raw", args=[failed.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "message/rfc822"
    assert f'filename="inbound-{failed.pk}.eml"' in response["Content-Disposition"]
    assert response.content == GARBAGE


@pytest.mark.parametrize("who", ["engineer", "manager", "customer"])
def test_partner_accounts_and_customers_cannot_see_mail(cast, mailbox, who) -> None:
    failed = ingest_raw(GARBAGE, mailbox=mailbox)
    client = client_for(getattr(cast.a, who))
    assert client.get(reverse("mail:failed")).status_code == 403
    assert client.get(reverse("mail:raw", args=[failed.pk])).status_code == 403
    assert client.post(reverse("mail:retry", args=[failed.pk])).status_code == 403


def test_anonymous_visitors_are_sent_to_sign_in(cast, mailbox) -> None:
    response = Client().get(reverse("mail:failed"))
    assert response.status_code == 302 and "login" in response["Location"]


def test_processing_again_after_the_cause_is_fixed(cast, mailbox, monkeypatch) -> None:
    from firstline.mail import handling

    real = handling.handle

    def broken(*args, **kwargs):
        raise RuntimeError("database hiccup")

    monkeypatch.setattr(handling, "handle", broken)
    failed = ingest_raw(eml(), mailbox=mailbox)
    assert failed.status == InboundMail.Status.FAILED and "hiccup" in failed.error
    monkeypatch.setattr(handling, "handle", real)
    response = client_for(cast.operator).post(reverse("mail:retry", args=[failed.pk]))
    assert response.status_code == 302
    failed.refresh_from_db()
    assert failed.status == InboundMail.Status.PROCESSED and failed.ticket is not None
    assert AuditEvent.objects.filter(action="mail.reprocess", actor=cast.operator).exists()


def test_a_processed_letter_cannot_be_processed_twice(cast, mailbox) -> None:
    processed = ingest_raw(eml(), mailbox=mailbox)
    response = client_for(cast.operator).post(reverse("mail:retry", args=[processed.pk]))
    assert response.status_code == 404
