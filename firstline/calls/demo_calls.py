"""Demo calls for the demo partners over the demo's 60 days (called by core.demo).

Each partner gets its support number (from its card) and an Asterisk queue, the two demo
operators get extensions 101 and 102, and every working day brings calls in the partner's
office hours: mostly answered, a few abandoned in the queue or missed, a few call-backs
out. Volumes follow the plans (Start ≈ 50, Optimum ≈ 300, All inclusive ≈ 1000 minutes a
month), so the minutes figure reads like a real month, and some weeks miss the 98% target.
Phone tickets of the demo get the call they came from.
"""

import random
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from firstline.calls.models import (
    Call,
    Direction,
    OperatorLine,
    Outcome,
    PartnerPhoneNumber,
    Source,
)
from firstline.calls.phones import try_e164
from firstline.contacts.models import ContactPhone
from firstline.core.models import Partner, User
from firstline.tickets.models import Channel, Ticket

HISTORY_DAYS = 60
# Calls on a working day besides the phone tickets' own, by the partner's plan: with
# those, about 70% of the plan's minutes a month.
CALLS_PER_DAY = {"start": 0.25, "optimum": 1.7, "all-inclusive": 6.4}
SEED = 20261205


def create_calls(moment: datetime, operators: list[User]) -> int:
    """Create the demo calls as of `moment`; returns how many."""
    rng = random.Random(SEED)
    lines = []
    for index, operator in enumerate(operators):
        lines.append(OperatorLine(user=operator, extension=str(101 + index)))
    OperatorLine.objects.bulk_create(lines)
    calls: list[Call] = []
    for partner in Partner.objects.select_related("tariff").order_by("pk"):
        number = try_e164(partner.support_phone)
        if number is None:
            continue
        PartnerPhoneNumber.objects.create(partner=partner, number=number,
                                          queue_name=f"support-{partner.slug}")
        phones = [e for e in (try_e164(p.number) for p in
                              ContactPhone.objects.filter(partner=partner)) if e]
        calls += _partner_calls(rng, partner, number, phones, operators, moment)
        calls += _ticket_calls(rng, partner, number, operators)
    Call.objects.bulk_create(calls, batch_size=500)
    return len(calls)


def _caller(rng: random.Random, phones: list[str]) -> str:
    if phones and rng.random() < 0.7:
        return rng.choice(phones)
    return f"+79{rng.randint(100_000_000, 999_999_999)}"


def _partner_calls(
    rng: random.Random, partner: Partner, number: str, phones: list[str],
    operators: list[User], moment: datetime,
) -> list[Call]:
    zone = ZoneInfo(partner.time_zone)
    per_day = CALLS_PER_DAY.get(partner.tariff.code, 1.0)
    calls = []
    today = moment.astimezone(zone).date()
    for back in range(HISTORY_DAYS, 0, -1):
        day = today - timedelta(days=back)
        if day.weekday() >= 5:
            continue
        count = int(per_day) + (1 if rng.random() < per_day - int(per_day) else 0)
        for serial in range(count):
            start = datetime.combine(day, time(9), zone) + timedelta(
                seconds=rng.randint(0, 9 * 3600))
            calls.append(_call(rng, partner, number, _caller(rng, phones), operators, start,
                               f"demo-{partner.slug}-{day:%Y%m%d}-{serial}"))
    return calls


def _call(
    rng: random.Random, partner: Partner, number: str, caller: str, operators: list[User],
    start: datetime, external_id: str,
) -> Call:
    roll = rng.random()
    wait = int(rng.triangular(3, 150, 15))
    call = Call(partner=partner, source=Source.DEMO, external_id=external_id,
                direction=Direction.INBOUND, caller=caller, dialled=number, started_at=start,
                entered_at=start, operator=rng.choice(operators))
    if roll < 0.02:
        call.outcome = Outcome.ABANDONED
        call.ended_at = start + timedelta(seconds=wait)
    elif roll < 0.03:
        call.outcome = Outcome.MISSED
        wait = 180
        call.ended_at = start + timedelta(seconds=wait)
    else:
        talk = int(rng.triangular(30, 600, 120))
        if roll > 0.94:
            # An operator's call-back: outbound, no queue.
            call.direction, wait = Direction.OUTBOUND, 0
        call.outcome = Outcome.ANSWERED
        call.answered_at = start + timedelta(seconds=wait)
        call.talk_seconds = talk
        call.ended_at = call.answered_at + timedelta(seconds=talk)
    call.wait_seconds = wait if call.direction == Direction.INBOUND else None
    call.updated_at = call.ended_at
    return call


def _ticket_calls(
    rng: random.Random, partner: Partner, number: str, operators: list[User]
) -> list[Call]:
    """The call each demo phone ticket came from, answered just before it was written."""
    calls = []
    tickets = Ticket.objects.filter(partner=partner, channel=Channel.PHONE).prefetch_related(
        "contact__phones")
    for ticket in tickets:
        phones = list(ticket.contact.phones.all()) if ticket.contact else []
        caller = try_e164(phones[0].number) if phones else None
        talk = int(rng.triangular(60, 600, 180))
        wait = rng.randint(5, 40)
        ended = ticket.created_at - timedelta(seconds=30)
        answered = ended - timedelta(seconds=talk)
        calls.append(Call(
            partner=partner, source=Source.DEMO, external_id=f"demo-ticket-{ticket.pk}",
            direction=Direction.INBOUND, caller=caller or "", dialled=number,
            started_at=answered - timedelta(seconds=wait),
            entered_at=answered - timedelta(seconds=wait), answered_at=answered,
            ended_at=ended, wait_seconds=wait, talk_seconds=talk, outcome=Outcome.ANSWERED,
            operator=rng.choice(operators), ticket=ticket, updated_at=ended,
        ))
    return calls
