"""Who may see which rows: the one place tenancy is decided.

Every view and API endpoint that touches partner-owned data starts from one of these
querysets, built from the signed-in user alone (never from the URL or the request body).
Looking an object up through them turns "not yours" into "not found", so another
partner's ticket number or id gives the same 404 as a number that does not exist.

- provider staff (operator, supervisor, admin): every partner;
- partner accounts (engineer, manager, integration): their partner only;
- customers: their own tickets and contact, public messages only.
"""

from django.db.models import QuerySet

from firstline.contacts.models import Contact, Organisation
from firstline.core.models import Partner, Service, User
from firstline.tickets.models import Attachment, Message, Ticket


def _contact_id(user: User) -> int | None:
    try:
        return user.contact.pk
    except Contact.DoesNotExist:
        return None


def _signed_in(user: User) -> bool:
    return bool(user and user.is_authenticated and user.is_active)


def partners_for(user: User) -> QuerySet[Partner]:
    if not _signed_in(user):
        return Partner.objects.none()
    if user.is_provider_staff:
        return Partner.objects.all()
    return Partner.objects.filter(pk=user.partner_id)


def services_for(user: User) -> QuerySet[Service]:
    if not _signed_in(user):
        return Service.objects.none()
    if user.is_provider_staff:
        return Service.objects.all()
    return Service.objects.filter(partner_id=user.partner_id)


def tickets_for(user: User) -> QuerySet[Ticket]:
    if not _signed_in(user):
        return Ticket.objects.none()
    if user.is_provider_staff:
        return Ticket.objects.all()
    if user.is_partner_user:
        return Ticket.objects.filter(partner_id=user.partner_id)
    if user.is_customer:
        contact_id = _contact_id(user)
        if contact_id is None:
            return Ticket.objects.none()
        return Ticket.objects.filter(partner_id=user.partner_id, contact_id=contact_id)
    return Ticket.objects.none()


def messages_for(user: User) -> QuerySet[Message]:
    messages = Message.objects.filter(ticket__in=tickets_for(user))
    if _signed_in(user) and user.is_customer:
        messages = messages.exclude(kind=Message.Kind.NOTE)
    return messages


def attachments_for(user: User) -> QuerySet[Attachment]:
    return Attachment.objects.filter(message__in=messages_for(user))


def contacts_for(user: User) -> QuerySet[Contact]:
    if not _signed_in(user):
        return Contact.objects.none()
    if user.is_provider_staff:
        return Contact.objects.all()
    if user.is_partner_user:
        return Contact.objects.filter(partner_id=user.partner_id)
    if user.is_customer:
        return Contact.objects.filter(partner_id=user.partner_id, user_id=user.pk)
    return Contact.objects.none()


def organisations_for(user: User) -> QuerySet[Organisation]:
    if not _signed_in(user):
        return Organisation.objects.none()
    if user.is_provider_staff:
        return Organisation.objects.all()
    if user.is_partner_user:
        return Organisation.objects.filter(partner_id=user.partner_id)
    return Organisation.objects.none()


def assignable_users(user: User, partner: Partner) -> QuerySet[User]:
    """Whom `user` may assign a ticket of `partner` to."""
    if not _signed_in(user):
        return User.objects.none()
    partner_people = User.objects.filter(
        is_active=True, partner=partner, role__in=[User.Role.ENGINEER, User.Role.MANAGER]
    )
    if user.is_provider_staff:
        staff = User.objects.filter(is_active=True, role__in=list(User.STAFF_ROLES))
        return (staff | partner_people).order_by("role", "last_name", "username")
    if user.is_partner_user and user.partner_id == partner.pk:
        return partner_people.order_by("last_name", "username")
    return User.objects.none()
