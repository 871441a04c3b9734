"""core.bulk.save_fields: many rows' fields written at once, each row its own values."""

from datetime import UTC, datetime, timedelta

import pytest

from firstline.calls.models import Call, Outcome
from firstline.core.bulk import _statement_sizes, save_fields

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 12, 1, 9, tzinfo=UTC)


def test_statement_sizes_cover_every_row_with_few_distinct_statements():
    for rows in (0, 1, 2, 3, 250, 256, 257, 1000, 4097):
        sizes = _statement_sizes(rows, 17)
        assert sum(sizes) == rows
        assert all(size & (size - 1) == 0 and size <= 256 for size in sizes)
        assert len(set(sizes)) <= 9  # 1, 2, 4 ... 256
    # A wide row still keeps a statement within the protocol's 65,535 parameters.
    assert max(_statement_sizes(600, 4000)) * 4000 <= 65535


def test_save_fields_writes_each_row_its_own_values_and_nothing_else(cast):
    partner = cast.a.partner
    calls = Call.objects.bulk_create(
        Call(partner=partner, source="webhook", external_id=f"c{n}", started_at=T0,
             caller="+79000000000")
        for n in range(300))
    for n, call in enumerate(calls):
        call.outcome = Outcome.ANSWERED if n % 2 else Outcome.MISSED
        call.talk_seconds = n
        call.ended_at = T0 + timedelta(seconds=n) if n % 3 else None
        call.operator = cast.operator if n % 5 == 0 else None
        call.caller = "+79999999999"  # changed in memory, not among the fields saved
    save_fields(Call, calls, ["outcome", "talk_seconds", "ended_at", "operator"])
    stored = {call.external_id: call for call in Call.objects.all()}
    for n in range(300):
        call = stored[f"c{n}"]
        assert call.outcome == (Outcome.ANSWERED if n % 2 else Outcome.MISSED)
        assert call.talk_seconds == n
        assert call.ended_at == (T0 + timedelta(seconds=n) if n % 3 else None)
        assert call.operator_id == (cast.operator.pk if n % 5 == 0 else None)
        assert call.caller == "+79000000000"
