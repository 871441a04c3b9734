"""The criteria of an acknowledgement (F3) and of a clarifying question (F16), as heuristics.

Each function answers one question about a `Document` and knows nothing about findings,
messages or blocking; `rules.check_reply` turns the answers into findings. Russian works on
lemmas and grammemes from pymorphy3, English on regular expressions over word forms.

What counts (the methodology's words in brackets):

- **Addressed by name** (обращение по имени): some word of the reply is a word of the
  customer's name in any case form («Иван», «Ивану», «Иван Петрович», «Сидорову»).
- **The customer's own words** (подтвердили понимание задачи словами клиента): the reply
  shares enough content words (lemmas) with the request: all of one or two, two of three
  or four, three of five or more. Without the request's text a quotation «…» or "your
  question about …" counts.
- **Maximum resolution time** (максимальное время решения): a number with a time unit
  («4 часа», «в течение 2 рабочих дней»), a clock time or date after «до», «к», «не
  позднее» («до 18:00», «до 20.03», «до 15 марта»), «в течение часа», «до конца рабочего
  дня», «до понедельника», «завтра до …»; or the seed's alternative, «мы уточняем
  информацию … и вскоре свяжемся с Вами»: a verb of finding out anywhere plus, in one
  sentence, a verb of getting back and a word for "soon".
- **A request** (просьба): a polite imperative («пришлите», «уточните»), «просим / прошу
  Вас», «не могли бы Вы», «будем благодарны», or a question to the customer ("?").
  «Нужно прислать логи» is a requirement, not a request.
- **A statement of absence** (констатация факта: «не вижу tracert в письме»): «не вижу»,
  «не нашли», «не получили», «Вы не приложили / не указали», «не указан», «отсутствует»,
  «не хватает», «нет» — the last three only next to what a customer sends (письмо,
  вложение, лог, tracert, номер…), so «нет доступа к FTP» is not one. Conditions and
  questions («если в письме нет вложения», «Вы не получили письмо?») are not statements.
- **What the customer gains** (какая польза клиенту): a purpose or result clause —
  «чтобы», «это поможет / позволит / ускорит», «так / тогда мы сможем …», «и мы сразу …»,
  «быстрее», «для скорейшего решения». «Для диагностики» alone is our purpose, not theirs.
"""

from __future__ import annotations

import re
from functools import lru_cache

from firstline.quality.morphology import Analysis, Token, analyse, normalise, tokenize
from firstline.quality.rules_text import Document

# --- Names ---------------------------------------------------------------------------------

NAME_TAGS = frozenset({"Name", "Surn", "Patr"})
NOT_NAMES = frozenset({
    "ооо", "оао", "зао", "пао", "ао", "ип", "господин", "госпожа", "уважаемый",
    "mr", "mrs", "ms", "miss", "dr", "sir", "madam", "ltd", "llc", "inc", "gmbh",
})


@lru_cache(maxsize=4096)
def name_keys(customer_name: str, language: str) -> tuple[frozenset[str], str]:
    """Word forms and lemmas that address the customer, and how to address them.

    The second item is the address to suggest: first name and patronymic when the name
    has them («Иван Петрович» of «Сидоров Иван Петрович»), else the first word.
    """
    keys: set[str] = set()
    words = [t for t in tokenize(customer_name, language)
             if len(t.norm) > 1 and t.norm.isalpha() and t.norm not in NOT_NAMES]
    for token in words:
        keys.add(token.norm)
        named = [p for p in token.analysis.parses if p.grammemes & NAME_TAGS]
        keys.update(p.lemma for p in (named or token.analysis.parses))
    if not words:
        return frozenset(keys), ""

    def likelihood(token: Token, grammeme: str) -> float:
        return max((p.score for p in token.analysis.parses if grammeme in p.grammemes),
                   default=0.0)

    # «Сидоров» may be the plural of «Сидор», but «Иван» is surely a first name.
    first = max(words, key=lambda t: likelihood(t, "Name"))
    if likelihood(first, "Name") == 0.0:
        return frozenset(keys), words[0].text
    others = [t for t in words if t is not first and likelihood(t, "Patr") > 0.0]
    patronymic = max(others, key=lambda t: likelihood(t, "Patr"), default=None)
    address = first.text if patronymic is None else f"{first.text} {patronymic.text}"
    return frozenset(keys), address


def addresses_by_name(doc: Document, keys: frozenset[str]) -> bool:
    return any(token.norm in keys or token.lemmas & keys for token in doc.tokens)


# --- The customer's own words --------------------------------------------------------------

CONTENT_POS = frozenset({
    "NOUN", "ADJF", "ADJS", "COMP", "VERB", "INFN", "PRTF", "PRTS", "GRND", "ADVB", "NUMR",
    "LATN", "NUMB", "UNKN", "ROMN",
})
STOP_RU = frozenset({
    "быть", "мочь", "смочь", "хотеть", "нужно", "нужный", "надо", "просить", "помочь",
    "помогать", "помощь", "подсказать", "сделать", "здравствовать", "здравствуйте", "добрый",
    "день", "вечер", "утро", "спасибо", "пожалуйста", "заранее", "вопрос", "обращение",
    "заявка", "запрос", "очень", "снова", "опять", "уже", "еще", "также", "так", "как",
    "весь", "все", "это", "этот", "тот", "такой", "свой", "наш", "ваш", "мой", "нет",
    "почему", "когда", "где", "который", "сейчас", "теперь", "тоже", "вообще", "срочно",
})
STOP_EN = frozenset({
    "a", "an", "the", "and", "or", "but", "to", "of", "in", "on", "at", "for", "from", "with",
    "by", "about", "is", "are", "was", "were", "be", "been", "do", "does", "did", "not", "no",
    "can", "could", "will", "would", "should", "may", "might", "must", "have", "has", "had",
    "i", "we", "you", "he", "she", "it", "they", "me", "us", "my", "our", "your", "its",
    "their", "this", "that", "these", "those", "there", "here", "please", "hello", "hi",
    "thanks", "thank", "help", "need", "want", "since", "very", "so", "just", "also", "again",
    "urgent", "urgently", "'s", "'re", "'m", "'ve", "'ll", "'d", "get", "got", "how", "what",
    "why", "when", "where", "which", "who", "request", "question", "issue", "problem", "still",
})


def _is_content(analysis: Analysis, norm: str, language: str) -> bool:
    if language == "en":
        return len(norm) > 1 and norm not in STOP_EN and not (analysis.lemmas & STOP_EN)
    top = analysis.top
    if top.lemma in STOP_RU or norm in STOP_RU:
        return False
    return bool(top.grammemes & CONTENT_POS) and (len(norm) > 1 or norm.isdigit())


def _forms(token: Token, language: str) -> frozenset[str]:
    """A word's form and lemmas, and those of its parts: «SSL-сертификата» is also «SSL»
    and «сертификат», so it meets «SSL сертификат» written apart."""
    forms = token.lemmas | {token.norm}
    if "-" in token.norm:
        for part in token.norm.split("-"):
            if part:
                forms |= analyse(part, language).lemmas | {part}
    return forms


@lru_cache(maxsize=4096)
def content_items(words: str, language: str) -> tuple[frozenset[str], ...]:
    """The distinct content words of the customer's request, each as its forms and lemmas."""
    items: dict[frozenset[str], None] = {}
    for token in tokenize(words, language):
        if _is_content(token.analysis, token.norm, language):
            items[_forms(token, language)] = None
    return tuple(items)


def needed_overlap(count: int) -> int:
    return 1 if count == 1 else 2 if count <= 4 else 3


TOPIC = {
    "ru": re.compile(
        r"\b(?:вопрос|обращени|заявк|запрос|просьб)\w*\s*(?::\s*|(?:о|об|обо|по|про|на|насчет"
        r"|касательно|по поводу)\s+)[^\W\d_]"
    ),
    "en": re.compile(
        r"\b(?:request|ticket|question|report|message|e-?mail|inquiry|enquiry)s?\s*"
        r"(?::\s*|(?:about|regarding|concerning|on|to|for|that)\s+)[^\W\d_]"
    ),
}


def restates_request(doc: Document, customer_words: str) -> bool:
    items = content_items(customer_words, doc.language)
    if items:
        pool: set[str] = set()
        for token in doc.tokens:
            pool |= _forms(token, doc.language)
        shared = sum(1 for item in items if item & pool)
        return shared >= needed_overlap(len(items))
    # Without the request's text: a quotation of some words, or "your question about …".
    for index, token in enumerate(doc.tokens):
        if doc.quoted[index] and _is_content(token.analysis, token.norm, doc.language):
            return True
    return TOPIC[doc.language].search(doc.low) is not None


# --- Maximum resolution time ---------------------------------------------------------------

_NUM_RU = (
    r"(?:\d+(?:[.,]\d+)?|одн\w*|один|полтор\w*|дв\w*|тр\w*|четыр\w*|пят\w*|шест\w*|сем\w*"
    r"|восьм\w*|девят\w*|десят\w*|двенадцат\w*|пятнадцат\w*|двадцат\w*|тридцат\w*|сорок\w*)"
)
_UNIT_RU = r"(?:минут\w*|мин\b\.?|час\w*|ч\b\.?|сут\w*|дн(?:я|ей|ям|ях)\b|день\b|недел\w*)"
_MONTHS_RU = (
    r"(?:январ|феврал|март|апрел|ма[яе]|июн|июл|август|сентябр|октябр|ноябр|декабр)\w*"
)
_WEEKDAYS_RU = r"(?:понедельник|вторник|сред|четверг|пятниц|суббот|воскресень)\w*"
DEADLINE_RU = re.compile(
    rf"\b{_NUM_RU}(?:\s*[-–—]\s*{_NUM_RU})?(?:-?х)?\s+(?:(?:рабоч|календарн|астрономическ)\w*\s+)?"
    rf"{_UNIT_RU}"
    rf"|\bв\s+течени[еи]\s+(?:\w+\s+){{0,2}}?(?:часа|получаса|минут\w*|суток|дня|недели|смены)\b"
    rf"|\b(?:до|к|не\s+позднее|не\s+позже|ориентировочно\s+в|в)\s+\d{{1,2}}[:.]\d{{2}}\b(?!\.\d)"
    rf"|\b(?:до|к|не\s+позднее|не\s+позже|по)\s+\d{{1,2}}(?:\.\d{{1,2}}(?:\.\d{{2,4}})?|\s+{_MONTHS_RU})"
    rf"|\b(?:до|к|не\s+позднее|не\s+позже)\s+\d{{1,2}}\s+час"
    rf"|\b(?:до|к)\s+(?:конц[ау]|окончани[яю]|завершени[яю])\s+(?:\w+\s+)?(?:дня|недели|смены|суток)"
    rf"|\b(?:до|к)\s+(?:завтра|вечера|утра|обеда|полудня|{_WEEKDAYS_RU})"
    rf"|\b(?:завтра|сегодня)\s+(?:до|к|в\s+течение|утром|днем|вечером|в\s+первой\s+половине)"
    rf"|\bсрок\w*(?:\s+решения)?\s*(?:[—–:-]|это)\s*\d"
)
DEADLINE_EN = re.compile(
    r"\b(?:\d+(?:\.\d+)?|one|two|three|four|five|six|eight|ten|twelve|twenty-four|forty-eight"
    r"|a|an|half\s+an)\s*(?:-|to)?\s*(?:\d+\s+)?(?:business\s+|working\s+|calendar\s+)?"
    r"(?:minutes?|mins?|hours?|hrs?|days?|weeks?)\b"
    r"|\bwithin\s+(?:the\s+)?(?:next\s+)?(?:hour|day|business\s+day|working\s+day|week)\b"
    r"|\b(?:by|before|until|no\s+later\s+than)\s+(?:\d{1,2}(?::\d{2})?\s*(?:am|pm|a\.m\.|p\.m\.)"
    r"|\d{1,2}:\d{2}|noon|midnight|tomorrow|tonight|today|monday|tuesday|wednesday|thursday"
    r"|friday|saturday|sunday|(?:the\s+)?end\s+of\s+(?:the\s+)?(?:\w+\s+)?(?:day|week)"
    r"|eod|cob|close\s+of\s+business|\d{1,2}[./]\d{1,2}"
    r"|(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)\w*\s+\d{1,2}"
    r"|\d{1,2}(?:st|nd|rd|th)?\s+(?:of\s+)?(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec))"
    r"|\blater\s+today\b"
)
CLARIFYING = {
    "ru": re.compile(
        r"\b(?:уточн|выясн|провер|изуча|разбира|анализ|собира|запрашива|диагностир)\w*"
    ),
    "en": re.compile(
        r"\b(?:looking\s+into|look\s+into|checking|clarifying|investigating|verifying"
        r"|confirming|finding\s+out|gathering|analy[sz]ing)\b"
    ),
}
CONTACT = {
    "ru": re.compile(
        r"\b(?:свяж|сообщ|напиш|вернем|вернусь|информир|ответ|извест|отпиш|дадим\s+знать"
        r"|дам\s+знать|пришлем|пришлю)\w*"
    ),
    "en": re.compile(
        r"\b(?:get\s+back|contact|update|let\s+you\s+know|reach\s+out|follow\s+up|be\s+in\s+touch"
        r"|come\s+back|write\s+to\s+you|reply|respond|inform)\w*"
    ),
}
SOON = {
    "ru": re.compile(
        r"\b(?:вскоре|скоро|в\s+ближайшее\s+время|как\s+только|сразу|оперативно"
        r"|незамедлительно|в\s+кратчайш\w+\s+срок\w*)"
    ),
    "en": re.compile(
        r"\b(?:shortly|soon|as\s+soon\s+as|promptly|right\s+away|asap|without\s+delay)\b"
    ),
}


def states_deadline(doc: Document, resolution_text: str) -> bool:
    pattern = DEADLINE_RU if doc.language == "ru" else DEADLINE_EN
    if pattern.search(doc.low):
        return True
    wanted = " ".join(normalise(resolution_text).split())
    if wanted and wanted in " ".join(doc.low.split()):
        return True
    # «Мы уточняем информацию по Вашему вопросу и вскоре свяжемся с Вами.»
    if not CLARIFYING[doc.language].search(doc.low):
        return False
    for index in range(len(doc.sentences)):
        sentence = doc.sentence_text(index)
        if CONTACT[doc.language].search(sentence) and SOON[doc.language].search(sentence):
            return True
    return False


# --- Requests ------------------------------------------------------------------------------

# Imperatives that do not ask the customer for anything.
NOT_REQUESTS_RU = frozenset({
    "здравствовать", "извинить", "простить", "обратить", "учесть", "волноваться",
    "беспокоиться", "ожидать", "ждать", "давать", "смочь", "благодарить",
})
REQUEST_RU = re.compile(
    r"\b(?:просим|прошу|просьба|будем\s+(?:благодарны|признательны)|буду\s+(?:благодарен|"
    r"благодарна|признателен|признательна)|не\s+могли\s+бы|могли\s+бы\s+вы|вас\s+не\s+затруднит)"
)
REQUEST_EN = re.compile(
    r"\b(?:please|kindly|could\s+you|would\s+you|can\s+you|will\s+you|would\s+you\s+mind"
    r"|we(?:'d|\s+would)\s+(?:appreciate|be\s+grateful)|let\s+(?:us|me)\s+know)\b"
)
IMPERATIVE_EN = frozenset({
    "send", "attach", "provide", "run", "check", "confirm", "tell", "share", "specify",
    "forward", "reply", "try", "make", "describe", "include", "paste", "copy", "upload", "open",
    "go", "log", "restart", "clear", "verify", "add", "export", "take", "give", "answer",
    "write", "enter", "select", "click", "reset", "update", "install", "email", "call",
})


def _is_polite_imperative(doc: Document, index: int) -> bool:
    """«Пришлите», «уточните, пожалуйста»; but not «Вы заходите»: «уточните», «сообщите»,
    «заходите» are also the indicative, which is what they are after «вы»."""
    analysis = doc.tokens[index].analysis
    if not any(
        {"impr", "plur", "excl"} <= p.grammemes and p.score >= 0.1
        and p.lemma not in NOT_REQUESTS_RU
        for p in analysis.parses
    ):
        return False
    if not analysis.has("indc"):
        return True
    before = range(max(0, index - 2), index)
    return not any(
        doc.tokens[j].norm == "вы" and doc.sentence_of[j] == doc.sentence_of[index]
        for j in before
    )


def _ends_with_question(doc: Document, index: int) -> bool:
    start, end = doc.sentences[index]
    return doc.text[start:end].rstrip().endswith("?")


def has_request(doc: Document) -> bool:
    for index in range(len(doc.sentences)):
        if _ends_with_question(doc, index):
            return True
        sentence = doc.sentence_text(index)
        if doc.language == "ru":
            if REQUEST_RU.search(sentence):
                return True
            if any(
                not doc.quoted[i] and _is_polite_imperative(doc, i)
                for i in doc.sentence_tokens(index)
            ):
                return True
        else:
            if REQUEST_EN.search(sentence):
                return True
            words = [doc.tokens[i].norm for i in doc.sentence_tokens(index) if not doc.quoted[i]]
            # An imperative opens the sentence: "Send it.", "Also, attach the log."
            for word in words[:3]:
                if word in IMPERATIVE_EN:
                    return True
                if word not in {"also", "then", "now", "first", "next", "finally", "and"}:
                    break
    return False


# --- Statements of absence -----------------------------------------------------------------

NEGATION_RU = frozenset({"не"})
PERCEIVE_RU = frozenset({
    "видеть", "увидеть", "видно", "найти", "находить", "обнаружить", "обнаруживать",
    "получить", "получать", "наблюдать", "нашлось", "найтись",
})
SENT_RU = frozenset({
    "приложить", "прикладывать", "прислать", "присылать", "указать", "указывать",
    "прикрепить", "прикреплять", "отправить", "отправлять", "предоставить", "предоставлять",
    "направить", "направлять", "вложить", "добавить", "сообщить", "написать",
})
ABSENT_RU = frozenset({"отсутствовать", "отсутствие"})
SHORTAGE_RU = frozenset({"хватать", "доставать"})
DATA_RU = frozenset({
    "письмо", "вложение", "приложение", "обращение", "заявка", "сообщение", "лог", "логи",
    "журнал", "tracert", "traceroute", "mtr", "трассировка", "скриншот", "снимок", "файл",
    "вывод", "номер", "данные", "информация", "сведение", "договор", "пример", "заголовок",
    "ping", "результат", "архив", "описание", "подробность", "деталь", "база",
})
CONDITIONAL_RU = re.compile(r"\b(?:если|ли|когда|пока)\b")
FIRST_PERSON_RU = frozenset({"я", "мы"})

ABSENCE_EN = re.compile(
    r"\b(?:i|we)(?:\s+\w+)?\s+(?:do\s+not|don't|did\s+not|didn't|cannot|can't|can\s+not"
    r"|could\s+not|couldn't|have\s+not|haven't)\s+(?:\w+\s+)?(?:see|find|locate|spot|have"
    r"|get|receive|received|found|seen|got)\b"
    r"|\byou\s+(?:did\s+not|didn't|have\s+not|haven't|forgot\s+to|failed\s+to|neglected\s+to)"
    r"\s+(?:\w+\s+)?(?:attach|send|include|provide|specify|add|mention|give|share|sent"
    r"|attached|included|provided|specified|added|mentioned|given|shared)\b"
    r"|\b(?:is|are|was|were|seems\s+to\s+be|seem\s+to\s+be|appears\s+to\s+be)\s+missing\b"
    r"|\bmissing\s+from\b"
    r"|\bthere\s+(?:is|are|was|were|'s)\s+no\s+(?:\w+\s+){0,2}?(?:attach|log|trace|tracert|mtr"
    r"|screenshot|file|output|detail|information|data|header|number)\w*"
    r"|\bno\s+(?:\w+\s+)?(?:logs?|attachments?|traceroute|screenshots?|files?|output)\s+"
    r"(?:was\s+|were\s+)?(?:attached|included|provided|sent)"
    r"|\b(?:email|message|request|ticket|letter)\s+(?:did\s+not|didn't|does\s+not|doesn't)\s+"
    r"(?:include|contain|have)\b"
)
CONDITIONAL_EN = re.compile(r"\b(?:if|whether|unless|when)\b")


def _absence_in_ru_sentence(doc: Document, index: int) -> bool:
    positions = [i for i in doc.sentence_tokens(index) if not doc.quoted[i]]
    lemmas = [doc.tokens[i].analysis for i in positions]
    has_data = any(a.lemmas & DATA_RU for a in lemmas) or any(
        doc.tokens[i].norm in DATA_RU for i in positions
    )
    for k, analysis in enumerate(lemmas):
        norm = doc.tokens[positions[k]].norm
        if analysis.lemmas & ABSENT_RU and has_data:
            return True
        if norm == "нет" and has_data:
            return True
        if norm not in NEGATION_RU:
            continue
        following = lemmas[k + 1 : k + 3]
        if following and following[0].lemmas & SHORTAGE_RU and has_data:
            return True
        before = {doc.tokens[positions[j]].norm for j in range(max(0, k - 2), k)}
        for step, after in enumerate(following):
            if after.lemmas & PERCEIVE_RU:
                return True
            if after.lemmas & SENT_RU and not before & FIRST_PERSON_RU and (
                after.has("past") or after.has("2per") or after.has("PRTS")
            ):
                return True
            # «не удалось найти», «не можем найти»: one word may stand between.
            if step == 0 and not after.lemmas & {"удаться", "получиться", "мочь", "смочь"}:
                break
    return False


def statements_of_absence(doc: Document) -> list[tuple[int, int]]:
    """Spans of the sentences that state what is missing instead of asking for it."""
    found = []
    for index, (start, end) in enumerate(doc.sentences):
        if _ends_with_question(doc, index):
            continue
        sentence = doc.sentence_text(index)
        if doc.language == "ru":
            if CONDITIONAL_RU.search(sentence):
                continue
            hit = _absence_in_ru_sentence(doc, index)
        else:
            if CONDITIONAL_EN.search(sentence):
                continue
            hit = any(
                not doc.in_quote(start + match.start())
                for match in ABSENCE_EN.finditer(sentence)
            )
        if hit:
            found.append((start, end))
    return found


# --- What the customer gains ---------------------------------------------------------------

BENEFIT = {
    "ru": re.compile(
        r"\b(?:чтобы|чтоб|дабы)\b"
        r"|\b(?:поможет|помогут|позволит|позволят|ускорит|упростит|сократит|сэкономит)\b"
        r"|\b(?:так|тогда)\s+(?:мы|я|вы)\b"
        r"|\bи\s+(?:мы|я)\s+(?:сразу|сможем|смогу|быстрее|скорее|оперативно)"
        r"|\bс\s+(?:его|ее|их)\s+помощью\b|\bблагодаря\s+(?:этому|этим|ему|ей|им)\b"
        r"|\b(?:с|по)\s+(?:ним|ней|нему|ними|этим|этой|этими)\s+(?:мы|я)\b"
        r"|(?<!можно\s)\b(?:быстрее|скорее|оперативнее)\b"
        r"|\bускор\w*|\bдля\s+(?:скорейш|быстр|оперативн|точн)\w+"
    ),
    "en": re.compile(
        r"\b(?:so\s+that|so\s+(?:we|i|you)\s+can|in\s+order\s+to|that\s+way|this\s+way"
        r"|with\s+(?:that|this|it|them)(?:\s+\w+)?,?\s+(?:we|i)\s+(?:can|will|'ll|could)"
        r"|(?:this|that|it)\s+(?:will|would|should|can|may)\s+(?:help|let|allow|speed)"
        r"|this\s+helps|which\s+(?:will|would)\s+(?:help|let|allow)"
        r"|(?:will|would)\s+(?:let|allow|help)\s+us|to\s+help\s+us|to\s+speed\s+up"
        r"|(?<!as\s)(?:faster|quicker|sooner))\b"
    ),
}


def says_benefit(doc: Document) -> bool:
    matches = BENEFIT[doc.language].finditer(doc.low)
    return any(not doc.in_quote(match.start()) for match in matches)
