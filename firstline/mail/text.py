"""Small text helpers shared by the acknowledgement and the outbound letters."""

import re

from django.utils.html import escape, linebreaks

from firstline.core.models import Partner
from firstline.mail.models import AckTemplate

DEFAULT_SIGNATURE = {
    "ru": "С уважением,\nслужба технической поддержки {partner}",
    "en": "Kind regards,\n{partner} technical support",
}
_PREFIXES = re.compile(
    r"^\s*(?:(?:re|fw|fwd|aw|wg|отв|ответ|пересл)\s*(?:\[\d+\])?\s*:\s*)+", re.IGNORECASE
)
_TAG = re.compile(r"\[\s*FL-?\d+(?:-[0-9A-Z]{4})?\s*\]", re.IGNORECASE)
_CYRILLIC = re.compile(r"[а-яё]", re.IGNORECASE)


def language_of(*texts: str) -> str:
    """The customer's language as far as letters go: Cyrillic → Russian, else English."""
    return "ru" if any(_CYRILLIC.search(text or "") for text in texts) else "en"


def strip_subject(subject: str) -> str:
    """'Re: [FL-000123] Fwd: нет FTP' -> 'нет FTP'."""
    text = _TAG.sub(" ", subject or "")
    previous = None
    while previous != text:
        previous = text
        text = _PREFIXES.sub("", text).strip()
    return " ".join(text.split())


def signature_template(partner: Partner, language: str) -> str:
    own = (
        AckTemplate.objects.filter(partner=partner, language=language)
        .values_list("signature", flat=True)
        .first()
    )
    return own or DEFAULT_SIGNATURE[language]


def signature(partner: Partner, language: str) -> str:
    """The partner's signature in that language, placeholders filled."""
    template = signature_template(partner, language)
    return template.replace("{partner}", partner.name).replace("{signature}", "")


def signed(body: str, html: str, sign: str) -> tuple[str, str]:
    """The letter's text and HTML with the signature below a standard "-- " line."""
    if not sign.strip():
        return body, html
    return f"{body.rstrip()}\n\n-- \n{sign}", f"{html}\n<p>-- <br>{linebreaks(escape(sign))}</p>"
