"""Channel adapters: how one outbox message leaves the building.

Each adapter sends one message over a real protocol and returns the provider's id for it,
or raises TemporaryError (retry later) or PermanentError (give up). Any other exception is
treated as temporary by the worker. Which adapter serves a channel is configuration:

    email    Django's mail API through the MAILERS alias FIRSTLINE_OUTBOX_MAILER
    sms      FIRSTLINE_SMS_PROVIDER = "smsru" (SMS.ru HTTP API) or "webhook" (JSON webhook)
    voice    FIRSTLINE_VOICE_PROVIDER = "webhook" (a call-back / text-to-speech service)
    webhook  POST of the message body to the recipient URL
    others   the adapter an app registered for the channel (`register`)
"""

import json
import re
import smtplib
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from django.conf import settings
from django.core.files.storage import default_storage
from django.core.mail import EmailMultiAlternatives

from firstline.outbox import conf, httpclient
from firstline.outbox.errors import PermanentError, TemporaryError
from firstline.outbox.models import Channel, OutboxMessage
from firstline.tickets.models import format_number


@dataclass(frozen=True)
class Sent:
    provider_message_id: str = ""


class Adapter(Protocol):
    def ready(self) -> bool:
        """Whether the settings this adapter needs are there."""
        ...

    def send(self, message: OutboxMessage) -> Sent: ...


class NotConfigured(TemporaryError):
    """The channel has no provider yet. Temporary: messages wait until it is configured."""


def header(headers: Mapping[str, Any], name: str) -> str:
    """A header's value, whatever the case of its name in the stored headers."""
    for key, value in headers.items():
        if key.lower() == name.lower():
            return str(value)
    return ""


def sender_address(message: OutboxMessage) -> str:
    # Partner mail goes out from the partner's own address: the provider answers on its behalf.
    if message.partner is not None:
        return message.partner.support_email
    return str(settings.DEFAULT_FROM_EMAIL)


def idempotency_key(message: OutboxMessage) -> str:
    # Delivery is at least once (a send can succeed and the worker die before recording it);
    # a provider that honours Idempotency-Key can drop the second copy.
    return f"firstline-outbox-{message.pk}"


# E-mail ----------------------------------------------------------------------------------


def _read_attachment(path: str) -> bytes:
    try:
        with default_storage.open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError as exc:
        # Gone from the storage: no retry brings it back.
        raise PermanentError(f"attachment missing from the storage: {path}") from exc


class EmailAdapter:
    def ready(self) -> bool:
        return True

    def send(self, message: OutboxMessage) -> Sent:
        email = EmailMultiAlternatives(
            subject=message.subject,
            body=message.body,
            from_email=sender_address(message),
            to=[message.recipient],
            headers=dict(message.headers),
        )
        if message.html:
            email.attach_alternative(message.html, "text/html")
        for item in message.attachments or ():
            email.attach(item["filename"], _read_attachment(item["path"]), item["content_type"])
        try:
            email.send(using=conf.mailer())
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _text in exc.recipients.values()]
            error = f"SMTP refused the recipient: {exc.recipients}"
            if codes and all(500 <= code < 600 for code in codes):
                raise PermanentError(error) from exc
            raise TemporaryError(error) from exc
        except smtplib.SMTPDataError as exc:
            # 5xx after DATA: the server refuses this very message (size, content, policy).
            error = f"SMTP refused the message: {exc.smtp_code} {exc.smtp_error!r}"
            if 500 <= exc.smtp_code < 600:
                raise PermanentError(error) from exc
            raise TemporaryError(error) from exc
        except (smtplib.SMTPException, OSError) as exc:
            # Login, sender address, TLS, connection: configuration or the server, not the
            # message; it goes once they are fixed.
            raise TemporaryError(f"SMTP: {type(exc).__name__}: {exc}") from exc
        return Sent(header(message.headers, "Message-ID"))


# JSON webhooks for SMS and voice ---------------------------------------------------------

_PLACEHOLDER = re.compile(r"\{(phone|text|subject|partner|ticket|id)\}")


def placeholders(message: OutboxMessage) -> dict[str, str]:
    return {
        "phone": message.recipient,
        "text": message.body,
        "subject": message.subject,
        "partner": message.partner.slug if message.partner is not None else "",
        "ticket": format_number(message.ticket_id) if message.ticket_id else "",
        "id": str(message.pk),
    }


def render_template(template: str, values: Mapping[str, str]) -> Any:
    """Fill {phone}, {text}… into the string values of a JSON template.

    The template is parsed first and filled value by value, so quotes or newlines in the
    text cannot break the JSON, and one pass means a text that itself contains "{phone}"
    is sent as written.
    """

    def fill(node: Any) -> Any:
        if isinstance(node, str):
            return _PLACEHOLDER.sub(lambda match: values[match.group(1)], node)
        if isinstance(node, dict):
            return {key: fill(value) for key, value in node.items()}
        if isinstance(node, list):
            return [fill(item) for item in node]
        return node

    return fill(_json_template(template))


def _json_template(template: str) -> Any:
    try:
        return json.loads(template)
    except ValueError as exc:
        raise TemporaryError(f"the payload template is not valid JSON: {exc}") from exc


def provider_id(answer: httpclient.Answer) -> str:
    """The provider's id for the message, if its JSON answer names one."""
    data = answer.json()
    if isinstance(data, dict):
        for key in ("id", "message_id", "call_id", "sms_id"):
            if data.get(key) not in (None, ""):
                return str(data[key])[:255]
    return ""


class JsonWebhookAdapter:
    """POST a JSON payload built from a template to a configured URL (SMS or voice)."""

    def __init__(self, prefix: str, default_template: str, what: str) -> None:
        self.prefix = prefix
        self.default_template = default_template
        self.what = what

    def ready(self) -> bool:
        return bool(conf.text(f"{self.prefix}_URL"))

    def send(self, message: OutboxMessage) -> Sent:
        url = conf.text(f"{self.prefix}_URL")
        if not url:
            raise NotConfigured(f"{self.prefix}_URL is not set")
        payload = render_template(
            conf.text(f"{self.prefix}_TEMPLATE", self.default_template), placeholders(message)
        )
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Accept": "application/json",
            "Idempotency-Key": idempotency_key(message),
        }
        auth_value = conf.text(f"{self.prefix}_AUTH_VALUE")
        if auth_value:
            headers[conf.text(f"{self.prefix}_AUTH_HEADER", "Authorization")] = auth_value
        answer = httpclient.post(
            url,
            json.dumps(payload, ensure_ascii=False).encode("utf-8"),
            headers,
            timeout=conf.http_timeout(),
        )
        httpclient.raise_for_status(answer, self.what)
        return Sent(provider_id(answer))


class HttpWebhookAdapter:
    """The webhook channel: the message body as it is, POSTed to the recipient URL."""

    def ready(self) -> bool:
        return True

    def send(self, message: OutboxMessage) -> Sent:
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Idempotency-Key": idempotency_key(message),
        }
        for name, value in message.headers.items():
            # The caller's headers win, with the caller's spelling of the name.
            for known in [key for key in headers if key.lower() == name.lower()]:
                del headers[known]
            headers[name] = str(value)
        answer = httpclient.post(
            message.recipient, message.body.encode("utf-8"), headers,
            timeout=conf.http_timeout(),
        )
        httpclient.raise_for_status(answer, "webhook")
        return Sent(provider_id(answer))


# SMS.ru ----------------------------------------------------------------------------------

# SMS.ru status codes (https://sms.ru/api/send) that are about this message or number, so
# a retry cannot help: 202 wrong recipient, 203 no text, 205 longer than 8 SMS, 207 no route
# to the number, 209 number in the stop list, 212 text not in UTF-8, 213 over 100 numbers.
# Everything else — 200/301 wrong api_id, 201 out of money, 204 sender name not approved,
# 206 daily limit, 220 service unavailable, 230-233 rate limits, 500 server error — is the
# account or the service, and the message goes once that is put right.
SMSRU_PERMANENT_CODES = frozenset({202, 203, 205, 207, 209, 212, 213})


def smsru_phone(recipient: str) -> str:
    """'+7 (925) 507-06-02' -> '79255070602', the digits-only form SMS.ru expects."""
    digits = re.sub(r"\D", "", recipient)
    # The Russian domestic form 8XXXXXXXXXX is the same number as +7XXXXXXXXXX.
    if len(digits) == 11 and digits.startswith("8"):
        digits = "7" + digits[1:]
    return digits


def _smsru_error(data: Mapping[str, Any]) -> Exception:
    raw_code = data.get("status_code")
    try:
        code = int(raw_code) if raw_code is not None else None
    except (TypeError, ValueError):
        code = None
    error = f"SMS.ru status_code {raw_code}: {data.get('status_text', '')}".strip()
    if code in SMSRU_PERMANENT_CODES:
        return PermanentError(error)
    return TemporaryError(error)


class SmsRuAdapter:
    """SMS through SMS.ru: POST /sms/send with api_id, to, msg, json=1."""

    def ready(self) -> bool:
        return bool(conf.text("FIRSTLINE_SMSRU_API_ID"))

    def send(self, message: OutboxMessage) -> Sent:
        api_id = conf.text("FIRSTLINE_SMSRU_API_ID")
        if not api_id:
            raise NotConfigured("FIRSTLINE_SMSRU_API_ID is not set")
        phone = smsru_phone(message.recipient)
        fields = {"api_id": api_id, "to": phone, "msg": message.body, "json": "1"}
        sender = conf.text("FIRSTLINE_SMSRU_FROM")
        if sender:
            fields["from"] = sender
        if conf.flag("FIRSTLINE_SMSRU_TEST"):
            # SMS.ru checks the request and answers as usual but sends nothing, costs nothing.
            fields["test"] = "1"
        # POST, not GET: the api_id stays out of proxies' and servers' access logs, and a long
        # text is not limited by URL length. The form is UTF-8, as SMS.ru requires (code 212).
        answer = httpclient.post(
            conf.text("FIRSTLINE_SMSRU_URL", conf.SMSRU_URL),
            urllib.parse.urlencode(fields).encode("ascii"),
            {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
            timeout=conf.http_timeout(),
        )
        httpclient.raise_for_status(answer, "SMS.ru")
        data = answer.json()
        if not isinstance(data, dict):
            raise TemporaryError(f"SMS.ru: not a JSON answer: {answer.snippet()}")
        if data.get("status") != "OK":
            raise _smsru_error(data)
        entry = (data.get("sms") or {}).get(phone)
        if not isinstance(entry, dict):
            raise TemporaryError(f"SMS.ru: no result for {phone} in the answer")
        if entry.get("status") != "OK":
            raise _smsru_error(entry)
        return Sent(str(entry.get("sms_id") or "")[:255])


# Choosing the adapter --------------------------------------------------------------------


def _sms_adapters() -> dict[str, Adapter]:
    return {
        "smsru": SmsRuAdapter(),
        "webhook": JsonWebhookAdapter(
            "FIRSTLINE_SMS_WEBHOOK", conf.DEFAULT_SMS_TEMPLATE, "SMS webhook"
        ),
    }


def _voice_adapters() -> dict[str, Adapter]:
    return {
        "webhook": JsonWebhookAdapter(
            "FIRSTLINE_VOICE_WEBHOOK", conf.DEFAULT_VOICE_TEMPLATE, "voice webhook"
        ),
    }


def _by_provider(setting: str, choices: dict[str, Adapter]) -> Adapter:
    provider = conf.text(setting)
    if not provider:
        raise NotConfigured(f"{setting} is not set (one of: {', '.join(sorted(choices))})")
    if provider not in choices:
        raise NotConfigured(
            f"{setting}: unknown provider {provider!r} (one of: {', '.join(sorted(choices))})"
        )
    return choices[provider]


_registered: dict[str, Callable[[], Adapter]] = {}


def register(channel: str, factory: Callable[[], Adapter]) -> None:
    """Let an app serve a channel (called from its AppConfig.ready): the outbox owns the
    queue, retries and lease; the app knows the protocol (Telegram's Bot API, signed hooks)."""
    if channel not in Channel.values:
        raise ValueError(f"unknown outbox channel {channel!r}")
    _registered[channel] = factory


def adapter_for(channel: str) -> Adapter:
    """The adapter configured for a channel; NotConfigured when there is none yet."""
    if channel in _registered:
        return _registered[channel]()
    if channel == Channel.EMAIL:
        return EmailAdapter()
    if channel == Channel.WEBHOOK:
        return HttpWebhookAdapter()
    if channel == Channel.SMS:
        return _by_provider("FIRSTLINE_SMS_PROVIDER", _sms_adapters())
    if channel == Channel.VOICE:
        return _by_provider("FIRSTLINE_VOICE_PROVIDER", _voice_adapters())
    raise PermanentError(f"unknown channel {channel!r}")


def is_channel_configured(channel: str) -> bool:
    """Whether messages on this channel can go out now (callers may choose another one)."""
    try:
        return adapter_for(channel).ready()
    except (NotConfigured, PermanentError):
        return False
