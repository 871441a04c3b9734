"""The outbox adapter of the `event_hook` channel: sign at send time and POST.

The outbox claims the row, counts the attempt and schedules retries; this adapter re-checks
the URL (DNS can change after the subscription was saved), signs the body with the
subscription's current secret and a fresh timestamp, POSTs it through the outbox's HTTP
client and records the receiver's response code on the delivery.
"""

from firstline.core.secret_field import reveal
from firstline.outbox import conf, httpclient
from firstline.outbox.adapters import Sent, idempotency_key
from firstline.outbox.errors import PermanentError, TemporaryError
from firstline.outbox.models import OutboxMessage
from firstline.webhooks import addresses, signing
from firstline.webhooks.models import Delivery, Subscription

DELIVERY_HEADER = "X-Firstline-Delivery"


class EventHookAdapter:
    def ready(self) -> bool:
        return True

    def send(self, message: OutboxMessage) -> Sent:
        delivery = (Delivery.objects.select_related("subscription")
                    .filter(message_id=message.pk).first())
        if delivery is None:
            raise PermanentError("no webhook subscription for this message")
        subscription: Subscription = delivery.subscription
        if not subscription.is_active:
            raise PermanentError("the webhook subscription is switched off")
        # The subscription's URL now: a corrected URL serves the retries too.
        url = subscription.url
        try:
            addresses.check(url)
        except addresses.RefusedURL as exc:
            raise PermanentError(f"refused URL {httpclient.printable_url(url)}: {exc}") from exc
        except LookupError as exc:
            raise TemporaryError(str(exc)) from exc
        body = message.body.encode("utf-8")
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "firstline-webhooks/1",
            "Idempotency-Key": idempotency_key(message),
            DELIVERY_HEADER: str(message.pk),
            **{str(name): str(value) for name, value in message.headers.items()},
            signing.SIGNATURE_HEADER: signing.header(
                reveal(subscription.secret, "webhook secret"), body),
        }
        try:
            answer = httpclient.post(url, body, headers, timeout=conf.http_timeout())
        except TemporaryError:
            # No answer this time (refused, timed out): the log must not show an old code.
            Delivery.objects.filter(pk=delivery.pk).update(response_code=None)
            raise
        Delivery.objects.filter(pk=delivery.pk).update(response_code=answer.status)
        httpclient.raise_for_status(answer, "webhook")
        return Sent(f"HTTP {answer.status}")
