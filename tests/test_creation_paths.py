"""The cheaper ticket creation path: cached urgency rules and sensitive customers, and the
mail acknowledgement's add_message on the ticket created in the same transaction."""

import pytest
from django.db import transaction
from django.test.utils import CaptureQueriesContext

from firstline.contacts.models import Contact, Organisation
from firstline.contacts.queries import contact_with_organisation
from firstline.core.models import AuditEvent
from firstline.sla.models import UrgencyRule
from firstline.surveys.models import CustomerStanding
from firstline.tickets import services as ticket_services
from firstline.tickets.models import Message, Priority, Ticket


def _new(cast, text="Сервер не отвечает"):
    return ticket_services.create_ticket(
        partner=cast.a.partner, actor=None, channel="email", subject="", text=text,
        contact=cast.a.contact,
    )


def test_urgency_rule_saved_or_deleted_applies_to_the_next_ticket(cast):
    assert _new(cast, "авария на сервере").priority == Priority.NORMAL  # rules now cached
    rule = UrgencyRule.objects.create(partner=cast.a.partner, name="Авария",
                                      keywords="авария", priority=Priority.CRITICAL)
    assert _new(cast, "авария на сервере").priority == Priority.CRITICAL
    assert _new(cast, "вопрос по счёту").priority == Priority.NORMAL
    rule.delete()
    assert _new(cast, "авария на сервере").priority == Priority.NORMAL


def test_urgency_rules_of_one_partner_do_not_reach_another(cast):
    UrgencyRule.objects.create(partner=cast.b.partner, name="Авария", keywords="авария",
                               priority=Priority.CRITICAL)
    assert _new(cast, "авария").priority == Priority.NORMAL


def test_a_standing_saved_raises_the_next_ticket_of_that_organisation_only(cast):
    assert _new(cast).priority == Priority.NORMAL  # sensitive organisations now cached
    CustomerStanding.objects.create(partner=cast.a.partner, organisation=cast.a.organisation,
                                    is_sensitive=True)
    assert _new(cast).priority == Priority.HIGH
    other = ticket_services.create_ticket(
        partner=cast.b.partner, actor=None, channel="email", subject="", text="Сервер",
        contact=cast.b.contact)
    assert other.priority == Priority.NORMAL


def _ack(ticket, *, just_created):
    return ticket_services.add_message(
        ticket=ticket, actor=None, kind=Message.Kind.REPLY, text="Получили ваше письмо.",
        automatic=True, just_created=just_created)


def _written(ticket, message):
    audit = AuditEvent.objects.filter(target_type="ticket", target_id=str(ticket.pk),
                                      action="message.reply").get()
    row = Ticket.objects.get(pk=ticket.pk)
    return ({key: getattr(message, key) for key in (
        "partner_id", "kind", "author_id", "author_contact_id", "is_automatic", "body_text",
        "body_html")},
            {key: value for key, value in audit.after.items() if key != "message"},
            audit.before, row.status, row.first_response_at)


def test_just_created_writes_the_same_rows_without_reading_or_updating_the_ticket(cast):
    with transaction.atomic():
        usual = _new(cast)
        usual_message = _ack(usual, just_created=False)
    with transaction.atomic():
        fresh = _new(cast)
        with CaptureQueriesContext(transaction.get_connection()) as queries:
            fresh_message = _ack(fresh, just_created=True)
    statements = [query["sql"] for query in queries.captured_queries]
    assert not any(sql.startswith("SELECT") and "tickets_ticket" in sql for sql in statements)
    assert not any(sql.startswith("UPDATE") and "tickets_ticket" in sql for sql in statements)
    assert _written(fresh, fresh_message) == _written(usual, usual_message)
    row = Ticket.objects.get(pk=fresh.pk)
    assert row.updated_at == row.created_at  # the acknowledgement changed nothing on it


def test_just_created_on_a_ticket_from_a_rolled_back_savepoint_reads_it_as_usual(cast):
    with transaction.atomic():
        try:
            with transaction.atomic():
                gone = _new(cast)
                raise RuntimeError("undo the creation")
        except RuntimeError:
            pass
        with pytest.raises(Ticket.DoesNotExist):
            _ack(gone, just_created=True)


def test_just_created_does_not_skip_a_status_change(cast):
    # A human note or reply still goes the usual way when it changes the ticket: the fast
    # path only drops the re-read, whatever the message does.
    with transaction.atomic():
        fresh = _new(cast)
        message = ticket_services.add_message(
            ticket=fresh, actor=cast.a.engineer, kind=Message.Kind.REPLY,
            text="Здравствуйте! Перезапустили сервер, проверьте, пожалуйста.",
            just_created=True)
    row = Ticket.objects.get(pk=fresh.pk)
    assert row.status == "open" and row.first_response_at == message.created_at
    assert row.updated_at == message.created_at


def _as_orm_gives(contact):
    return ({field.attname: getattr(contact, field.attname)
             for field in Contact._meta.concrete_fields},
            None if contact.organisation is None else {
                field.attname: getattr(contact.organisation, field.attname)
                for field in Organisation._meta.concrete_fields})


def test_contact_with_organisation_is_what_the_orm_reads(cast):
    cast.a.organisation.is_vip = True
    cast.a.organisation.save()
    loner = Contact.objects.create(partner=cast.a.partner, name="Без организации")
    for contact in (cast.a.contact, loner):
        orm = Contact.objects.select_related("organisation").get(pk=contact.pk)
        with CaptureQueriesContext(transaction.get_connection()) as queries:
            fast = contact_with_organisation(contact.pk, cast.a.partner.pk)
            assert _as_orm_gives(fast) == _as_orm_gives(orm)
        assert len(queries) == 1  # the organisation came with it
        assert fast.organisation is None or fast.organisation.is_vip is True
        assert fast._state.adding is False and fast._state.db == "default"


def test_contact_with_organisation_keeps_to_the_partner(cast):
    assert contact_with_organisation(cast.b.contact.pk, cast.a.partner.pk) is None
    assert contact_with_organisation(10**12, cast.a.partner.pk) is None
