"""What the bot writes to the customer by itself, in the letter's language (ru/en).

Content in the customer's language, not UI strings: kept here beside the templates, as the
mail acknowledgement keeps its own (firstline.mail.autoreply).
"""

ACK_BODY = {
    "ru": (
        "Здравствуйте, {name}!\n\n"
        "Мы приняли в работу Ваш вопрос «{request}» и присвоили ему номер {number}. "
        "{deadline}\n\n"
        "Чтобы дополнить заявку, просто напишите в этот чат.\n\n"
        "{signature}"
    ),
    "en": (
        "Hello {name},\n\n"
        "We have taken your request “{request}” into work under number {number}. "
        "{deadline}\n\n"
        "To add anything, simply write to this chat.\n\n"
        "{signature}"
    ),
}
ASK_PHONE = {
    "ru": "Чтобы мы узнали Вас, нажмите «Отправить номер телефона» или напишите номер "
          "договора или кодовое слово.",
    "en": "So that we know who you are, press “Share my phone number” or write your contract "
          "number or code word.",
}
SHARE_BUTTON = {"ru": "Отправить номер телефона", "en": "Share my phone number"}
FILE_REFUSED = {
    "ru": "Файл «{name}» ({size}) не принят: {reason} Пожалуйста, пришлите его по почте "
          "или частями поменьше. Ваше сообщение передано в заявку {number}.",
    "en": "The file “{name}” ({size}) was not accepted: {reason} Please send it by e-mail or "
          "in smaller parts. Your message was added to ticket {number}.",
}
REASON_TOO_BIG = {
    "ru": "Telegram отдаёт ботам файлы не больше {limit}.",
    "en": "Telegram gives bots files of at most {limit}.",
}
REASON_OVER_LIMIT = {
    "ru": "файлы больше {limit} мы не принимаем.",
    "en": "we do not accept files over {limit}.",
}
REASON_FAILED = {
    "ru": "его не удалось получить от Telegram.",
    "en": "it could not be fetched from Telegram.",
}
NAMELESS = {"ru": "клиент", "en": "customer"}


UNITS = {"ru": ("МБ", "КБ", ","), "en": ("MB", "KB", ".")}


def size_text(size: int | None, language: str = "en") -> str:
    """«35,0 МБ» / "35.0 MB": a file's size as the reader writes it."""
    if size is None:
        return "?"
    megabytes, kilobytes, point = UNITS.get(language[:2], UNITS["en"])
    if size >= 1024 * 1024:
        return f"{size / 1024 / 1024:.1f}".replace(".", point) + f"\u00a0{megabytes}"
    return f"{max(1, round(size / 1024))}\u00a0{kilobytes}"
