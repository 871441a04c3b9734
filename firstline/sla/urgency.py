"""Urgency criteria: at intake the first matching rule of the partner sets the priority."""

from firstline.contacts.models import Contact
from firstline.core import config_cache
from firstline.core.models import Partner, Service
from firstline.sla.models import UrgencyRule

# Read for every new ticket (every letter of the mail channel), edited rarely: the partner's
# rules are kept a few seconds per process (firstline.core.config_cache); saving or deleting
# a rule here drops the cache at once.
config_cache.watch(UrgencyRule)


def matches(rule: UrgencyRule, text: str, service: Service | None, contact: Contact | None) -> bool:
    if rule.service_id is not None and (service is None or service.pk != rule.service_id):
        return False
    if rule.vip_only:
        organisation = contact.organisation if contact is not None else None
        if organisation is None or not organisation.is_vip:
            return False
    keywords = rule.keyword_list()
    return not keywords or any(keyword in text for keyword in keywords)


def rules_of(partner_id: int) -> list[UrgencyRule]:
    """The partner's rules in order (cached briefly; treat as read-only)."""
    return config_cache.get(
        ("sla.urgency_rules", partner_id),
        lambda: list(UrgencyRule.objects.filter(partner_id=partner_id).select_related("service")),
    )


def priority_for(
    partner: Partner, subject: str, text: str, service: Service | None, contact: Contact | None
) -> tuple[str, UrgencyRule] | None:
    haystack = f"{subject}\n{text}".casefold()
    for rule in rules_of(partner.pk):
        if matches(rule, haystack, service, contact):
            return rule.priority, rule
    return None
