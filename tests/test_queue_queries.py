"""The desk's lists cost the same number of queries however many rows they show.

The queue, the ticket page and the SLA board are each asked twice: with N rows (tickets,
messages, events) and with 3N spread over more partners, contacts, assignees and priorities.
The count must not move: a query per row (a lazy `ticket.partner`, a per-row lookup in a
tag) shows up as a difference.
"""

from datetime import timedelta

from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from firstline.core.clock import now
from firstline.tickets.models import Channel, Message, Priority, Ticket
from firstline.tickets.services import TicketChange, add_message, change_ticket, create_ticket

from .conftest import client_for

PRIORITIES = [Priority.CRITICAL, Priority.HIGH, Priority.NORMAL, Priority.LOW]


def queries_for(client, url, params=None):
    """Queries of a warm request: configuration (the filters' choices, calendars) is cached
    for a few seconds, so the request just before pays for loading it."""
    client.get(url, params or {})
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, params or {})
    assert response.status_code == 200
    return len(queries), response


def add_tickets(cast, count, *, overdue=False):
    """`count` tickets over both partners, their contacts, assignees and priorities."""
    assignees = [cast.operator, cast.supervisor, None]
    for index in range(count):
        side = (cast.a, cast.b)[index % 2]
        ticket = create_ticket(
            partner=side.partner, actor=side.customer, channel=Channel.PORTAL,
            contact=(side.contact, side.other_contact)[index % 3 % 2],
            subject=f"Load {index}", text="Load", service=side.service)
        change_ticket(ticket=ticket, actor=cast.operator, change=TicketChange(
            priority=PRIORITIES[index % 4], assignee=assignees[index % 3]))
        if overdue:  # half breached, half due within the board's "at risk" window
            due = now() + (timedelta(minutes=-30 - index) if index % 2
                           else timedelta(minutes=30 + index))
            Ticket.objects.filter(pk=ticket.pk).update(due_at=due)


def test_queue_costs_the_same_queries_for_n_and_3n_tickets(cast):
    operator = client_for(cast.operator)
    manager = client_for(cast.a.manager)
    add_tickets(cast, 4)
    views = [(operator, {"status": "active"}), (operator, {"status": "first_line"}),
             (operator, {"status": "any", "partner": cast.a.partner.pk}),
             (manager, {"status": "active"})]
    few = [queries_for(client, reverse("queue"), params) for client, params in views]
    add_tickets(cast, 8)
    many = [queries_for(client, reverse("queue"), params) for client, params in views]
    for (few_count, few_page), (many_count, many_page) in zip(few, many, strict=True):
        assert len(many_page.context["rows"]) > len(few_page.context["rows"])
        assert many_count == few_count


def test_ticket_page_costs_the_same_queries_for_n_and_3n_messages_and_events(cast):
    ticket = cast.a.ticket
    client = client_for(cast.operator)
    url = reverse("ticket", args=[ticket.pk])

    def converse(count):
        for index in range(count):
            add_message(ticket=ticket, actor=(cast.operator, cast.supervisor)[index % 2],
                        kind=Message.Kind.NOTE,
                        text=f"Note {index}", attachments=[
                            SimpleUploadedFile(f"log-{index}.txt", b"log", "text/plain")])
            add_message(ticket=ticket, actor=cast.a.customer, kind=Message.Kind.INBOUND,
                        text=f"Answer {index}")
            change_ticket(ticket=Ticket.objects.get(pk=ticket.pk), actor=cast.operator,
                          change=TicketChange(priority=PRIORITIES[index % 4],
                                              assignee=(cast.operator, None)[index % 2]))

    converse(2)
    few, _page = queries_for(client, url)
    converse(4)
    many, page = queries_for(client, url)
    assert page.content.decode().count("log-") >= 6
    assert many == few


def test_sla_board_costs_the_same_queries_for_n_and_3n_tickets(cast):
    client = client_for(cast.operator)
    add_tickets(cast, 4, overdue=True)
    few, board = queries_for(client, reverse("sla-board"))
    shown = len(board.context["breached"].object_list) + len(board.context["at_risk"].object_list)
    add_tickets(cast, 8, overdue=True)
    many, board = queries_for(client, reverse("sla-board"))
    assert (len(board.context["breached"].object_list)
            + len(board.context["at_risk"].object_list)) > shown
    assert many == few


def test_queue_rows_show_each_tickets_fields_and_link(cast):
    change_ticket(ticket=cast.a.ticket, actor=cast.operator,
                  change=TicketChange(priority=Priority.CRITICAL, assignee=cast.operator))
    Ticket.objects.filter(pk=cast.b.ticket.pk).update(due_at=now() - timedelta(hours=1))
    response = client_for(cast.operator).get(reverse("queue"), {"status": "active"})
    rows = {row["pk"]: row for row in response.context["rows"]}
    page = response.content.decode()
    assert set(rows) == {ticket.pk for ticket in response.context["page"].object_list}
    first = rows[cast.a.ticket.pk]
    assert first["url"] == reverse("ticket", args=[cast.a.ticket.pk])
    assert first["partner"] == cast.a.partner.name and first["contact"] == cast.a.contact.name
    assert first["assignee"] == cast.operator.display_name == "Olga Operator"
    assert first["status_label"] == str(cast.a.ticket.get_status_display())
    assert first["priority"] == "critical"
    assert f'<a href="{first["url"]}">{cast.a.ticket.number}</a>' in page
    assert '<span class="prio prio-critical">' in page and "Olga Operator" in page
    assert 'class="due due-breach"' in str(rows[cast.b.ticket.pk]["due"])
    assert 'class="due due-breach"' in page


def test_quick_select_writes_the_same_markup_as_djangos_select():
    import re

    from django import forms

    from firstline.web.widgets import QuickSelect

    choices = [("", "Anyone"), ("1", "O'Brien <b>&"), ("Group & co", [("2", "Two"), ("3", "3")])]
    attrs = {"id": "id_who", "data-x": 'a"b', "disabled": False, "required": True}

    def squeeze(html):
        return re.sub(r">\s+<", "><", str(html)).strip()

    for value in ("", "1", "3", None):
        django_select = forms.Select(choices=choices).render("who", value, attrs)
        quick = QuickSelect(choices=choices).render("who", value, attrs)
        assert squeeze(quick) == squeeze(django_select)


def test_mine_queue_is_served_in_due_order_by_the_assignee_index(cast):
    """On PostgreSQL the "mine" queue walks ticket_assignee_active_due: no sort of all of
    one operator's active tickets (which grows with the backlog)."""
    import pytest

    from firstline.tickets.queries import QueueFilter
    from firstline.web.queues import page_queue

    if connection.vendor != "postgresql":
        pytest.skip("query plans are PostgreSQL's")
    add_tickets(cast, 6)
    sql, params = page_queue(cast.operator, QueueFilter(assignee="me"))[:50].query.sql_with_params()
    with connection.cursor() as cursor:
        # Tiny tables make any plan cheap: ask whether the index CAN serve the order.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "ticket_assignee_active_due" in plan
    assert "Sort  (" not in plan


def test_queue_row_escapes_what_customers_and_partners_typed(cast):
    from firstline.contacts.models import Contact

    Ticket.objects.filter(pk=cast.a.ticket.pk).update(subject='<script>alert("x")</script>')
    Contact.objects.filter(pk=cast.a.contact.pk).update(name="O'Brien & <b>Sons</b>")
    page = client_for(cast.operator).get(reverse("queue"), {"status": "active"}).content.decode()
    assert "<script>alert" not in page and "&lt;script&gt;alert(&quot;x&quot;)" in page
    assert "O&#x27;Brien &amp; &lt;b&gt;Sons&lt;/b&gt;" in page
    partner_page = client_for(cast.a.manager).get(reverse("queue"), {"status": "active"})
    assert f"<td>{cast.a.partner.name}</td>" not in partner_page.content.decode()


def test_all_tickets_shows_spam_and_merged_badges_for_no_extra_query(cast):
    from django.utils import translation
    from django.utils.translation import gettext as _

    from firstline.tickets import merge as merging

    operator = client_for(cast.operator)
    params = {"status": "any", "partner": cast.a.partner.pk}
    add_tickets(cast, 4)
    few, _page = queries_for(operator, reverse("queue"), params)
    loads = list(Ticket.objects.filter(partner=cast.a.partner, subject__startswith="Load"))
    merging.mark_spam(ticket=cast.a.other_ticket, actor=cast.operator)
    for ticket in loads:
        merging.merge(source=ticket, target=cast.a.ticket, actor=cast.operator)
    add_tickets(cast, 8)  # three times the rows
    many, response = queries_for(operator, reverse("queue"), params)

    rows = {row["pk"]: row for row in response.context["rows"]}
    page = response.content.decode()
    with translation.override(response["Content-Language"]):  # the page's language
        spam, merged_into = _("Spam"), _("Merged into %(number)s") % {
            "number": cast.a.ticket.number}
    assert rows[cast.a.other_ticket.pk]["spam"] == spam
    assert page.count(f'<span class="tag tag-spam">{spam}</span>') == 1
    merged = f'<span class="tag tag-merged">{merged_into}</span>'
    assert page.count(merged) == len(loads) == 2
    assert rows[cast.a.ticket.pk]["spam"] == rows[cast.a.ticket.pk]["merged_into"] == ""
    assert many == few
