"""Talk minutes per partner and month (the tariff's rounding) and line metrics per week."""

from datetime import UTC, date, datetime, timedelta

import pytest

from firstline.calls.models import Call, Direction, Outcome, Source
from firstline.calls.queries import (
    line_week,
    line_weeks_for,
    percentile,
    talk_minutes,
    talk_minutes_for,
)
from firstline.core.models import Tariff

pytestmark = pytest.mark.django_db

DECEMBER = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)  # a Monday


def _call(partner, talk: int, *, at: datetime = DECEMBER, outcome: str = Outcome.ANSWERED,
          direction: str = Direction.INBOUND, wait: int | None = 10) -> Call:
    return Call.objects.create(
        partner=partner, source=Source.WEBHOOK,
        external_id=f"{at.timestamp()}-{Call.objects.count()}",
        direction=direction, started_at=at, entered_at=at, ended_at=at + timedelta(seconds=talk),
        talk_seconds=talk, outcome=outcome, wait_seconds=wait,
    )


def test_each_call_is_rounded_up_to_a_started_minute_by_default(cast):
    partner = cast.a.partner
    for talk in (1, 60, 61, 119):  # 1 + 1 + 2 + 2 minutes
        _call(partner, talk)
    _call(partner, 300, direction=Direction.OUTBOUND)  # a call-back counts: 5 minutes
    _call(partner, 0, outcome=Outcome.ABANDONED)
    _call(partner, 40, outcome=Outcome.VOICEMAIL)  # no operator talked: nothing
    _call(partner, 600, at=DECEMBER - timedelta(days=30))  # November
    assert talk_minutes(partner, date(2026, 12, 1)) == 11
    assert talk_minutes(partner, date(2026, 11, 1)) == 10
    assert talk_minutes(cast.b.partner, date(2026, 12, 1)) == 0


def test_a_per_second_tariff_rounds_the_months_total_once(cast):
    tariff = Tariff.objects.create(
        code="seconds", name="Seconds", requests_included=1, minutes_included=300,
        monthly_fee="1", first_month_fee="1", overage_request_fee="1", overage_minute_fee="1",
        minute_rounding=Tariff.MinuteRounding.PER_SECOND,
    )
    partner = cast.b.partner
    partner.tariff = tariff
    partner.save()
    for talk in (1, 60, 61, 119):  # 241 s: 5 minutes, not 6
        _call(partner, talk)
    _call(cast.a.partner, 61)
    minutes = talk_minutes_for([cast.a.partner, partner], date(2026, 12, 1))
    assert minutes == {cast.a.partner.pk: 2, partner.pk: 5}


def test_the_month_is_the_partners_own(cast):
    """A call at 22:30 UTC on 30 November is already December in Moscow."""
    _call(cast.a.partner, 61, at=datetime(2026, 11, 30, 22, 30, tzinfo=UTC))
    assert talk_minutes(cast.a.partner, date(2026, 12, 1)) == 2
    assert talk_minutes(cast.a.partner, date(2026, 11, 1)) == 0


def test_many_partners_in_one_query(cast, django_assert_num_queries):
    _call(cast.a.partner, 61)
    _call(cast.b.partner, 121)
    partners = [cast.a.partner, cast.b.partner]
    for partner in partners:
        partner.tariff  # noqa: B018 - loaded before counting
    with django_assert_num_queries(1):
        minutes = talk_minutes_for(partners, date(2026, 12, 1))
    assert minutes == {cast.a.partner.pk: 2, cast.b.partner.pk: 3}


def test_line_week_share_answered_and_waits(cast):
    partner = cast.a.partner
    for wait in range(1, 99):  # 98 answered, waits 1..98 s
        _call(partner, 60, wait=wait)
    _call(partner, 0, outcome=Outcome.ABANDONED, wait=200)
    _call(partner, 0, outcome=Outcome.MISSED, wait=300)
    _call(partner, 60, direction=Direction.OUTBOUND, wait=None)  # outbound: not the line
    _call(partner, 60, at=DECEMBER + timedelta(days=7))  # next week
    week = line_week(partner, date(2026, 12, 9))
    assert (week.calls, week.answered, week.max_wait) == (100, 98, 300)
    assert week.answered_share == 0.98 and week.meets_target
    expected = percentile(list(range(1, 99)) + [200, 300], 0.95)
    assert week.p95_wait == pytest.approx(expected)
    assert expected == pytest.approx(95.05)


def test_with_few_calls_one_missed_call_is_allowed_two_are_not(cast):
    for _ in range(9):
        _call(cast.a.partner, 60)
    _call(cast.a.partner, 0, outcome=Outcome.MISSED)
    assert line_week(cast.a.partner, DECEMBER.date()).meets_target
    _call(cast.a.partner, 0, outcome=Outcome.ABANDONED)
    weeks = line_weeks_for([cast.a.partner, cast.b.partner], DECEMBER.date())
    assert not weeks[cast.a.partner.pk].meets_target
    assert weeks[cast.b.partner.pk].calls == 0 and weeks[cast.b.partner.pk].p95_wait is None


def test_percentile_interpolates_like_postgresql():
    assert percentile([], 0.95) is None
    assert percentile([7], 0.95) == 7
    assert percentile([10, 20], 0.5) == 15
    assert percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.95) == pytest.approx(9.55)
