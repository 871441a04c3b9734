"""Request and response shapes; what the OpenAPI document at /api/docs shows."""

from datetime import datetime
from typing import Literal

from ninja import Field, Schema
from pydantic import ConfigDict

from firstline.api.pagination import PageParams
from firstline.contacts.models import Contact
from firstline.tickets.models import Attachment, Channel, Message, Priority, Status, Ticket
from firstline.tickets.services import SUBJECT_MAX


class ErrorOut(Schema):
    detail: str


class FieldErrorOut(Schema):
    field: str
    message: str


class InvalidInputOut(Schema):
    detail: str
    errors: list[FieldErrorOut]


# Responses every authenticated endpoint may give, for the OpenAPI document.
COMMON_ERRORS: dict[int, type[Schema]] = {401: ErrorOut, 403: ErrorOut, 422: InvalidInputOut}
NOT_FOUND: dict[int, type[Schema]] = {404: ErrorOut}


class Ref(Schema):
    id: int
    name: str


class _Input(Schema):
    # Whitespace around a value is never meaningful, and " " must count as empty.
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")


# --- tickets ---------------------------------------------------------------------------


class TicketFilters(PageParams):
    status: Status | None = None
    priority: Priority | None = None
    partner_id: int | None = None
    assignee_id: int | None = None
    q: str | None = Field(
        None,
        description="A ticket number (FL-000123 or 123), or part of the subject or the "
        "contact's name.",
    )


class TicketOut(Schema):
    id: int
    number: str
    partner_id: int
    partner_name: str
    contact: Ref | None
    channel: Channel
    subject: str
    customer_words: str
    status: Status
    priority: Priority
    assignee: Ref | None
    service: Ref | None
    created_at: datetime
    updated_at: datetime
    first_response_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    due_at: datetime | None

    @staticmethod
    def resolve_partner_name(obj: Ticket) -> str:
        return obj.partner.name

    @staticmethod
    def resolve_contact(obj: Ticket) -> dict[str, object] | None:
        return {"id": obj.contact.pk, "name": obj.contact.name} if obj.contact else None

    @staticmethod
    def resolve_assignee(obj: Ticket) -> dict[str, object] | None:
        if obj.assignee is None:
            return None
        return {"id": obj.assignee.pk, "name": obj.assignee.display_name}

    @staticmethod
    def resolve_service(obj: Ticket) -> dict[str, object] | None:
        return {"id": obj.service.pk, "name": obj.service.name} if obj.service else None


class TicketPage(Schema):
    items: list[TicketOut]
    next_cursor: str | None


class TicketCreateIn(_Input):
    subject: str = Field(
        max_length=SUBJECT_MAX,
        description="May be empty: the first line of the text becomes the subject.",
    )
    text: str = Field(min_length=1, description="The request in the customer's words.")
    priority: Priority = Priority.NORMAL
    contact_id: int | None = None
    service_id: int | None = None
    partner_id: int | None = Field(
        None,
        description="Required for provider staff; partner accounts always create tickets "
        "for their own partner.",
    )


class TicketPatchIn(_Input):
    status: Status | None = None
    priority: Priority | None = None
    assignee_id: int | None = Field(
        None, description="null unassigns; leave the key out to keep the assignee."
    )


# --- messages --------------------------------------------------------------------------


class AttachmentOut(Schema):
    id: int
    filename: str
    size: int


class MessageOut(Schema):
    id: int
    kind: Message.Kind
    author_name: str
    body_text: str
    body_html: str
    created_at: datetime
    attachments: list[AttachmentOut]

    @staticmethod
    def resolve_author_name(obj: Message) -> str:
        return str(obj.author_name)

    @staticmethod
    def resolve_attachments(obj: Message) -> list[Attachment]:
        return list(obj.attachments.all())


class MessageIn(_Input):
    kind: Literal["reply", "note"] = Field(
        description="`reply` is sent to the customer; `note` is seen by staff and partner only."
    )
    text: str = Field(min_length=1)


# --- directory -------------------------------------------------------------------------


class PartnerOut(Schema):
    id: int
    name: str
    slug: str


class ServiceOut(Schema):
    id: int
    partner_id: int
    name: str
    description: str
    is_active: bool


class ServiceFilters(Schema):
    partner_id: int | None = None


class EmailOut(Schema):
    address: str
    is_confirmed: bool


class ContactOut(Schema):
    id: int
    partner_id: int
    name: str
    organisation: Ref | None
    emails: list[EmailOut]
    phones: list[str]
    created_at: datetime

    @staticmethod
    def resolve_organisation(obj: Contact) -> dict[str, object] | None:
        organisation = obj.organisation
        return {"id": organisation.pk, "name": organisation.name} if organisation else None

    @staticmethod
    def resolve_emails(obj: Contact) -> list[dict[str, object]]:
        return [
            {"address": email.address, "is_confirmed": email.is_confirmed}
            for email in obj.emails.all()
        ]

    @staticmethod
    def resolve_phones(obj: Contact) -> list[str]:
        return [phone.number for phone in obj.phones.all()]


class ContactFilters(PageParams):
    partner_id: int | None = None
    q: str | None = Field(None, description="Part of the name or of an e-mail address.")


class ContactPage(Schema):
    items: list[ContactOut]
    next_cursor: str | None
