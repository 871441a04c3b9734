"""Translation leftovers: words with two meanings, weekday names, the default phrases' notes,
and Django's own empty choice, all in Russian for a Russian user."""

import pytest
from django.db.models.fields import BLANK_CHOICE_LABEL
from django.urls import reverse
from django.utils import translation

from firstline.quality.phrases import phrase_list
from firstline.sla.models import WorkingInterval

from .conftest import client_for

pytestmark = pytest.mark.django_db


def russian_page(user, url: str) -> str:
    response = client_for(user).get(url, HTTP_ACCEPT_LANGUAGE="ru")
    assert response.status_code == 200
    return response.content.decode()


def test_the_phrase_source_and_the_letter_sender_are_different_words(cast):
    rules = russian_page(cast.supervisor, reverse("reply-rules"))
    failed = russian_page(cast.supervisor, reverse("mail:failed"))
    assert "<th>Источник</th>" in rules and "От кого" not in rules
    assert "<th>От кого</th>" in failed


def test_weekdays_are_named_not_numbered():
    with translation.override("ru"):
        labels = [str(label) for _value, label in
                  WorkingInterval._meta.get_field("weekday").choices]
    assert labels[0] == "Понедельник" and labels[6] == "Воскресенье"


def test_the_default_phrases_notes_are_russian_for_a_russian_supervisor(cast):
    with translation.override("ru"):
        notes = {line.text: line.why for line in phrase_list(None, "ru")}
        english_list = {line.text: line.why for line in phrase_list(None, "en")}
    assert notes["проблема"].startswith("методика: «проблема»")
    assert all(notes.values()) and not any("customer" in note for note in notes.values())
    assert english_list["calm down"] == "руководитель: пренебрежительно"
    with translation.override("en"):
        assert phrase_list(None, "ru")[0].why.startswith("seed:")
    page = russian_page(cast.supervisor, reverse("reply-rules"))
    assert "проблема — слово клиента" in page


def test_djangos_empty_choice_is_translated():
    with translation.override("ru"):
        assert str(BLANK_CHOICE_LABEL) == "— выберите —"
