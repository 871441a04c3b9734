"""Phone numbers as the PBX writes them, turned into E.164 (+74951204567).

Russian PBXs write a number in many ways: 74951204567, 84951204567, +7 (495) 120-45-67,
a bare 10-digit 4951204567. `phonenumbers` reads each with Russia as the default region.
Short internal extensions (101) are not phone numbers and are refused.
"""

import re

import phonenumbers

DEFAULT_REGION = "RU"


class NotANumber(ValueError):
    """The text is not a phone number; the message says why, for the operator."""


# Digits and the separators people and PBXs write between them.
_PLAIN_NUMBER = re.compile(r"\+?[0-9 ()\-]+")


def to_e164(raw: str, region: str = DEFAULT_REGION) -> str:
    text = (raw or "").strip()
    if region == "RU" and _PLAIN_NUMBER.fullmatch(text):
        digits = "".join(ch for ch in text if ch.isdigit())
        # A Russian number, +7 and ten digits, is its own E.164 form (phonenumbers says the
        # same, slowly: the queue_log import reads one per call).
        if len(digits) == 11 and (digits[0] == "7" or (digits[0] == "8" and text[0] != "+")):
            return "+7" + digits[1:]
    return _to_e164(text, region)


def _to_e164(text: str, region: str) -> str:
    if not text:
        raise NotANumber("empty")
    digits = "".join(ch for ch in text if ch.isdigit())
    if text.startswith("+"):
        candidate = text
    elif len(digits) == 11 and digits[0] in "78" and region == "RU":
        # 7XXXXXXXXXX and the domestic 8XXXXXXXXXX both mean +7.
        candidate = "+7" + digits[1:]
    elif len(digits) > 11:
        # International without the plus, as Zadarma reports foreign callers.
        candidate = "+" + digits
    else:
        candidate = text
    try:
        parsed = phonenumbers.parse(candidate, region)
    except phonenumbers.NumberParseException as exc:
        raise NotANumber(str(exc)) from exc
    if not phonenumbers.is_possible_number(parsed):
        raise NotANumber("not a possible number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def try_e164(raw: str) -> str | None:
    try:
        return to_e164(raw)
    except NotANumber:
        return None


def display(e164: str) -> str:
    """+74951204567 -> +7 495 120-45-67, for people."""
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
