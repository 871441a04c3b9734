from firstline.tickets.models import Message


def test_cast_builds_two_partners_with_tickets(cast):
    assert cast.a.ticket.partner == cast.a.partner
    assert cast.a.ticket.number.startswith("FL-")
    assert Message.objects.filter(ticket=cast.a.ticket, kind=Message.Kind.INBOUND).count() == 1
