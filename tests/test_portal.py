import io
import re

from django.core import mail
from django.urls import reverse

from firstline.core.mail import ReadableConsoleBackend
from firstline.portal.services import make_login_token
from firstline.tickets.models import Message, Ticket

from .conftest import PASSWORD, client_for


def test_customer_signs_in_with_password_on_the_partners_portal(cast, client):
    url = reverse("portal:login", args=[cast.a.partner.slug])
    response = client.post(url, {"pw-email": "ivan@alpha.example", "pw-password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == reverse("portal:tickets")
    # The same person is unknown on another partner's portal.
    other = reverse("portal:login", args=[cast.b.partner.slug])
    response = client.post(other, {"pw-email": "ivan@alpha.example", "pw-password": PASSWORD})
    assert response.status_code == 200 and "Wrong e-mail or password" in response.content.decode()


def test_one_time_link_is_mailed_works_once_and_says_nothing_about_strangers(
    cast, client, django_capture_on_commit_callbacks
):
    url = reverse("portal:login", args=[cast.a.partner.slug])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"link-email": "IVAN@alpha.example"}, follow=True)
        stranger = client.post(url, {"link-email": "nobody@alpha.example"}, follow=True)
    assert len(mail.outbox) == 1
    letter = mail.outbox[0]
    assert letter.to == ["ivan@alpha.example"] and letter.from_email == "support@alpha.example"
    shown = [str(m) for m in response.context["messages"]]
    assert shown and shown == [str(m) for m in stranger.context["messages"]]
    link = re.search(r"https?://\S+/portal/link/\S+/", letter.body).group(0)
    path = link.split("://", 1)[1].split("/", 1)[1]
    assert client.get("/" + path).status_code == 200  # a prefetch does not sign in
    assert client.post("/" + path).status_code == 302
    assert client.get(reverse("portal:tickets")).status_code == 200
    client.logout()
    assert client.post("/" + path).status_code == 400  # used up


def test_forged_or_tampered_link_is_refused(cast, client):
    token = make_login_token(cast.a.customer)
    assert client.post(reverse("portal:login-link", args=[token[:-2] + "xx"])).status_code == 400
    assert client.post(reverse("portal:login-link", args=["garbage"])).status_code == 400


def test_customer_creates_a_ticket_and_answers_it(cast):
    client = client_for(cast.a.customer)
    response = client.post(reverse("portal:new-ticket"), {
        "subject": "Нет доступа на FTP", "text": "Не могу зайти на FTP с утра.",
        "service": cast.a.service.pk,
    })
    ticket = Ticket.objects.latest("id")
    assert response.status_code == 302
    assert (ticket.partner, ticket.contact, ticket.channel) == (
        cast.a.partner, cast.a.contact, "portal")
    assert ticket.customer_words == "Не могу зайти на FTP с утра."
    response = client.post(reverse("portal:ticket", args=[ticket.pk]), {"text": "Ещё деталь"})
    assert response.status_code == 302
    assert Message.objects.filter(ticket=ticket, kind="inbound").count() == 2


def test_new_ticket_with_bad_input_names_the_fields_and_creates_nothing(cast):
    client = client_for(cast.a.customer)
    count = Ticket.objects.count()
    response = client.post(reverse("portal:new-ticket"), {
        "subject": "", "text": "", "service": cast.b.service.pk,
    })
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert {"subject", "text", "service"} <= set(errors)
    assert Ticket.objects.count() == count


def test_console_mailer_prints_the_letter_readably():
    stream = io.StringIO()
    letter = mail.EmailMessage("Ссылка для входа", "Откройте http://x/portal/link/t/",
                               "support@alpha.example", ["ivan@alpha.example"])
    ReadableConsoleBackend(stream=stream).send_messages([letter])
    assert "Subject: Ссылка для входа" in stream.getvalue()
    assert "http://x/portal/link/t/" in stream.getvalue()
