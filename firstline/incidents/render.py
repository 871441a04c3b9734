"""An announcement rendered into a letter (and a short SMS form) in ru or en.

Like the acknowledgement (firstline.mail.autoreply), the letter's fixed words are content in
the recipient's language, not UI strings: they live here, per language, not in the .po
files. Times are shown in the announcement's time zone, which is named.
"""

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from firstline.incidents.models import Announcement, AnnouncementTemplate
from firstline.mail.text import signature

PLACEHOLDER = re.compile(r"\{(\w*)\}")
# What each part of a partner's template may say, and must.
PLACEHOLDERS = {
    "subject": ({"partner", "services"}, set()),
    "body": ({"parts", "partner", "services", "signature"}, {"parts"}),
    "sms": ({"partner", "services", "when"}, {"services", "when"}),
}

WORDS: dict[str, dict[str, str]] = {
    "ru": {
        "incident": "Массовый инцидент",
        "recovery": "Работа сервиса восстановлена",
        "planned": "Плановые работы",
        "began": "Дата и время возникновения",
        "service_full": "Полностью недоступна услуга",
        "service_partial": "Частично недоступна услуга",
        "expected_fix": "Ожидаемое время устранения",
        "workaround": "Обходной путь",
        "interval": "Дата и интервал времени",
        "services": "Затронутые услуги",
        "symptoms_recovery": "Симптомы недоступности",
        "symptoms_planned": "Что будет недоступно",
        "cause": "Причина",
        "duration": "Продолжительность недоступности",
        "measures": "Меры против повторения",
        "how_to_check": "Как проверить работу сервиса",
        "support_contacts": "Контакты поддержки",
        "purpose": "Зачем проводятся работы",
        "still_available": "Что останется доступным",
        "minutes": "мин",
        "unsubscribe": "Отписаться от рассылки",
        "hello": "Здравствуйте!",
    },
    "en": {
        "incident": "Service incident",
        "recovery": "Service restored",
        "planned": "Planned works",
        "began": "Began",
        "service_full": "Fully unavailable",
        "service_partial": "Partly unavailable",
        "expected_fix": "Expected fix",
        "workaround": "Workaround",
        "interval": "Date and time interval",
        "services": "Affected services",
        "symptoms_recovery": "Symptoms",
        "symptoms_planned": "What will be unavailable",
        "cause": "Cause",
        "duration": "Duration of the unavailability",
        "measures": "Measures against recurrence",
        "how_to_check": "How to check the service",
        "support_contacts": "Support contacts",
        "purpose": "Why the works are done",
        "still_available": "What stays available",
        "minutes": "min",
        "unsubscribe": "Unsubscribe from announcements",
        "hello": "Hello,",
    },
}


def when(moment: datetime | None, zone: str) -> str:
    if moment is None:
        return "—"
    local = moment.astimezone(ZoneInfo(zone or "UTC"))
    return f"{local:%d.%m.%Y %H:%M} ({zone})"


def interval(start: datetime | None, end: datetime | None, zone: str) -> str:
    if start is None or end is None:
        return "—"
    zone_info = ZoneInfo(zone or "UTC")
    left, right = start.astimezone(zone_info), end.astimezone(zone_info)
    right_text = f"{right:%H:%M}" if right.date() == left.date() else f"{right:%d.%m.%Y %H:%M}"
    return f"{left:%d.%m.%Y %H:%M}–{right_text} ({zone})"


def duration_minutes(announcement: Announcement) -> int | None:
    if announcement.period_start is None or announcement.period_end is None:
        return None
    return int((announcement.period_end - announcement.period_start).total_seconds() // 60)


def own_template(announcement: Announcement, language: str) -> AnnouncementTemplate | None:
    """The partner's wording of this kind in this language, if it has one."""
    return (AnnouncementTemplate.objects
            .filter(partner_id=announcement.partner_id, kind=announcement.kind,
                    language=language).first())


def fill(template: str, values: dict[str, str]) -> str:
    """Put the values in the {placeholders} (the template was checked on save)."""
    return PLACEHOLDER.sub(lambda found: values.get(found.group(1), found.group(0)), template)


def subject(announcement: Announcement, language: str, service_names: list[str],
            template: AnnouncementTemplate | None | bool = False) -> str:
    words = WORDS.get(language, WORDS["ru"])
    own = own_template(announcement, language) if template is False else template
    if isinstance(own, AnnouncementTemplate):
        return fill(own.subject, {"partner": announcement.partner.name,
                                  "services": ", ".join(service_names)})[:300]
    return f"{words[announcement.kind]}: {', '.join(service_names)}"


def body(announcement: Announcement, language: str, service_names: list[str],
         template: AnnouncementTemplate | None | bool = False) -> str:
    """The letter: every part the kind has, in the seed's order, and the signature; in the
    partner's own wording around the parts when it has a template for the kind and
    language (`template`: one already read, or None for the default wording)."""
    words = WORDS.get(language, WORDS["ru"])
    zone = announcement.time_zone
    names = ", ".join(service_names)
    lines: list[tuple[str, str]] = []
    if announcement.kind == "incident":
        impact = "service_full" if announcement.impact == "full" else "service_partial"
        lines += [(words["began"], when(announcement.began_at, zone)),
                  (words[impact], names),
                  (words["expected_fix"], when(announcement.expected_fix_at, zone))]
        if announcement.workaround.strip():
            lines.append((words["workaround"], announcement.workaround))
    elif announcement.kind == "recovery":
        lines += [(words["interval"], interval(announcement.period_start,
                                               announcement.period_end, zone)),
                  (words["services"], names),
                  (words["symptoms_recovery"], announcement.symptoms),
                  (words["cause"], announcement.cause),
                  (words["duration"], f"{duration_minutes(announcement)} {words['minutes']}"),
                  (words["measures"], announcement.measures),
                  (words["how_to_check"], announcement.how_to_check),
                  (words["support_contacts"], announcement.support_contacts)]
    else:
        lines += [(words["purpose"], announcement.purpose),
                  (words["interval"], interval(announcement.period_start,
                                               announcement.period_end, zone)),
                  (words["services"], names),
                  (words["symptoms_planned"], announcement.symptoms),
                  (words["still_available"], announcement.still_available),
                  (words["support_contacts"], announcement.support_contacts),
                  (words["how_to_check"], announcement.how_to_check)]
    text = "\n".join(f"{label}: {value.strip()}" for label, value in lines)
    sign = signature(announcement.partner, language)
    own = own_template(announcement, language) if template is False else template
    if isinstance(own, AnnouncementTemplate):
        return fill(own.body, {"parts": text, "partner": announcement.partner.name,
                               "services": names, "signature": sign}).strip()
    return f"{words['hello']}\n\n{text}\n\n-- \n{sign}"


def sms(announcement: Announcement, language: str, service_names: list[str],
        template: AnnouncementTemplate | None | bool = False) -> str:
    """The short form: kind, services and the one moment that matters most (in the
    partner's wording when its template has an SMS form)."""
    words = WORDS.get(language, WORDS["ru"])
    zone = announcement.time_zone
    moment = {
        "incident": f"{words['expected_fix']}: {when(announcement.expected_fix_at, zone)}",
        "recovery": interval(announcement.period_start, announcement.period_end, zone),
        "planned": interval(announcement.period_start, announcement.period_end, zone),
    }[announcement.kind]
    own = own_template(announcement, language) if template is False else template
    if isinstance(own, AnnouncementTemplate) and own.sms.strip():
        return fill(own.sms, {"partner": announcement.partner.name,
                              "services": ", ".join(service_names), "when": moment})[:300]
    return f"{announcement.partner.name}. {words[announcement.kind]}: " \
           f"{', '.join(service_names)}. {moment}"[:300]
