from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OpsConfig(AppConfig):
    name = "firstline.ops"
    label = "ops"
    verbose_name = _("Operations")

    def ready(self) -> None:
        # The deployment checks of `firstline check --deploy` and the request id's way from
        # a web request to the task it enqueued (django.tasks signals).
        from firstline.ops import checks, requestid

        checks.register_checks()
        requestid.connect_task_signals()
