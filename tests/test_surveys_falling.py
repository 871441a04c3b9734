"""The falling-volume signal: fewer requests in the last 30 days than half the monthly
average before, after a bad period, raises the risk; a steady customer does not get it."""

from datetime import timedelta

import time_machine

from firstline.core.clock import now
from firstline.core.models import Partner
from firstline.surveys import risk
from firstline.tickets import services as ticket_services
from firstline.tickets.models import Ticket


def test_falling_volume_after_breaches_is_a_signal(cast):
    start = now()
    created = []
    for day in (70, 65, 60, 55, 50, 45):
        with time_machine.travel(start - timedelta(days=day), tick=False):
            created.append(ticket_services.create_ticket(
                partner=cast.a.partner, actor=cast.a.customer, channel="portal",
                contact=cast.a.contact, subject=f"Day {day}", text="Не работает"))
    Ticket.objects.filter(pk=created[0].pk).update(resolution_in_time=False)
    Ticket.objects.filter(contact__organisation=cast.a.organisation,
                          created_at__gte=start - timedelta(days=31)).delete()
    ranked = {r.organisation.pk: r for r in risk.risk_list(Partner.objects.all(), at=start)}
    alpha = ranked[cast.a.organisation.pk]
    assert "falling" in {s.rule.code for s in alpha.shown_signals}
    assert "falling" not in {s.rule.code for s in ranked[cast.b.organisation.pk].shown_signals}
    # Without the bad period the same drop is not a warning.
    Ticket.objects.filter(pk=created[0].pk).update(resolution_in_time=True)
    again = risk.risk_of(cast.a.organisation, at=start)
    assert "falling" not in {s.rule.code for s in again.shown_signals}
