"""Urgency criteria: at intake the first matching rule of the partner sets the priority."""

from firstline.contacts.models import Contact
from firstline.core.models import Partner, Service
from firstline.sla.models import UrgencyRule


def matches(rule: UrgencyRule, text: str, service: Service | None, contact: Contact | None) -> bool:
    if rule.service_id is not None and (service is None or service.pk != rule.service_id):
        return False
    if rule.vip_only:
        organisation = contact.organisation if contact is not None else None
        if organisation is None or not organisation.is_vip:
            return False
    keywords = rule.keyword_list()
    return not keywords or any(keyword in text for keyword in keywords)


def priority_for(
    partner: Partner, subject: str, text: str, service: Service | None, contact: Contact | None
) -> tuple[str, UrgencyRule] | None:
    haystack = f"{subject}\n{text}".casefold()
    for rule in UrgencyRule.objects.filter(partner=partner).select_related("service"):
        if matches(rule, haystack, service, contact):
            return rule.priority, rule
    return None
