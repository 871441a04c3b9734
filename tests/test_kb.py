"""Knowledge base (issue 13, item 1): review workflow and versions, sanitising, search by
word forms, portal suggestions and deflection, the ticket page's panel, the public help
page, attachments, bad input and tenancy. Runs on SQLite and PostgreSQL; what only
PostgreSQL does (ranking by ts_rank, ts_headline) is asserted there."""

import io
from datetime import date

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from firstline.core.models import AuditEvent
from firstline.kb import search, services
from firstline.kb.models import Article, ArticleVersion, Deflection
from firstline.sla.models import TypicalRequest
from firstline.tickets.models import Ticket

from .conftest import client_for

PRINTER = ("<h2>Настройка</h2><p>Откройте «Принтеры и сканеры», выберите принтер и нажмите "
           "«Печать пробной страницы».</p>")
POSTGRES = connection.vendor == "postgresql"


def published(partner, actor, reviewer, title, body=PRINTER, **extra):
    values = {"language": "ru", "visibility": "public", **extra}
    article = services.create_article(partner=partner, actor=actor, title=title, body=body,
                                      **values)
    services.submit_for_review(article=article, actor=actor)
    return services.publish(article=article, actor=reviewer)


@pytest.fixture
def printer(cast):
    return published(cast.a.partner, cast.a.engineer, cast.a.manager, "Настройка принтера")


def test_draft_review_publish_keeps_versions_and_the_published_copy(cast):
    article = services.create_article(
        partner=cast.a.partner, actor=cast.a.engineer, title="Настройка принтера",
        body=PRINTER, language="ru", visibility="public")
    assert article.status == "draft" and not article.is_live
    with pytest.raises(ValidationError) as refused:
        services.publish(article=article, actor=cast.a.manager)  # not reviewed yet
    assert "status" in refused.value.message_dict
    services.submit_for_review(article=article, actor=cast.a.engineer)
    with pytest.raises(PermissionDenied):  # an engineer writes; a manager publishes
        services.publish(article=article, actor=cast.a.engineer)
    with pytest.raises(ValidationError) as refused:
        services.return_to_draft(article=article, actor=cast.a.manager, note="")
    assert "note" in refused.value.message_dict
    services.publish(article=article, actor=cast.a.manager)
    article.refresh_from_db()
    assert article.status == "published" and article.published_title == "Настройка принтера"

    services.update_article(article=article, actor=cast.a.engineer, note="new title",
                            title="Настройка сетевого принтера", body=PRINTER, language="ru",
                            visibility="public")
    article.refresh_from_db()
    # Readers keep the reviewed copy until the change is published.
    assert article.status == "draft" and article.published_title == "Настройка принтера"
    versions = list(ArticleVersion.objects.filter(article=article).order_by("number"))
    assert [v.action for v in versions] == ["created", "submitted", "published", "edited"]
    assert versions[-1].changed == ["title"] and versions[-1].author == cast.a.engineer
    assert versions[-1].note == "new title"
    actions = set(AuditEvent.objects.filter(target_type="article", target_id=str(article.pk))
                  .values_list("action", flat=True))
    assert {"kb.article_created", "kb.article_published", "kb.article_edited"} <= actions


def test_a_script_is_refused_with_a_message_and_nothing_is_saved(cast):
    for body in ["<p>Hi</p><script>alert(1)</script>", '<img src="x" onerror="alert(1)">',
                 '<a href="javascript:alert(1)">go</a>']:
        with pytest.raises(ValidationError) as refused:
            services.create_article(partner=cast.a.partner, actor=cast.a.engineer,
                                    title="Bad", body=body, language="en", visibility="public")
        assert "Scripts are not allowed" in refused.value.message_dict["body"][0]
    assert not Article.objects.exists()

    response = client_for(cast.a.engineer).post(
        reverse("kb:new"), {"title": "Bad", "body": "<script>x()</script>", "language": "en",
                            "visibility": "public"})
    assert response.status_code == 422
    assert "Scripts are not allowed" in response.content.decode()
    assert not Article.objects.exists()

    # Anything else unsafe is sanitised as messages are.
    article = services.create_article(
        partner=cast.a.partner, actor=cast.a.engineer, title="Frame", language="en",
        visibility="public", body='<p>Text</p><iframe src="https://evil.example"></iframe>')
    assert "iframe" not in article.body and "<p>Text</p>" in article.body


def test_bad_fields_are_named_and_another_partners_things_refused(cast):
    other = TypicalRequest.objects.create(partner=cast.b.partner, name="Чужой",
                                          resolution_minutes=60)
    with pytest.raises(ValidationError) as refused:
        services.create_article(partner=cast.a.partner, actor=cast.a.engineer, title=" ",
                                body="", language="de", visibility="secret",
                                typical_request=other)
    assert set(refused.value.message_dict) == {"title", "body", "language", "visibility",
                                               "typical_request"}
    with pytest.raises(PermissionDenied):
        services.create_article(partner=cast.a.partner, actor=cast.b.engineer, title="x",
                                body="<p>x</p>", language="en", visibility="public")
    with pytest.raises(PermissionDenied):
        services.create_article(partner=cast.a.partner, actor=cast.a.integration, title="x",
                                body="<p>x</p>", language="en", visibility="public")


def test_a_russian_article_is_found_by_another_word_form(cast, printer):
    other = published(cast.a.partner, cast.a.engineer, cast.a.manager, "Смена пароля почты",
                      body="<p>Пароль почтового ящика меняют в личном кабинете.</p>")
    hits = search.search(Article.objects.all(), "принтеры не настраиваются")
    assert [hit.article for hit in hits] == [printer]
    assert "<mark>" in hits[0].snippet
    assert [hit.article for hit in search.search(Article.objects.all(), "пароли")] == [other]
    english = published(cast.a.partner, cast.a.engineer, cast.a.manager,
                        "Printer settings", body="<p>Open the printers page.</p>",
                        language="en")
    found = [hit.article for hit in search.search(Article.objects.all(), "printers")]
    assert english in found and printer not in found


@pytest.mark.skipif(not POSTGRES, reason="ts_rank and ts_headline are PostgreSQL's")
def test_postgres_ranks_by_weight_and_highlights_with_headline(cast, printer):
    body_only = published(cast.a.partner, cast.a.engineer, cast.a.manager, "Печать",
                          body="<p>Если принтер не печатает, проверьте бумагу.</p>")
    hits = search.search(Article.objects.all(), "принтеры")
    assert [hit.article for hit in hits] == [printer, body_only]  # the title weighs more
    assert hits[0].rank > hits[1].rank
    assert "<mark>принтер</mark>" in hits[1].snippet
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'kb_article_search'")
        assert "gin" in cursor.fetchone()[0].lower()
    # The stored vector follows the published copy: withdrawn articles are not found.
    services.unpublish(article=printer, actor=cast.a.manager)
    assert Article.objects.get(pk=printer.pk).search_vector is None
    assert [hit.article for hit in search.search(Article.objects.all(), "принтеры")] == [
        body_only]
    # After a bulk import (vectors missing), `firstline kb_reindex` rebuilds them.
    Article.objects.update(search_vector=None)
    call_command("kb_reindex", stdout=io.StringIO())
    assert [hit.article for hit in search.search(Article.objects.all(), "принтеры")] == [
        body_only]
    assert Article.objects.get(pk=printer.pk).search_vector is None  # still withdrawn


def test_punctuation_only_is_nothing_to_search_for(cast, printer):
    with pytest.raises(ValidationError) as refused:
        search.search(Article.objects.all(), " ?!… -- ,,, ")
    assert "Nothing to search for" in refused.value.message_dict["q"][0]
    response = client_for(cast.operator).get(reverse("kb:list"), {"q": "!!!"})
    assert response.status_code == 400 and "Nothing to search for" in response.content.decode()
    response = client_for(cast.a.customer).get(reverse("kb:portal-suggestions"),
                                               {"subject": "???", "text": "..."})
    assert response.status_code == 200 and "Nothing to search for" in response.content.decode()
    response = client_for(cast.a.customer).get(reverse("kb:help", args=["alpha"]), {"q": "%_"})
    assert response.status_code == 400 and "Nothing to search for" in response.content.decode()


def test_tenancy_customers_see_their_partners_public_articles_only(cast, printer):
    internal = published(cast.a.partner, cast.a.engineer, cast.a.manager,
                         "Настройка принтера для операторов", visibility="internal")
    draft = services.create_article(partner=cast.a.partner, actor=cast.a.engineer,
                                    title="Принтер: черновик", body=PRINTER, language="ru",
                                    visibility="public")
    ask = {"subject": "Принтеры", "text": "не настраиваются"}
    own = client_for(cast.a.customer).get(reverse("kb:portal-suggestions"), ask).content.decode()
    assert "Настройка принтера" in own
    assert "для операторов" not in own and "черновик" not in own
    foreign = client_for(cast.b.customer).get(reverse("kb:portal-suggestions"), ask)
    assert "Настройка принтера" not in foreign.content.decode()
    beta = client_for(cast.b.customer)
    assert beta.get(reverse("kb:portal-article", args=[printer.pk])).status_code == 404
    alpha = client_for(cast.a.customer)
    assert alpha.get(reverse("kb:portal-article", args=[internal.pk])).status_code == 404
    assert alpha.get(reverse("kb:portal-article", args=[draft.pk])).status_code == 404
    assert alpha.get(reverse("kb:list")).status_code == 403
    # The public help page: the partner's public articles, nobody else's.
    help_a = client_for(cast.b.customer).get(reverse("kb:help", args=["alpha"]))
    assert "Настройка принтера" in help_a.content.decode()
    assert "для операторов" not in help_a.content.decode()
    assert "Настройка принтера" not in client_for(cast.b.customer).get(
        reverse("kb:help", args=["beta"])).content.decode()
    anonymous = client_for(cast.a.customer)
    anonymous.logout()
    assert anonymous.get(reverse("kb:help-article", args=["beta", printer.pk])).status_code == 404
    assert anonymous.get(reverse("kb:help-article", args=["alpha", internal.pk])
                         ).status_code == 404
    page = anonymous.get(reverse("kb:help-article", args=["alpha", printer.pk]))
    assert page.status_code == 200 and "Принтеры и сканеры" in page.content.decode()
    # Partner staff: their partner's base only.
    assert client_for(cast.b.engineer).get(reverse("kb:article", args=[printer.pk])
                                           ).status_code == 404
    assert client_for(cast.a.engineer).get(reverse("kb:article", args=[internal.pk])
                                           ).status_code == 200


def test_solved_by_the_article_is_counted_per_partner_and_month(cast, printer, time_machine):
    time_machine.move_to("2026-11-15 10:00:00+03:00")
    customer = client_for(cast.a.customer)
    page = customer.get(reverse("kb:portal-article", args=[printer.pk]), {"q": "принтер"})
    assert "The article solved my problem" in page.content.decode()
    response = customer.post(reverse("kb:portal-solved", args=[printer.pk]), {"q": "принтер"})
    assert response.status_code == 302
    assert client_for(cast.b.customer).post(
        reverse("kb:portal-solved", args=[printer.pk])).status_code == 404
    assert Deflection.objects.get().query == "принтер"
    report = services.deflections(cast.a.partner, date(2026, 11, 1))
    assert report == {"total": 1, "articles": [
        {"article_id": printer.pk, "title": "Настройка принтера", "count": 1}]}
    assert services.deflections(cast.a.partner, date(2026, 10, 1))["total"] == 0
    assert services.deflections(cast.b.partner, date(2026, 11, 1))["total"] == 0


def test_the_ticket_panel_suggests_articles_and_the_typical_requests_instruction(cast, printer):
    typical = TypicalRequest.objects.create(partner=cast.a.partner, name="Нет доступа к FTP",
                                     resolution_minutes=60)
    instruction = published(cast.a.partner, cast.a.engineer, cast.a.manager,
                            "Инструкция: доступ к FTP", visibility="internal",
                            body="<p>Проверьте логин.</p>", typical_request=typical)
    ticket = cast.a.ticket
    Ticket.objects.filter(pk=ticket.pk).update(typical_request=typical,
                                              subject="Принтер не печатает")
    operator = client_for(cast.operator)
    page = operator.get(reverse("ticket", args=[ticket.pk])).content.decode()
    assert reverse("kb:ticket-suggestions", args=[ticket.pk]) in page  # loaded lazily
    panel = operator.get(reverse("kb:ticket-suggestions", args=[ticket.pk])).content.decode()
    assert panel.index("Инструкция: доступ к FTP") < panel.index("Настройка принтера")
    public_link = f"http://testserver/help/alpha/{printer.pk}/"
    assert f'data-kb-insert="Настройка принтера: {public_link}"' in panel
    assert f"http://testserver/kb/{instruction.pk}/" in panel
    typed = operator.get(reverse("kb:ticket-suggestions", args=[ticket.pk]), {"q": "--"})
    assert "Nothing to search for" in typed.content.decode()
    assert client_for(cast.b.engineer).get(
        reverse("kb:ticket-suggestions", args=[ticket.pk])).status_code == 404


def test_attachments_images_are_sniffed_and_readable_where_the_article_is(cast, printer):
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 32
    image = services.add_attachment(article=printer, actor=cast.a.engineer,
                                    upload=SimpleUploadedFile("шаг 1.png", png, "image/png"))
    fake = services.add_attachment(
        article=printer, actor=cast.a.engineer,
        upload=SimpleUploadedFile("x.png", b"<html><script>1</script>", "image/png"))
    assert image.is_image and not fake.is_image
    anonymous = client_for(cast.a.customer)
    anonymous.logout()
    response = anonymous.get(reverse("kb:attachment", args=[image.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content) == png  # read to the end: the file closes
    response = anonymous.get(reverse("kb:attachment", args=[fake.pk]))
    assert response["Content-Disposition"].startswith("attachment")
    assert b"".join(response.streaming_content).startswith(b"<html>")
    internal = published(cast.a.partner, cast.a.engineer, cast.a.manager, "Internal",
                         visibility="internal")
    secret = services.add_attachment(article=internal, actor=cast.a.engineer,
                                     upload=SimpleUploadedFile("s.txt", b"secret"))
    assert anonymous.get(reverse("kb:attachment", args=[secret.pk])).status_code == 404
    assert client_for(cast.b.engineer).get(
        reverse("kb:attachment", args=[secret.pk])).status_code == 404
    response = client_for(cast.a.engineer).get(reverse("kb:attachment", args=[secret.pk]))
    assert response.status_code == 200 and b"".join(response.streaming_content) == b"secret"
    with pytest.raises(ValidationError) as refused:
        services.add_attachment(article=printer, actor=cast.a.engineer,
                                upload=SimpleUploadedFile("empty.txt", b""))
    assert "file" in refused.value.message_dict


def test_desk_pages_render_for_the_editor_and_the_reviewer(cast, printer):
    engineer, manager = client_for(cast.a.engineer), client_for(cast.a.manager)
    response = engineer.post(reverse("kb:new"), {
        "title": "Подключение к VPN", "body": "<p>Установите клиент.</p>", "language": "ru",
        "visibility": "internal", "related": [printer.pk]})
    article = Article.objects.get(title="Подключение к VPN")
    assert response.status_code == 302 and list(article.related.all()) == [printer]
    assert engineer.post(reverse("kb:submit", args=[article.pk])).status_code == 302
    page = manager.get(reverse("kb:article", args=[article.pk])).content.decode()
    assert "Publish" in page and "Настройка принтера" in page
    assert manager.post(reverse("kb:return", args=[article.pk]), {"note": "Добавьте шаги"}
                        ).status_code == 302
    article.refresh_from_db()
    assert article.status == "draft"
    listing = engineer.get(reverse("kb:list"), {"q": "принтеры"}).content.decode()
    assert "<mark>" in listing
    assert engineer.get(reverse("kb:edit", args=[article.pk])).status_code == 200
    assert manager.post(reverse("kb:categories"), {"partner": cast.a.partner.pk,
                                                   "name": "Печать"}).status_code == 302
    assert manager.post(reverse("kb:categories"), {"partner": cast.a.partner.pk,
                                                   "name": "печать"}).status_code == 422
