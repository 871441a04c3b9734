"""Every delete in the settings pages asks first: the list links to a confirmation page
(GET changes nothing), the page's form deletes (POST). No inline script or handler: the
pages work under a strict Content-Security-Policy."""

import re
from datetime import date, time

import pytest
from django.urls import reverse

from firstline.quality.phrase_models import ForbiddenPhraseSetting
from firstline.quality.script_models import CannedReply
from firstline.sla import calendar_services
from firstline.sla.calendar import WeeklyInterval
from firstline.sla.models import CalendarDay, EscalationStep, TypicalRequest, UrgencyRule

from .conftest import client_for
from .test_sla_deadlines import office_policy

pytestmark = pytest.mark.django_db

INLINE = re.compile(r"<script(?![^>]*\bsrc=)|\son[a-z]+=|\sstyle=|hx-on|confirm\(", re.I)


@pytest.fixture
def rows(cast):
    partner = cast.a.partner
    policy = office_policy(partner)
    calendar = calendar_services.create_calendar(
        partner=partner, actor=cast.supervisor,
        data=calendar_services.CalendarData(
            name="Office", intervals=[WeeklyInterval(0, time(9), time(18))]))
    return {
        "step": EscalationStep.objects.create(
            partner=partner, policy=policy, priority="high", target="reaction", percent=100,
            roles=["lead"], channels=["email"]),
        "rule": UrgencyRule.objects.create(partner=partner, name="Outage", keywords="авария",
                                           priority="critical"),
        "typical": TypicalRequest.objects.create(partner=partner, name="Пароль",
                                                 resolution_minutes=60),
        "reply": CannedReply.objects.create(partner=partner, name="Готово", language="ru",
                                            text="Иван, доступ восстановлен."),
        "day": calendar_services.add_calendar_day(
            calendar=calendar, actor=cast.supervisor, day=date(2026, 8, 3), kind="holiday",
            note="Субботник"),
        "phrase": ForbiddenPhraseSetting.objects.create(
            partner=partner, language="ru", phrase="тикет", suggestions=["заявка"],
            action="add"),
        "calendar": calendar,
        "policy": policy,
    }


def delete_urls(cast, rows):
    pk = cast.a.partner.pk
    return {
        "step": reverse("sla-setting-delete", args=[pk, "steps", rows["step"].pk]),
        "rule": reverse("sla-setting-delete", args=[pk, "rules", rows["rule"].pk]),
        "typical": reverse("sla-setting-delete", args=[pk, "typical", rows["typical"].pk]),
        "reply": reverse("script-setting-delete", args=[pk, "replies", rows["reply"].pk]),
        "day": reverse("calendars:day-delete", args=[rows["calendar"].pk, rows["day"].pk]),
        "phrase": reverse("reply-rules-phrase-delete", args=[rows["phrase"].pk]),
    }


MODELS = {"step": EscalationStep, "rule": UrgencyRule, "typical": TypicalRequest,
          "reply": CannedReply, "day": CalendarDay, "phrase": ForbiddenPhraseSetting}
NAMED = {"step": "Reaction 100%", "rule": "Outage", "typical": "Пароль", "reply": "Готово",
         "day": "03.08.2026", "phrase": "тикет"}


@pytest.mark.parametrize("kind", list(MODELS))
def test_looking_at_the_confirmation_deletes_nothing_and_names_the_row(cast, rows, kind):
    client = client_for(cast.supervisor)
    url = delete_urls(cast, rows)[kind]

    response = client.get(url)

    assert response.status_code == 200
    page = response.content.decode()
    assert NAMED[kind] in page
    assert 'method="post"' in page and 'class="danger"' in page and "Cancel" in page
    assert not INLINE.search(page.split("<main", 1)[1])
    assert MODELS[kind].objects.filter(pk=rows[kind].pk).exists()

    assert client.post(url).status_code == 302
    assert not MODELS[kind].objects.filter(pk=rows[kind].pk).exists()


def test_the_settings_pages_link_to_the_confirmation_instead_of_deleting_at_once(cast, rows):
    client = client_for(cast.supervisor)
    urls = delete_urls(cast, rows)
    pages = {
        "sla": client.get(reverse("sla-settings", args=[cast.a.partner.pk])).content.decode(),
        "script": client.get(reverse("script-settings", args=[cast.a.partner.pk])
                             ).content.decode(),
        "calendar": client.get(reverse("calendars:detail", args=[rows["calendar"].pk]),
                               {"year": 2026}).content.decode(),
        "rules": client.get(reverse("reply-rules-partner", args=[cast.a.partner.pk])
                            ).content.decode(),
    }
    where = {"step": "sla", "rule": "sla", "typical": "sla", "reply": "script",
             "day": "calendar", "phrase": "rules"}
    for kind, url in urls.items():
        page = pages[where[kind]]
        assert f'href="{url}' in page, kind
        assert f'action="{url}"' not in page, kind
    policy_url = reverse("sla-policy-delete", args=[cast.a.partner.pk, rows["policy"].pk])
    assert f'href="{policy_url}"' in pages["sla"]


def test_the_calendar_day_confirmation_returns_to_the_year_shown(cast, rows):
    client = client_for(cast.supervisor)
    url = delete_urls(cast, rows)["day"]
    page = client.get(url, {"year": "2026"}).content.decode()
    assert 'name="year" value="2026"' in page
    response = client.post(url, {"year": "2026"})
    assert response["Location"].endswith("?year=2026")


def test_the_confirmation_is_for_supervisors_only(cast, rows):
    for kind, url in delete_urls(cast, rows).items():
        assert client_for(cast.operator).get(url).status_code == 403, kind
