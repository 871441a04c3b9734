from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TelegramConfig(AppConfig):
    name = "firstline.telegram"
    label = "telegram"
    verbose_name = _("Telegram")

    def ready(self) -> None:
        from firstline.core import events
        from firstline.outbox import adapters
        from firstline.telegram.outbound import TelegramAdapter, telegram_public_reply

        adapters.register("telegram", TelegramAdapter)
        events.subscribe("message.public_reply", telegram_public_reply)
