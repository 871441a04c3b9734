from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MailConfig(AppConfig):
    name = "firstline.mail"
    label = "mail"
    verbose_name = _("E-mail")

    def ready(self) -> None:
        from firstline.core import events
        from firstline.mail.on_merge import keep_participants
        from firstline.mail.outbound import mail_public_reply

        events.subscribe("message.public_reply", mail_public_reply)
        events.subscribe("ticket.merged", keep_participants)
