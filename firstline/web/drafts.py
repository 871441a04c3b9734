"""Reply drafts per ticket and user: saved as the operator types, shown again on the next
visit, deleted when the reply is sent. Another partner's ticket never reaches here: the
views read the ticket through tenancy first."""

from typing import Any

from firstline.core.clock import now
from firstline.core.models import User
from firstline.tickets.models import Message, Ticket
from firstline.web.draft_models import DRAFT_MAX, ReplyDraft


def draft_for(ticket: Ticket, user: User) -> ReplyDraft | None:
    if not user.is_authenticated:
        return None
    return ReplyDraft.objects.filter(ticket=ticket, user=user).first()


def initial(draft: ReplyDraft | None) -> dict[str, Any]:
    if draft is None:
        return {}
    values: dict[str, Any] = {"text": draft.text}
    if draft.kind in Message.Kind.values:
        values["kind"] = draft.kind
    if draft.reply_kind:
        values["reply_kind"] = draft.reply_kind
    return values


def save(ticket: Ticket, user: User, *, text: str, kind: str = "", reply_kind: str = "") -> None:
    """Keep what is typed (an empty editor deletes the draft)."""
    text = (text or "").replace("\r\n", "\n")[:DRAFT_MAX]
    if not text.strip():
        discard(ticket, user)
        return
    ReplyDraft.objects.update_or_create(
        ticket=ticket, user=user,
        defaults={"partner_id": ticket.partner_id, "text": text, "kind": kind[:20],
                  "reply_kind": reply_kind[:30], "updated_at": now()},
    )


def discard(ticket: Ticket, user: User) -> None:
    ReplyDraft.objects.filter(ticket=ticket, user=user).delete()
