"""Request and response shapes; what the OpenAPI document at /api/docs shows."""

from datetime import datetime
from typing import Literal

from ninja import Field, Schema
from pydantic import ConfigDict

from firstline.api.fields import SEARCH_MAX, TEXT_MAX, Id, NonBlankText, Text
from firstline.api.pagination import PageParams
from firstline.contacts.models import Contact
from firstline.quality.metrics import script_facts
from firstline.telegram import files
from firstline.telegram.models import IncomingFile
from firstline.tickets.models import (
    Attachment,
    Channel,
    Message,
    Priority,
    Status,
    Ticket,
    format_number,
)
from firstline.tickets.services import SUBJECT_MAX


class ErrorOut(Schema):
    detail: str


class FieldErrorOut(Schema):
    field: str
    message: str


class InvalidInputOut(Schema):
    detail: str
    errors: list[FieldErrorOut]


class TooLargeOut(Schema):
    detail: str
    limit: int = Field(description="The largest body accepted, in bytes.")


# Responses every authenticated endpoint may give, for the OpenAPI document: 503 (with
# Retry-After) when the database stays locked longer than its timeout.
COMMON_ERRORS: dict[int, type[Schema]] = {
    401: ErrorOut, 403: ErrorOut, 422: InvalidInputOut, 503: ErrorOut
}
NOT_FOUND: dict[int, type[Schema]] = {404: ErrorOut}
# Refused because of the ticket's state (status, missing script steps); names the fields.
CONFLICT: dict[int, type[Schema]] = {409: InvalidInputOut}
# ...and those with a JSON body: not JSON at all (400), too large (413).
BODY_ERRORS: dict[int, type[Schema]] = {400: ErrorOut, 413: TooLargeOut}


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
    partner_id: Id | None = None
    assignee_id: Id | None = None
    q: Text | None = Field(
        None,
        max_length=SEARCH_MAX,
        description="A ticket number (FL-000123 or 123), or part of the subject or the "
        "contact's name.",
    )


class ClassificationValueOut(Schema):
    name: str
    value: str


class DiagnosticResultOut(Schema):
    name: str
    result: str


class ScriptOut(Schema):
    """Processing by script: what the first line recorded, and when (F5, F8, F9, F12, F27)."""

    identified_by: str = Field(
        description="none, contract_number, code_word or confirmed_email (the strongest one "
        "checked)."
    )
    classification: list[ClassificationValueOut]
    diagnostics: list[DiagnosticResultOut]
    classified_at: datetime | None = Field(description="When the classification was complete.")
    diagnosed_at: datetime | None = Field(description="When the diagnostics were complete.")
    classification_minutes: int | None = Field(
        description="Minutes from creation to the later of classification and diagnostics."
    )
    handed_over_at: datetime | None = Field(description="The first hand-over to the partner.")
    routing_minutes: int | None = Field(description="Minutes from creation to the hand-over.")
    partner_group: str = Field(description="The partner's group the ticket was routed to.")
    routing_corrections: int = Field(
        description="Re-routes to someone else and returns from the partner."
    )
    first_line_resolved: bool | None = Field(
        description="Resolved without a hand-over; null until resolved."
    )
    first_contact_resolved: bool | None = Field(
        description="Resolved within the first contact (FCR); null until resolved."
    )


class SlaOut(Schema):
    """The ticket's deadlines and, once met, the facts reports are built from."""

    policy_id: int | None
    reaction_due_at: datetime | None
    resolution_due_at: datetime | None
    paused_since: datetime | None
    paused_minutes: int = Field(description="business minutes the resolution clock was paused")
    reaction_minutes: int | None = Field(description="business minutes to the first reply")
    reaction_in_time: bool | None
    resolution_minutes: int | None = Field(description="business minutes to resolution")
    resolution_in_time: bool | None


class MergedInto(Schema):
    id: int
    number: str = Field(examples=["FL-000123"])


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
    sla: SlaOut
    script: ScriptOut
    is_spam: bool = Field(description="Marked as spam: closed, not counted in billing.")
    merged_into: MergedInto | None = Field(
        description="The ticket this duplicate was merged into; null if not merged."
    )
    merged_at: datetime | None = Field(description="When it was merged; null if not merged.")

    @staticmethod
    def resolve_sla(obj: Ticket) -> dict[str, object]:
        return {
            "policy_id": obj.sla_policy_id,
            "reaction_due_at": obj.reaction_due_at,
            "resolution_due_at": obj.resolution_due_at,
            "paused_since": obj.paused_since,
            "paused_minutes": obj.paused_minutes,
            "reaction_minutes": obj.reaction_minutes,
            "reaction_in_time": obj.reaction_in_time,
            "resolution_minutes": obj.resolution_minutes,
            "resolution_in_time": obj.resolution_in_time,
        }

    @staticmethod
    def resolve_merged_into(obj: Ticket) -> dict[str, object] | None:
        # The number is the id's: the target row is not read (no query per listed ticket).
        if obj.merged_into_id is None:
            return None
        return {"id": obj.merged_into_id, "number": format_number(obj.merged_into_id)}

    @staticmethod
    def resolve_partner_name(obj: Ticket) -> str:
        return obj.partner.name

    @staticmethod
    def resolve_script(obj: Ticket) -> dict[str, object]:
        return script_facts(obj)

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
    subject: Text = Field(
        max_length=SUBJECT_MAX,
        description="May be empty: the first line of the text becomes the subject.",
    )
    text: NonBlankText = Field(
        max_length=TEXT_MAX, description="The request in the customer's words."
    )
    priority: Priority = Priority.NORMAL
    contact_id: Id | None = None
    service_id: Id | None = None
    partner_id: Id = Field(
        description="The partner the ticket is for (`GET /partners`); a partner account "
        "names its own partner."
    )


class HandOverIn(_Input):
    assignee_id: Id | None = Field(
        None, description="A partner engineer or manager; leave out (with `group`) to let "
        "the partner's routing rules decide."
    )
    group: Text = Field("", max_length=100, description="The partner's group, if any.")


class TicketPatchIn(_Input):
    status: Status | None = None
    priority: Priority | None = None
    assignee_id: Id | None = Field(
        None, description="null unassigns; leave the key out to keep the assignee."
    )


# --- messages --------------------------------------------------------------------------


class AttachmentOut(Schema):
    id: int
    filename: str
    size: int


class PendingFileOut(Schema):
    filename: str
    size: int | None = Field(
        description="In bytes, as the customer's Telegram declared it; null if it did not."
    )
    status: Literal["pending", "failed"] = Field(
        description="`pending`: still being fetched from Telegram (it becomes one of the "
        "message's `attachments`); `failed`: not received, for good."
    )
    reason: Literal["too_big", "over_limit", "gone", "unreachable"] | None = Field(
        description="Why a failed file was not received: over Telegram's 20 MB for bots "
        "(`too_big`), over the desk's attachment limit (`over_limit`), Telegram no longer has "
        "it (`gone`), Telegram did not answer (`unreachable`); null while pending."
    )
    reason_text: str = Field(description="`reason` in words, in the request's language.")

    @staticmethod
    def resolve_reason(obj: IncomingFile) -> str | None:
        return obj.reason or None

    @staticmethod
    def resolve_reason_text(obj: IncomingFile) -> str:
        return str(obj.get_reason_display()) if obj.reason else ""


class MessageOut(Schema):
    id: int
    kind: Message.Kind
    author_name: str
    body_text: str
    body_html: str
    created_at: datetime
    attachments: list[AttachmentOut]
    pending_files: list[PendingFileOut] = Field(
        description="Files of a customer's Telegram message that are not among "
        "`attachments`: still being fetched, or not received (with the reason). Empty for "
        "other messages."
    )

    @staticmethod
    def resolve_author_name(obj: Message) -> str:
        return str(obj.author_name)

    @staticmethod
    def resolve_attachments(obj: Message) -> list[Attachment]:
        return list(obj.attachments.all())

    @staticmethod
    def resolve_pending_files(obj: Message) -> list[IncomingFile]:
        # Prefetched for the whole conversation (files.unreceived); a message read on its
        # own asks for its files alone.
        prefetched = getattr(obj, "unreceived_files", None)
        if prefetched is not None:
            return list(prefetched)
        return list(files.unreceived().queryset.filter(message_id=obj.pk))


ReplyKindIn = Literal["regular", "acknowledgement", "clarifying_question"]
REPLY_KIND_HELP = (
    "Which quality criteria a reply is checked by: `regular` (forbidden phrases only), "
    "`acknowledgement` (also the name, the customer's words, the maximum resolution time) "
    "or `clarifying_question` (also the name, a request rather than a statement of "
    "absence, what the customer gains)."
)


class MessageIn(_Input):
    kind: Literal["reply", "note"] = Field(
        description="`reply` is sent to the customer; `note` is seen by staff and partner only."
    )
    text: NonBlankText = Field(max_length=TEXT_MAX)
    reply_kind: ReplyKindIn = Field(
        "regular",
        description=REPLY_KIND_HELP + " A reply with a finding that blocks for the ticket's "
        "partner is refused with 422 on `text`, one error per finding; notes are not checked.",
    )


# --- reply rules -----------------------------------------------------------------------


class ReplyCheckIn(Schema):
    # Not stripped (unlike the other inputs): the spans point into the text as it was sent.
    model_config = ConfigDict(extra="forbid")

    ticket_id: Id
    text: Text = Field(max_length=TEXT_MAX)
    kind: ReplyKindIn = Field("regular", description=REPLY_KIND_HELP)


class FindingOut(Schema):
    code: str = Field(description="forbidden_phrase, missing_name, missing_customer_words, "
                      "missing_deadline, statement_of_absence, missing_request, missing_benefit")
    message: str = Field(description="For the operator, in the language of the request.")
    span: tuple[int, int] | None = Field(
        description="[start, end) in the text, in Unicode code points; null for something "
        "missing."
    )
    suggestion: str | None = Field(
        description="What to put in, replacing the span if any; in the reply's language."
    )
    alternatives: list[str]
    blocking: bool = Field(description="Whether this finding stops the reply from being sent.")


class ReplyCheckOut(Schema):
    language: Literal["ru", "en"] = Field(description="The language the reply was read in.")
    blocked: bool = Field(description="Whether a reply with this text would be refused.")
    findings: list[FindingOut]


# --- directory -------------------------------------------------------------------------


class PartnerOut(Schema):
    id: int
    name: str
    slug: str
    language: Literal["ru", "en"] = Field(
        description="The language of letters to the partner's customers unless a contact "
                    "has their own.")


class ServiceOut(Schema):
    id: int
    partner_id: int
    name: str
    description: str
    is_active: bool


class ServiceFilters(Schema):
    partner_id: Id | None = None


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
    language: Literal["", "ru", "en"] = Field(
        description="The contact's own language for letters; empty: the partner's.")
    preferred_language: Literal["ru", "en"] = Field(
        description="What letters to this contact are written in: `language`, else the "
                    "partner's.")
    created_at: datetime

    @staticmethod
    def resolve_preferred_language(obj: Contact) -> str:
        return obj.preferred_language

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


class ContactChangeIn(Schema):
    model_config = ConfigDict(extra="forbid")

    language: Literal["", "ru", "en"] = Field(
        description="The language of letters to this contact (acknowledgement, replies, "
                    "sign-in links); empty: the partner's.")


class ContactFilters(PageParams):
    partner_id: Id | None = None
    q: Text | None = Field(
        None, max_length=SEARCH_MAX, description="Part of the name or of an e-mail address."
    )


class ContactPage(Schema):
    items: list[ContactOut]
    next_cursor: str | None
