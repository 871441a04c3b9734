from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CallsConfig(AppConfig):
    name = "firstline.calls"
    label = "calls"
    verbose_name = _("Phone calls")

    def ready(self) -> None:
        from firstline.calls.models import OperatorLine, PartnerPhoneNumber
        from firstline.core import config_cache

        config_cache.watch(PartnerPhoneNumber, OperatorLine)
