"""Escalations fired in batches write exactly what firing them one by one writes."""

from datetime import timedelta

import pytest
import time_machine
from django.db import transaction

from firstline.core import events
from firstline.core.bulk import insert_all
from firstline.core.models import AuditEvent, User
from firstline.outbox.models import OutboxMessage
from firstline.sla import escalation
from firstline.sla.models import EscalationStep, PendingEscalation
from firstline.tickets.models import Message, Priority, Ticket

from .test_sla_deadlines import at, new_ticket, office_policy

Role, ChannelKind = EscalationStep.Role, EscalationStep.Channel
MOMENT = at(2026, 11, 30, 13, 0)  # the 100% steps of tickets opened at 9:00 fall due now


def ladder_for(partner, named: User) -> None:
    policy = office_policy(partner)

    def step(target, percent, roles, channels, users=()):
        created = EscalationStep.objects.create(
            partner=partner, policy=policy, priority=Priority.CRITICAL, target=target,
            percent=percent, roles=roles, channels=channels)
        created.users.set(users)

    step("reaction", 100, [Role.LEAD, Role.ASSIGNEE], [ChannelKind.EMAIL])
    step("resolution", 50, [Role.PARTNER_ENGINEER], [ChannelKind.EMAIL, ChannelKind.SMS],
         [named])
    step("resolution", 100, [Role.LEAD, Role.PARTNER_MANAGER],
         [ChannelKind.EMAIL, ChannelKind.VOICE])


@pytest.fixture
def tickets(cast):
    """Two partners in different time zones; assigned and unassigned tickets; recipients
    with a malformed phone, with no address at all and named on a step; late steps and
    steps due right at the moment."""
    User.objects.filter(pk=cast.supervisor.pk).update(
        email="lead@provider.example", phone="+7 900 000-00-01", first_name="Лена")
    User.objects.filter(pk=cast.operator.pk).update(email="olga@provider.example")
    User.objects.filter(pk=cast.a.engineer.pk).update(email="eng@alpha.example", phone="12")
    User.objects.filter(pk=cast.a.manager.pk).update(email="", phone="")
    User.objects.filter(pk=cast.b.engineer.pk).update(phone="+7 900 000-00-03")
    User.objects.filter(pk=cast.b.manager.pk).update(email="boss@beta.example")
    cast.b.partner.time_zone = "Asia/Yekaterinburg"
    cast.b.partner.save(update_fields=["time_zone"])
    named = User.objects.create_user("named", email="named@provider.example",
                                     role=User.Role.OPERATOR)
    for side in (cast.a, cast.b):
        ladder_for(side.partner, named)
    made = []
    for side in (cast.a, cast.b, cast.a, cast.b):
        with time_machine.travel(at(2026, 11, 30, 9, 0), tick=False):
            made.append(new_ticket(side, priority=Priority.CRITICAL))
    Ticket.objects.filter(pk__in=[made[0].pk, made[1].pk]).update(assignee=cast.operator)
    return made


def written() -> dict[str, list[tuple]]:
    """Every row the firing wrote, without what differs by nature (keys, Message-IDs)."""
    mails = []
    for row in OutboxMessage.objects.order_by("dedupe_key").values():
        headers = dict(row.pop("headers"))
        message_id = headers.pop("Message-ID", None)
        if row["channel"] == "email":
            assert message_id and message_id.endswith(".example>"), message_id
        del row["id"], row["created_at"]
        mails.append((tuple(sorted(row.items())), tuple(sorted(headers.items()))))
    notes = sorted(tuple(sorted((k, v) for k, v in row.items() if k != "id"))
                   for row in Message.objects.filter(is_automatic=True).values())
    trail = sorted((row["partner_id"], row["action"], row["target_type"], row["target_id"],
                    repr(row["before"]), repr(sorted(row["after"].items())))
                   for row in AuditEvent.objects.filter(action="escalation.fired").values())
    claims = sorted(PendingEscalation.objects.filter(fired_at__isnull=False, fired_by="t")
                    .values_list("pk", "fired_at", "fired_late"))
    return {"mails": mails, "notes": notes, "audit": trail, "claims": claims}


def fired_with(fire_all) -> tuple[dict[str, list[tuple]], list[tuple]]:
    """What `fire_all()` writes and publishes, rolled back afterwards."""
    published = []

    def receiver(event, partner_id, moment, ticket, **arguments):
        step = arguments.get("step")
        published.append((event, partner_id, moment, ticket.pk, ticket.partner.time_zone,
                           ticket.assignee_id, ticket.assignee and ticket.assignee.username,
                           step and step.pk, arguments.get("late"), arguments.get("target")))

    for name in ("escalation.fired", "sla.breached"):
        events.subscribe(name, receiver)
    try:
        with time_machine.travel(MOMENT, tick=False), transaction.atomic():
            fire_all()
            rows = written()
            transaction.set_rollback(True)
    finally:
        for name in ("escalation.fired", "sla.breached"):
            events._signal(name).disconnect(
                dispatch_uid=f"{name}:{receiver.__module__}.{receiver.__qualname__}")
    return rows, sorted(published, key=repr)


def test_the_batch_path_writes_and_publishes_exactly_what_the_one_step_path_does(tickets):
    due = escalation.due_ids(MOMENT, 100)
    assert len(due) == 3 * len(tickets)

    def one_by_one():
        assert all(escalation.fire(pk, MOMENT, "t") for pk in due)

    def in_batches():
        fired = 0
        while count := escalation.fire_due(MOMENT, "t", 5):
            fired += count
        assert fired == len(due)

    single_rows, single_events = fired_with(one_by_one)
    batch_rows, batch_events = fired_with(in_batches)
    assert batch_rows == single_rows
    assert batch_events == single_events
    # The case is as varied as it claims: late and on-time steps, skipped recipients,
    # the assignee and the named user, both time zones, breaches.
    assert {late for _p, _at, late in batch_rows["claims"]} == {True, False}
    assert len(batch_rows["claims"]) == len(due)
    bodies = " ".join(dict(row)["body"] for row, _headers in batch_rows["mails"])
    assert "30.11.2026 13:00 (Europe/Moscow)" in bodies
    assert "30.11.2026 15:00 (Asia/Yekaterinburg)" in bodies
    recipients = {dict(row)["recipient"] for row, _headers in batch_rows["mails"]}
    assert {"olga@provider.example", "named@provider.example", "boss@beta.example",
            "lead@provider.example", "+7 900 000-00-01", "+7 900 000-00-03"} <= recipients
    notes = " ".join(dict(row)["body_text"] for row in batch_rows["notes"])
    assert "Нет пригодного адреса" in notes and ": 12" in notes  # the engineer's phone
    assert {event for event, *_rest in batch_events} == {"escalation.fired", "sla.breached"}
    assert len([e for e in batch_events if e[0] == "escalation.fired"]) == len(due)


def test_insert_all_writes_the_rows_bulk_create_writes(cast):
    """On PostgreSQL the rows go by COPY: text with tabs, backslashes, new lines, quotes and
    Cyrillic, JSON, booleans, empty and missing values arrive as the ORM writes them."""
    tricky = 'таб\tобратная \\ косая\nновая строка "кавычки" \\N \r конец'
    moment = at(2026, 11, 30, 13, 0) + timedelta(microseconds=123)

    def objects(tag):
        partner, ticket = cast.a.partner, cast.a.ticket
        return (
            [OutboxMessage(partner_id=partner.pk, ticket_id=ticket.pk, channel="email",
                           recipient="x@alpha.example", subject=tricky, body=tricky,
                           headers={"Message-ID": "<1@alpha.example>", "X-Tricky": tricky},
                           dedupe_key=f"{tag}:{n}", next_attempt_at=moment)
             for n in range(3)],
            [Message(partner_id=partner.pk, ticket_id=ticket.pk, kind=Message.Kind.NOTE,
                     is_automatic=True, body_text=f"{tag} {tricky}", body_html="",
                     created_at=moment)],
            [AuditEvent(actor=None, partner_id=partner.pk, action=f"test.{tag}",
                        target_type="ticket", target_id=str(ticket.pk), before={},
                        after={"text": tricky, "list": [1, None, True], "late": False})],
        )

    def rows(tag):
        mails = [{k: v for k, v in row.items() if k not in ("id", "created_at", "dedupe_key")}
                 for row in OutboxMessage.objects.filter(dedupe_key__startswith=f"{tag}:")
                 .order_by("dedupe_key").values()]
        notes = [{k: v for k, v in row.items() if k != "id"} | {"body_text": None}
                 for row in Message.objects.filter(body_text__startswith=f"{tag} ").values()]
        trail = [{k: v for k, v in row.items() if k not in ("id", "created_at", "action")}
                 for row in AuditEvent.objects.filter(action=f"test.{tag}").values()]
        return mails, notes, trail

    for model, batch in zip((OutboxMessage, Message, AuditEvent), objects("orm"), strict=True):
        model.objects.bulk_create(batch)
    for model, batch in zip((OutboxMessage, Message, AuditEvent), objects("copy"), strict=True):
        insert_all(model, batch)
    orm, copied = rows("orm"), rows("copy")
    assert all(orm) and copied == orm
    assert Message.objects.get(body_text=f"copy {tricky}").created_at == moment
    assert OutboxMessage.objects.get(dedupe_key="copy:0").headers["X-Tricky"] == tricky
