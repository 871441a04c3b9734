from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WebhooksConfig(AppConfig):
    name = "firstline.webhooks"
    label = "webhooks"
    verbose_name = _("Outbound webhooks")

    def ready(self) -> None:
        from firstline.core import events
        from firstline.outbox import adapters
        from firstline.webhooks.adapter import EventHookAdapter
        from firstline.webhooks.models import EVENT_NAMES
        from firstline.webhooks.services import on_event

        for name in EVENT_NAMES:
            events.subscribe(name, on_event)
        adapters.register("event_hook", EventHookAdapter)
