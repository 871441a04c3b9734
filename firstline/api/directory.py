"""What tickets refer to: partners, their services and their customers' contacts."""

from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Query, Router

from firstline.api.auth import current_user
from firstline.api.fields import Id
from firstline.api.pagination import paginate
from firstline.api.queries import filter_contacts
from firstline.api.schemas import (
    BODY_ERRORS,
    COMMON_ERRORS,
    NOT_FOUND,
    ContactChangeIn,
    ContactFilters,
    ContactOut,
    ContactPage,
    PartnerOut,
    ServiceFilters,
    ServiceOut,
)
from firstline.contacts import services as contact_services
from firstline.contacts.models import Contact
from firstline.core.models import Partner, Service, User
from firstline.tenancy import contacts_for, partners_for, services_for

router = Router(tags=["directory"])


def _contacts(user: User) -> QuerySet[Contact]:
    return (contacts_for(user).select_related("organisation", "partner")
            .prefetch_related("emails", "phones"))


@router.get("/partners", response={200: list[PartnerOut], **COMMON_ERRORS})
def list_partners(request: HttpRequest) -> QuerySet[Partner]:
    """Partner accounts see their own partner; provider staff see all of them."""
    return partners_for(current_user(request)).order_by("name")


@router.get("/services", response={200: list[ServiceOut], **COMMON_ERRORS})
def list_services(request: HttpRequest, filters: Query[ServiceFilters]) -> QuerySet[Service]:
    services = services_for(current_user(request))
    if filters.partner_id is not None:
        services = services.filter(partner_id=filters.partner_id)
    return services.order_by("partner_id", "name")


@router.get("/contacts", response={200: ContactPage, **COMMON_ERRORS})
def list_contacts(request: HttpRequest, filters: Query[ContactFilters]) -> dict[str, Any]:
    contacts = filter_contacts(_contacts(current_user(request)), filters)
    items, next_cursor = paginate(contacts, filters)
    return {"items": items, "next_cursor": next_cursor}


@router.get("/contacts/{contact_id}", response={200: ContactOut, **COMMON_ERRORS, **NOT_FOUND})
def get_contact(request: HttpRequest, contact_id: Id) -> Contact:
    return get_object_or_404(_contacts(current_user(request)), pk=contact_id)


@router.patch(
    "/contacts/{contact_id}",
    response={200: ContactOut, **COMMON_ERRORS, **NOT_FOUND, **BODY_ERRORS},
)
def change_contact(request: HttpRequest, contact_id: Id, payload: ContactChangeIn) -> Contact:
    """Set the contact's language for letters (staff of the provider or of the partner)."""
    user = current_user(request)
    contact = get_object_or_404(_contacts(user), pk=contact_id)
    contact_services.set_language(contact=contact, actor=user, language=payload.language)
    return get_object_or_404(_contacts(user), pk=contact_id)
