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
    client.get(reverse("queue"), params)  # warm: configuration is cached for a few seconds
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


# --- The first-line queue, remembered filters and «Следующая заявка» -------------------


def shown_pks(response):
    return {ticket.pk for ticket in response.context["page"].object_list}


def test_operator_default_queue_is_what_needs_the_first_line(cast):
    """New and open tickets are shown; waiting for the partner or the customer are not."""
    change_ticket(ticket=cast.a.ticket, actor=cast.operator,
                  change=TicketChange(status=Status.WAITING_PARTNER))
    change_ticket(ticket=cast.b.ticket, actor=cast.operator,
                  change=TicketChange(status=Status.WAITING_CUSTOMER))
    change_ticket(ticket=cast.b.other_ticket, actor=cast.operator,
                  change=TicketChange(status=Status.OPEN))
    client = client_for(cast.operator)
    response = client.get(reverse("queue"))
    assert shown_pks(response) == {cast.a.other_ticket.pk, cast.b.other_ticket.pk}
    body = response.content.decode()
    assert 'href="?status=active"' in body and 'href="?status=any"' in body  # switch to all
    everything = client.get(reverse("queue"), {"status": "active"})
    assert shown_pks(everything) == {cast.a.ticket.pk, cast.a.other_ticket.pk,
                                     cast.b.ticket.pk, cast.b.other_ticket.pk}


def test_a_customer_answer_brings_a_waiting_ticket_back_to_the_first_line(cast):
    from firstline.tickets.services import add_message

    ticket = cast.a.ticket
    change_ticket(ticket=ticket, actor=cast.operator,
                  change=TicketChange(status=Status.WAITING_CUSTOMER))
    client = client_for(cast.operator)
    assert ticket.pk not in shown_pks(client.get(reverse("queue")))
    add_message(ticket=ticket, actor=cast.a.customer, kind="inbound", text="Вот логи.")
    assert ticket.pk in shown_pks(client.get(reverse("queue")))


def test_partner_accounts_keep_all_active_tickets_as_their_default(cast):
    change_ticket(ticket=cast.a.ticket, actor=cast.operator,
                  change=TicketChange(status=Status.WAITING_PARTNER))
    response = client_for(cast.a.engineer).get(reverse("queue"))
    assert shown_pks(response) == {cast.a.ticket.pk, cast.a.other_ticket.pk}


def test_filters_are_remembered_per_user_and_restored_without_parameters(cast):
    from firstline.web.models import QueuePreference

    operator = client_for(cast.operator)
    operator.get(reverse("queue"), {"partner": cast.b.partner.pk, "status": "any"})
    assert QueuePreference.objects.get(user=cast.operator).filters == {
        "partner": str(cast.b.partner.pk), "status": "any"}
    restored = operator.get(reverse("queue"))
    assert shown_pks(restored) == {cast.b.ticket.pk, cast.b.other_ticket.pk}
    assert restored.context["form"]["partner"].value() == str(cast.b.partner.pk)
    assert "Your filters from the last visit" in restored.content.decode()
    # The page number alone is not a filter: the remembered ones still apply.
    assert shown_pks(operator.get(reverse("queue"), {"page": 1})) == shown_pks(restored)
    # Another user's queue is not affected.
    supervisor = client_for(cast.supervisor).get(reverse("queue"))
    assert len(shown_pks(supervisor)) == 4


def test_reset_forgets_the_remembered_filters(cast):
    from firstline.web.models import QueuePreference

    client = client_for(cast.operator)
    client.get(reverse("queue"), {"partner": cast.b.partner.pk})
    response = client.get(reverse("queue"), {"reset": "1"})
    assert len(shown_pks(response)) == 4
    assert not QueuePreference.objects.filter(user=cast.operator).exists()
    assert len(shown_pks(client.get(reverse("queue")))) == 4


def test_invalid_filters_are_not_remembered(cast):
    from firstline.web.models import QueuePreference

    client_for(cast.operator).get(reverse("queue"), {"partner": "abc"})
    assert not QueuePreference.objects.filter(user=cast.operator).exists()


def test_a_partner_accounts_search_never_reaches_another_partner(cast):
    """Tenancy first: the search runs inside the partner account's own tickets."""
    from firstline.web.models import QueuePreference

    response = client_for(cast.a.engineer).get(reverse("queue"), {"q": "beta"})
    assert shown_pks(response) == set()
    assert QueuePreference.objects.get(user=cast.a.engineer).filters == {"q": "beta"}


def test_next_ticket_is_the_next_due_in_the_remembered_queue(cast):
    from firstline.web.queues import next_ticket

    client = client_for(cast.operator)
    Ticket.objects.filter(pk=cast.b.other_ticket.pk).update(due_at=now() + timedelta(minutes=5))
    Ticket.objects.filter(pk=cast.b.ticket.pk).update(due_at=now() + timedelta(minutes=10))
    Ticket.objects.filter(pk=cast.a.ticket.pk).update(due_at=now() + timedelta(minutes=1))
    client.get(reverse("queue"), {"partner": cast.b.partner.pk})
    assert next_ticket(cast.operator) == cast.b.other_ticket
    response = client.get(reverse("ticket-next"), {"after": cast.b.other_ticket.pk})
    assert response.status_code == 302
    assert response.url == reverse("ticket", args=[cast.b.ticket.pk])
    # Resolved or handed over, a ticket leaves the first line; "next" follows the queue.
    change_ticket(ticket=cast.b.other_ticket, actor=cast.operator,
                  change=TicketChange(status=Status.RESOLVED))
    assert next_ticket(cast.operator) == cast.b.ticket


def test_next_ticket_with_an_empty_queue_goes_back_to_the_queue(cast):
    client = client_for(cast.operator)
    client.get(reverse("queue"), {"q": "nothing matches this"})
    response = client.get(reverse("ticket-next"))
    assert response.status_code == 302 and response.url == reverse("queue")


def test_next_ticket_stays_inside_the_partner_accounts_tenancy(cast):
    from firstline.web.queues import next_ticket

    Ticket.objects.filter(partner=cast.b.partner).update(due_at=now() - timedelta(hours=5))
    found = next_ticket(cast.a.engineer)
    assert found is not None and found.partner_id == cast.a.partner.pk


def test_the_latest_filters_replace_the_remembered_ones(cast):
    from firstline.web.models import QueuePreference

    client = client_for(cast.operator)
    client.get(reverse("queue"), {"partner": cast.b.partner.pk, "status": "any"})
    client.get(reverse("queue"), {"status": "active", "priority": "high"})
    client.get(reverse("queue"), {"status": "active", "priority": "high"})  # unchanged
    assert QueuePreference.objects.get(user=cast.operator).filters == {
        "status": "active", "priority": "high"}
    assert client.get(reverse("queue")).context["form"]["priority"].value() == "high"


# --- A queue page costs the same at any backlog --------------------------------------------


def test_a_long_queue_counts_up_to_a_bound_and_still_pages_through_everything(cast, settings):
    settings.FIRSTLINE_PAGE_SIZE = 5
    settings.FIRSTLINE_QUEUE_COUNT_BOUND = 10
    add_tickets(cast.a, 20)  # 24 active tickets
    client = client_for(cast.operator)
    first = client.get(reverse("queue"), {"status": "active"})
    assert first.context["page"].paginator.capped
    body = first.content.decode()
    assert "More than 10 tickets" in body and "page=2" in body and " of " not in body
    seen, number = [], 1
    while True:
        page = client.get(reverse("queue"), {"status": "active", "page": number}).context["page"]
        seen += [ticket.pk for ticket in page.object_list]
        if not page.has_next():
            break
        number += 1
    assert number == 5 and len(seen) == len(set(seen)) == 24
    # Below the bound the total is exact.
    exact = client.get(reverse("queue"), {"status": "active", "partner": cast.b.partner.pk})
    assert not exact.context["page"].paginator.capped
    assert "2 tickets" in exact.content.decode()


def test_the_assignee_filter_lists_staff_and_only_the_chosen_partners_people(cast):
    client = client_for(cast.operator)
    choices = dict(client.get(reverse("queue")).context["form"].fields["assignee"].choices)
    assert str(cast.supervisor.pk) in choices
    assert str(cast.a.engineer.pk) not in choices and str(cast.b.engineer.pk) not in choices
    form = client.get(reverse("queue"), {"partner": cast.a.partner.pk}).context["form"]
    choices = dict(form.fields["assignee"].choices)
    assert str(cast.a.engineer.pk) in choices and str(cast.b.engineer.pk) not in choices
    # An engineer chosen as the assignee filter stays valid without the partner filter.
    change_ticket(ticket=cast.b.ticket, actor=cast.operator,
                  change=TicketChange(assignee=cast.b.engineer))
    response = client.get(reverse("queue"), {"assignee": cast.b.engineer.pk, "status": "any"})
    assert response.context["form"].is_valid()
    assert shown_pks(response) == {cast.b.ticket.pk}
    # A customer is never a choice, nor a valid filter.
    bad = client.get(reverse("queue"), {"assignee": cast.a.customer.pk})
    assert not bad.context["form"].is_valid() and "assignee" in bad.context["form"].errors


def test_ticket_page_query_count_does_not_grow_with_the_conversation(cast):
    from firstline.tickets.models import Message
    from firstline.tickets.services import add_message

    client = client_for(cast.operator)
    url = reverse("ticket", args=[cast.a.ticket.pk])
    client.get(url)  # first visit: the draft, the schedule, caches

    def ticket_queries():
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert response.status_code == 200
        return len(queries)

    few = ticket_queries()
    for index in range(15):
        add_message(ticket=cast.a.ticket, actor=cast.operator, kind=Message.Kind.NOTE,
                    text=f"Note {index}")
        add_message(ticket=cast.a.ticket, actor=cast.a.customer, kind=Message.Kind.INBOUND,
                    text=f"Answer {index}")
    change_ticket(ticket=cast.a.ticket, actor=cast.operator,
                  change=TicketChange(priority="high", assignee=cast.operator))
    many = ticket_queries()
    assert many == few
