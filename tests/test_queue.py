from datetime import timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from firstline.core.clock import now
from firstline.tickets.models import Channel, Status, Ticket
from firstline.tickets.services import TicketChange, change_ticket, create_ticket

from .conftest import client_for


def add_tickets(side, count):
    for index in range(count):
        create_ticket(partner=side.partner, actor=side.customer, channel=Channel.PORTAL,
                      contact=side.contact, subject=f"Bulk {side.partner.slug} {index}",
                      text="Bulk", service=side.service)


def queue_queries(client, **params):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("queue"), params)
    assert response.status_code == 200
    return len(queries), response


def test_queue_query_count_does_not_grow_with_the_tickets_shown(cast):
    client = client_for(cast.operator)
    few, response = queue_queries(client)
    assert response.context["page"].paginator.count == 4
    add_tickets(cast.a, 20)
    add_tickets(cast.b, 20)
    many, response = queue_queries(client)
    assert len(response.context["page"].object_list) == 44
    assert many == few


def test_queue_shows_what_is_due_first(cast):
    overdue = cast.b.other_ticket
    Ticket.objects.filter(pk=overdue.pk).update(due_at=now() - timedelta(hours=2))
    change_ticket(ticket=cast.a.ticket, actor=cast.operator,
                  change=TicketChange(priority="critical"))
    rows = list(client_for(cast.operator).get(reverse("queue")).context["page"].object_list)
    assert [ticket.pk for ticket in rows[:2]] == [overdue.pk, cast.a.ticket.pk]
    page = client_for(cast.operator).get(reverse("queue")).content.decode()
    assert "due-breach" in page


def test_queue_filters_by_partner_status_priority_assignee_and_search(cast):
    client = client_for(cast.operator)

    def shown(**params):
        return {t.pk for t in client.get(reverse("queue"), params).context["page"].object_list}

    assert shown(partner=cast.b.partner.pk) == {cast.b.ticket.pk, cast.b.other_ticket.pk}
    change_ticket(ticket=cast.a.ticket, actor=cast.operator,
                  change=TicketChange(status=Status.RESOLVED, priority="high",
                                      assignee=cast.operator))
    assert cast.a.ticket.pk not in shown()  # the default shows active tickets only
    assert shown(status="resolved") == {cast.a.ticket.pk}
    assert shown(status="any", priority="high") == {cast.a.ticket.pk}
    assert shown(status="any", assignee="me") == {cast.a.ticket.pk}
    assert shown(status="any", assignee=str(cast.operator.pk)) == {cast.a.ticket.pk}
    assert cast.a.ticket.pk not in shown(status="any", assignee="none")
    assert shown(status="any", q=cast.a.ticket.number) == {cast.a.ticket.pk}
    assert shown(status="any", q=str(cast.b.ticket.pk)) >= {cast.b.ticket.pk}
    assert shown(q="Olga beta") == {cast.b.other_ticket.pk}
    assert shown(q="olga@alpha.example") == {cast.a.other_ticket.pk}


def test_queue_paginates(cast, settings):
    settings.FIRSTLINE_PAGE_SIZE = 3
    client = client_for(cast.operator)
    first = client.get(reverse("queue")).context["page"]
    second = client.get(reverse("queue"), {"page": 2}).context["page"]
    assert len(first.object_list) == 3 and len(second.object_list) == 1
    assert not {t.pk for t in first} & {t.pk for t in second}


def test_htmx_filter_request_gets_only_the_results_fragment(cast):
    response = client_for(cast.operator).get(reverse("queue"), {"status": "any"},
                                             headers={"HX-Request": "true"})
    body = response.content.decode()
    assert cast.a.ticket.subject in body
    assert "<html" not in body and "<table" in body


def test_bad_filter_values_do_not_break_the_queue(cast):
    response = client_for(cast.operator).get(
        reverse("queue"), {"partner": "abc", "status": "bogus", "page": "zzz"})
    assert response.status_code == 200
