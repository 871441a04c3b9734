"""The demo's calls: every demo partner has a line with answered, abandoned and missed calls."""

from datetime import UTC, datetime

import pytest

from firstline.calls.models import Call, Outcome, PartnerPhoneNumber
from firstline.calls.queries import line_weeks_for, talk_minutes_for
from firstline.core.demo import build_demo
from firstline.core.models import Partner
from firstline.tickets.models import Channel, Ticket

pytestmark = pytest.mark.django_db

MOMENT = datetime(2026, 12, 20, 12, 0, tzinfo=UTC)


def test_the_demo_brings_calls_minutes_and_line_metrics():
    summary = build_demo(moment=MOMENT)
    partners = list(Partner.objects.select_related("tariff"))
    assert summary.counts["calls"] == Call.objects.count() > 300
    assert PartnerPhoneNumber.objects.count() == 3
    for partner in partners:
        outcomes = set(Call.objects.filter(partner=partner).values_list("outcome", flat=True))
        assert Outcome.ANSWERED in outcomes, partner
    assert Call.objects.filter(outcome=Outcome.ABANDONED).exists()
    assert Call.objects.filter(outcome=Outcome.MISSED).exists()
    phone_tickets = Ticket.objects.filter(channel=Channel.PHONE)
    assert phone_tickets.exists()
    assert not phone_tickets.filter(calls__isnull=True).exists()
    minutes = talk_minutes_for(partners, datetime(2026, 11, 1).date())
    for partner in partners:
        # A month of the demo uses a fair part of each plan, and not ten times it.
        assert 0.3 * partner.tariff.minutes_included < minutes[partner.pk] \
            < 1.5 * partner.tariff.minutes_included, (partner, minutes[partner.pk])
    weeks = line_weeks_for(partners, datetime(2026, 12, 9).date())
    assert all(week.calls > 0 and week.max_wait for week in weeks.values())
