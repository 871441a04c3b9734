"""Support numbers are read once for every event of a busy line, unknown numbers included."""

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from firstline.calls import services
from firstline.calls.events import BadEvent, CallEvent, Kind
from firstline.calls.models import PartnerPhoneNumber
from firstline.core import config_cache
from tests import calls_support
from tests.calls_support import ALPHA_NUMBER, BETA_NUMBER

lines = calls_support.lines

pytestmark = pytest.mark.django_db

AT = datetime(2026, 12, 6, 9, tzinfo=UTC)


def event(dialled: str = "", queue: str = "") -> CallEvent:
    return CallEvent(kind=Kind.START, external_id="c1", at=AT, caller="+79001112233",
                     dialled=dialled, queue=queue)


def number_queries(run) -> int:  # type: ignore[no-untyped-def]
    with CaptureQueriesContext(connection) as queries:
        run()
    return sum("calls_partnerphonenumber" in query["sql"] for query in queries)


def test_known_and_unknown_numbers_and_queues_cost_one_query_together(lines):
    config_cache.clear()

    def check_many() -> None:
        for dialled in (ALPHA_NUMBER, BETA_NUMBER, ALPHA_NUMBER):
            services.precheck(event(dialled=dialled))
        for unknown in ("+74950000001", "+74950000002", "+74950000003"):
            with pytest.raises(BadEvent, match="not a support number"):
                services.precheck(event(dialled=unknown))
        services.precheck(event(queue="support-beta"))
        with pytest.raises(BadEvent, match="not a partner's queue"):
            services.precheck(event(queue="nobody"))

    assert number_queries(check_many) == 1
    assert number_queries(check_many) == 0


def test_a_number_added_in_this_process_is_known_at_once(lines, cast):
    unknown = "+74950000009"
    with pytest.raises(BadEvent):
        services.precheck(event(dialled=unknown))
    PartnerPhoneNumber.objects.create(partner=cast.b.partner, number=unknown)
    assert services._number_partner(event(dialled=unknown), None) == cast.b.partner
    with pytest.raises(BadEvent, match="not a support number"):  # not this sender's
        services.precheck(event(dialled=unknown), cast.a.partner)
