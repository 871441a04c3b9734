"""Tickets and their messages. Every lookup starts from the caller's tenancy scope."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from ninja import Query, Router, Status

from firstline.api.auth import current_user
from firstline.api.errors import StateConflict
from firstline.api.fields import Id
from firstline.api.pagination import paginate
from firstline.api.queries import filter_tickets
from firstline.api.schemas import (
    BODY_ERRORS,
    COMMON_ERRORS,
    CONFLICT,
    NOT_FOUND,
    HandOverIn,
    MessageIn,
    MessageOut,
    ReplyCheckIn,
    ReplyCheckOut,
    TicketCreateIn,
    TicketFilters,
    TicketOut,
    TicketPage,
    TicketPatchIn,
)
from firstline.contacts.models import Contact
from firstline.contacts.queries import contact_with_organisation
from firstline.core.models import Partner, Service, User
from firstline.quality import checking
from firstline.quality import services as script_services
from firstline.telegram import files as telegram_files
from firstline.tenancy import (
    assignable_users,
    contacts_for,
    messages_for,
    partners_for,
    services_for,
    tickets_for,
)
from firstline.tickets import lifecycle, services
from firstline.tickets.models import Channel, Message, Ticket

router = Router(tags=["tickets"])


def _tickets(user: User) -> QuerySet[Ticket]:
    return tickets_for(user).select_related("partner", "contact", "assignee", "service")


def _ticket_or_404(user: User, ticket_id: int) -> Ticket:
    return get_object_or_404(_tickets(user), pk=ticket_id)


def _messages(user: User, ticket: Ticket) -> QuerySet[Message]:
    return (
        messages_for(user)
        .filter(ticket=ticket)
        .select_related("author", "author_contact")
        .prefetch_related("attachments", telegram_files.unreceived())
        .order_by("created_at", "id")
    )


@router.get("/tickets", response={200: TicketPage, **COMMON_ERRORS})
def list_tickets(request: HttpRequest, filters: Query[TicketFilters]) -> dict[str, Any]:
    """Tickets you can see, newest first, one page at a time."""
    tickets = filter_tickets(_tickets(current_user(request)), filters)
    items, next_cursor = paginate(tickets, filters)
    return {"items": items, "next_cursor": next_cursor}


def _partner_for_new_ticket(
    user: User, partner_id: int, errors: dict[str, str]
) -> Partner | None:
    if not user.is_provider_staff:
        # A partner account's tickets are its partner's; the body cannot say otherwise.
        if partner_id != user.partner_id:
            errors["partner_id"] = _("You can create tickets for your own partner only.")
        # Loaded with the user by the token lookup: no query (nor a queryset to build).
        return user.partner if user.partner_id is not None else partners_for(user).first()
    partner = partners_for(user).filter(pk=partner_id).first()
    if partner is None:
        errors["partner_id"] = _("Unknown partner.")
    return partner


def _one_by_pk[M: Model](rows: QuerySet[M], pk: int, partner: Partner | None) -> M | None:
    """The row with this primary key among `rows` (of `partner`, if known), else None.

    `get()` rather than `filter().first()`: one primary key needs no ORDER BY, and the
    query costs Django noticeably less to build (this runs on every intake).
    """
    lookup: dict[str, int] = {"pk": pk}
    if partner is not None:
        lookup["partner_id"] = partner.pk
    try:
        return rows.get(**lookup)
    except rows.model.DoesNotExist:
        return None


def _contact_for_new_ticket(
    user: User, partner: Partner | None, contact_id: int | None, errors: dict[str, str]
) -> Contact | None:
    if contact_id is None:
        return None
    # With its organisation: the SLA policy (VIP) and urgency rules read it.
    if partner is not None and user.is_active and (
            user.is_provider_staff or (user.is_partner_user and user.partner_id == partner.pk)):
        # The scope contacts_for(user) gives these accounts within the partner: its
        # contacts. Read without building a queryset on every intake.
        contact = contact_with_organisation(contact_id, partner.pk)
    else:
        contacts = contacts_for(user).select_related("organisation")
        contact = _one_by_pk(contacts, contact_id, partner)
    if contact is None:
        errors["contact_id"] = _("This partner has no such contact.")
    return contact


def _service_for_new_ticket(
    user: User, partner: Partner | None, service_id: int | None, errors: dict[str, str]
) -> Service | None:
    if service_id is None:
        return None
    service = _one_by_pk(services_for(user), service_id, partner)
    if service is None:
        errors["service_id"] = _("This partner has no such service.")
    return service


@router.post("/tickets", response={201: TicketOut, **COMMON_ERRORS, **BODY_ERRORS})
def create_ticket(request: HttpRequest, payload: TicketCreateIn) -> Status[Ticket]:
    """Open a ticket on behalf of a customer; it arrives through the API channel."""
    user = current_user(request)
    # Ids are resolved through the caller's scope, all at once, so the answer names every
    # bad reference and another partner's contact looks exactly like a missing one.
    errors: dict[str, str] = {}
    partner = _partner_for_new_ticket(user, payload.partner_id, errors)
    contact = _contact_for_new_ticket(user, partner, payload.contact_id, errors)
    service = _service_for_new_ticket(user, partner, payload.service_id, errors)
    if errors or partner is None:
        raise ValidationError(errors)
    ticket = services.create_ticket(
        partner=partner,
        actor=user,
        channel=Channel.API,
        subject=payload.subject,
        text=payload.text,
        contact=contact,
        priority=payload.priority.value,
        service=service,
    )
    # The ticket as created, with the partner, contact and service it was created with:
    # its own new row needs no reading back.
    return Status(201, ticket)


@router.get("/tickets/{ticket_id}", response={200: TicketOut, **COMMON_ERRORS, **NOT_FOUND})
def get_ticket(request: HttpRequest, ticket_id: Id) -> Ticket:
    return _ticket_or_404(current_user(request), ticket_id)


@router.patch(
    "/tickets/{ticket_id}",
    response={200: TicketOut, **COMMON_ERRORS, **BODY_ERRORS, **NOT_FOUND, **CONFLICT},
)
def update_ticket(request: HttpRequest, ticket_id: Id, payload: TicketPatchIn) -> Ticket:
    """Change status, priority and/or assignee: all of them or, on any error, none.

    A status the ticket cannot move to from its current one is a 409 naming `status`.
    """
    user = current_user(request)
    ticket = _ticket_or_404(user, ticket_id)
    change = services.TicketChange(
        status=payload.status.value if payload.status else None,
        priority=payload.priority.value if payload.priority else None,
    )
    if "assignee_id" in payload.model_fields_set:
        change.assignee = None
        if payload.assignee_id is not None:
            change.assignee = (
                assignable_users(user, ticket.partner).filter(pk=payload.assignee_id).first()
            )
            if change.assignee is None:
                _refuse_unknown_assignee(ticket, change)
    with state_conflicts():
        services.change_ticket(ticket=ticket, actor=user, change=change)
    return _ticket_or_404(user, ticket.pk)


# What a ticket's state decides: a refusal naming only these is a 409 (see StateConflict).
STATE_FIELDS = frozenset({"status", "identification", "classification", "diagnostics"})


@contextmanager
def state_conflicts() -> Iterator[None]:
    try:
        yield
    except ValidationError as exc:
        if hasattr(exc, "error_dict") and set(exc.error_dict) <= STATE_FIELDS:
            raise StateConflict(exc) from exc
        raise


def _refuse_unknown_assignee(ticket: Ticket, change: services.TicketChange) -> None:
    # The service never sees an id it cannot resolve, so it cannot report it; report it
    # here together with what the service would say about the status.
    errors: dict[str, list[str]] = {
        "assignee_id": [_("This person cannot be assigned to this ticket.")]
    }
    if change.status is not None:
        try:
            lifecycle.check_transition(ticket.status, change.status)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    raise ValidationError(errors)


@router.get(
    "/tickets/{ticket_id}/messages",
    response={200: list[MessageOut], **COMMON_ERRORS, **NOT_FOUND},
)
def list_messages(request: HttpRequest, ticket_id: Id) -> list[Message]:
    """The conversation in order, internal notes included."""
    user = current_user(request)
    return list(_messages(user, _ticket_or_404(user, ticket_id)))


@router.post(
    "/tickets/{ticket_id}/messages",
    response={201: MessageOut, **COMMON_ERRORS, **NOT_FOUND, **BODY_ERRORS},
)
def add_message(request: HttpRequest, ticket_id: Id, payload: MessageIn) -> Status[Message]:
    """A public reply (mailed to the customer) or an internal note."""
    user = current_user(request)
    ticket = _ticket_or_404(user, ticket_id)
    message = services.add_message(ticket=ticket, actor=user, kind=payload.kind, text=payload.text,
                                   reply_kind=payload.reply_kind)
    return Status(201, _messages(user, ticket).get(pk=message.pk))


@router.post(
    "/replies/check",
    response={200: ReplyCheckOut, **COMMON_ERRORS, **NOT_FOUND, **BODY_ERRORS},
    tags=["replies"],
)
def check_reply(request: HttpRequest, payload: ReplyCheckIn) -> dict[str, Any]:
    """What the reply rules say about a draft reply to a ticket; nothing is sent or saved.

    The same check refuses a public reply with a blocking finding at
    `POST /tickets/{ticket_id}/messages`.
    """
    ticket = _ticket_or_404(current_user(request), payload.ticket_id)
    findings = checking.check_for_ticket(payload.text, ticket, payload.kind)
    return {
        "language": checking.reply_language(payload.text, ticket),
        "blocked": any(finding.blocking for finding in findings),
        "findings": [
            {
                "code": finding.code.value,
                "message": finding.message,
                "span": finding.span,
                "suggestion": finding.suggestion,
                "alternatives": list(finding.alternatives),
                "blocking": finding.blocking,
            }
            for finding in findings
        ],
    }


@router.post(
    "/tickets/{ticket_id}/handover",
    response={200: TicketOut, **COMMON_ERRORS, **NOT_FOUND, **BODY_ERRORS, **CONFLICT},
)
def hand_over(request: HttpRequest, ticket_id: Id, payload: HandOverIn) -> Ticket:
    """Hand the ticket over to the partner (provider staff): status `waiting_partner`.

    Refused with 409 naming `identification`, `classification` and/or `diagnostics` while
    what the partner's script requires is missing. Without `assignee_id` and `group` the
    partner's routing rules choose the engineer or group.
    """
    user = current_user(request)
    ticket = _ticket_or_404(user, ticket_id)
    to_user = None
    if payload.assignee_id is not None:
        to_user = (
            assignable_users(user, ticket.partner)
            .filter(pk=payload.assignee_id, partner=ticket.partner).first()
        )
        if to_user is None:
            raise ValidationError(
                {"assignee_id": _("Hand over to an active engineer or manager of this partner.")}
            )
    with state_conflicts():
        script_services.hand_over(ticket, user, to_user=to_user, group=payload.group)
    return _ticket_or_404(user, ticket.pk)
