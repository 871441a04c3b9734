from django.core.mail import EmailMessage
from django.tasks import task
from django.utils import translation
from django.utils.translation import gettext as _


@task
def send_login_link(user_id: int) -> None:
    from firstline.contacts.models import Contact, letter_language
    from firstline.core.models import User
    from firstline.portal.services import login_url

    user = User.objects.select_related("partner").filter(pk=user_id).first()
    if user is None or not user.email or user.partner is None:
        return
    partner = user.partner
    # In the customer's language: their contact's, else the partner's.
    language = letter_language(Contact.objects.filter(user=user).first(), partner)
    with translation.override(language):
        body = _(
            "Hello, %(name)s!\n\nTo sign in to the %(partner)s support portal, open this link:\n"
            "%(url)s\n\nThe link works once. If you did not ask for it, ignore this letter.\n\n"
            "%(partner)s technical support\n%(email)s %(phone)s"
        ) % {
            "name": user.first_name or user.email,
            "partner": partner.name,
            "url": login_url(user),
            "email": partner.support_email,
            "phone": partner.support_phone,
        }
        subject = _("Sign-in link to the %(partner)s support portal") % {"partner": partner.name}
    EmailMessage(
        subject=subject, body=body, from_email=partner.support_email, to=[user.email]
    ).send()
