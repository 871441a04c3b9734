from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IncidentsConfig(AppConfig):
    name = "firstline.incidents"
    label = "incidents"
    verbose_name = _("Incidents and announcements")

    def ready(self) -> None:
        # New tickets about a service with an open incident get the incident's
        # acknowledgement: the ticket domain does not know about incidents.
        from firstline.incidents import intake

        intake.connect()
