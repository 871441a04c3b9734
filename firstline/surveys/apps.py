from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SurveysConfig(AppConfig):
    name = "firstline.surveys"
    verbose_name = _("Surveys and win-back")

    def ready(self) -> None:
        from firstline.core import events
        from firstline.surveys.services import on_status_changed
        from firstline.surveys.winback import priority_for_new_ticket
        from firstline.tickets import hooks

        events.subscribe("ticket.status_changed", on_status_changed)
        # A customer won back is more sensitive: new tickets one step higher, per partner.
        hooks.register_priority_rule(priority_for_new_ticket)
