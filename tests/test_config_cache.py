"""The per-process cache of partner configuration (firstline.core.config_cache)."""

import pytest

from firstline.core import config_cache
from firstline.mail.autoreply import template_for
from firstline.mail.models import AckTemplate
from firstline.sla import deadlines
from firstline.sla.models import SlaPolicy
from tests.test_outbox_http import make_partner


@pytest.fixture(autouse=True)
def _fresh_cache():
    config_cache.clear()
    yield
    config_cache.clear()


def test_a_value_is_loaded_once_within_the_ttl(monkeypatch) -> None:
    calls = []
    clock = [100.0]
    monkeypatch.setattr(config_cache.time, "monotonic", lambda: clock[0])

    def load() -> int:
        calls.append(1)
        return len(calls)

    assert config_cache.get("key", load) == 1
    clock[0] += config_cache.TTL_SECONDS - 0.1
    assert config_cache.get("key", load) == 1
    clock[0] += 0.2
    assert config_cache.get("key", load) == 2  # expired: another process may have changed it


@pytest.mark.django_db
def test_a_change_saved_in_this_process_is_seen_at_once(django_assert_num_queries) -> None:
    partner = make_partner("alpha")
    assert deadlines.default_policy(partner.pk) is None
    with django_assert_num_queries(0):
        assert deadlines.default_policy(partner.pk) is None
    policy = SlaPolicy.objects.create(partner=partner, name="Gold", is_default=True)
    assert deadlines.default_policy(partner.pk) == policy

    assert template_for(partner, "ru")[0].startswith("[{number}]")
    AckTemplate.objects.create(partner=partner, language="ru", subject="{number}: {request}",
                               body="{name} {request} {deadline}")
    assert template_for(partner, "ru")[0] == "{number}: {request}"
