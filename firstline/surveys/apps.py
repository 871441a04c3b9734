from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SurveysConfig(AppConfig):
    name = "firstline.surveys"
    verbose_name = _("Surveys and win-back")

    def ready(self) -> None:
        from firstline.core import events
        from firstline.surveys.services import on_status_changed

        events.subscribe("ticket.status_changed", on_status_changed)
