"""Changes to contacts: validated, one transaction each, audited with before and after."""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from firstline.contacts.models import Contact
from firstline.core import audit
from firstline.core.models import MailLanguage, User

LANGUAGE_CHOICES = frozenset({"", *MailLanguage.values})


@transaction.atomic
def set_language(*, contact: Contact, actor: User, language: str) -> Contact:
    """The language letters to this person are written in; "" follows the partner's.

    Provider staff and the contact's partner's staff may change it; a customer may not
    (the portal is not the place; the partner's people set it on request)."""
    if not (actor.is_provider_staff or (actor.is_partner_user
                                        and actor.partner_id == contact.partner_id)):
        raise PermissionDenied(_("Only staff change a contact's language."))
    if language not in LANGUAGE_CHOICES:
        raise ValidationError({"language": _("Choose ru, en, or empty for the partner's "
                                             "language.")})
    locked = Contact.objects.select_for_update().get(pk=contact.pk)
    if locked.language == language:
        return locked
    before = locked.language
    locked.language = language
    locked.save(update_fields=["language"])
    audit.record(actor=actor, partner=locked.partner, action="contact.language_changed",
                 target=locked, before={"language": before}, after={"language": language})
    return locked
