"""The Russian translation: complete, compiled from the current .po, and served to Russian users.

The .mo is kept in the repository (machines without gettext still show Russian), so these
tests catch a .po edited without compiling, an untranslated or fuzzy entry, and a page
that stays English for a Russian browser.
"""

import ast
import gettext
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import translation

LOCALE = Path(__file__).resolve().parent.parent / "firstline" / "locale" / "ru" / "LC_MESSAGES"
PO = LOCALE / "django.po"
MO = LOCALE / "django.mo"

KEYWORD = re.compile(r'^(msgctxt|msgid_plural|msgid|msgstr(?:\[\d+\])?)\s+(".*")$')


@dataclass
class Entry:
    flags: set[str] = field(default_factory=set)
    fields: dict[str, str] = field(default_factory=dict)
    obsolete: bool = False

    @property
    def msgid(self) -> str:
        return self.fields["msgid"]

    @property
    def context(self) -> str | None:
        return self.fields.get("msgctxt")

    def translations(self) -> list[str]:
        return [value for key, value in self.fields.items() if key.startswith("msgstr")]


def parse_po(path: Path) -> list[Entry]:
    """Entries of a .po file, header included; enough of the format for our own catalogue."""
    entries: list[Entry] = []
    entry, last = Entry(), None
    for line in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        line = line.strip()
        if not line:
            if entry.fields:
                entries.append(entry)
            entry, last = Entry(), None
        elif line.startswith("#~"):
            entry.obsolete = True
        elif line.startswith("#,"):
            entry.flags |= {flag.strip() for flag in line[2:].split(",")}
        elif line.startswith("#"):
            continue
        elif match := KEYWORD.match(line):
            last = match.group(1)
            entry.fields[last] = ast.literal_eval(match.group(2))
        elif line.startswith('"') and last is not None:
            entry.fields[last] += ast.literal_eval(line)
        else:
            raise AssertionError(f"unexpected line in {path.name}: {line!r}")
    return entries


@pytest.fixture(autouse=True)
def keep_active_language():
    """A request in Russian leaves Russian active in the thread; later tests expect English."""
    language = translation.get_language()
    yield
    translation.activate(language)


def messages() -> list[Entry]:
    return [entry for entry in parse_po(PO) if entry.msgid and not entry.obsolete]


def label(entry: Entry) -> str:
    return f"{entry.context}|{entry.msgid}" if entry.context else entry.msgid


def test_every_message_is_translated_and_none_is_fuzzy():
    entries = parse_po(PO)
    header = next(entry for entry in entries if entry.msgid == "")
    assert "fuzzy" not in header.flags
    assert "Language: ru" in header.fields["msgstr"]
    assert "nplurals=3" in header.fields["msgstr"]
    found = messages()
    assert len(found) > 200
    untranslated = [label(e) for e in found if not all(s.strip() for s in e.translations())]
    fuzzy = [label(e) for e in found if "fuzzy" in e.flags]
    short_plurals = [label(e) for e in found if "msgid_plural" in e.fields
                     and len(e.translations()) != 3]
    assert untranslated == []
    assert fuzzy == []
    assert short_plurals == []


def test_placeholders_are_kept():
    placeholder = re.compile(r"%\(\w+\)[sdif]|\{\{\s*\w+\s*\}\}")
    broken = [
        label(entry) for entry in messages()
        for text in entry.translations()
        if sorted(set(placeholder.findall(text)))
        != sorted(set(placeholder.findall(entry.fields.get("msgid_plural", entry.msgid))))
    ]
    assert broken == []


def lookup(catalogue: gettext.GNUTranslations, entry: Entry, n: int | None = None) -> str:
    plural = entry.fields.get("msgid_plural")
    if plural is None:
        if entry.context:
            return catalogue.pgettext(entry.context, entry.msgid)
        return catalogue.gettext(entry.msgid)
    if entry.context:
        return catalogue.npgettext(entry.context, entry.msgid, plural, n)
    return catalogue.ngettext(entry.msgid, plural, n)


def test_compiled_catalogue_matches_the_po():
    with MO.open("rb") as handle:
        catalogue = gettext.GNUTranslations(handle)
    stale = []
    for entry in messages():
        if "msgid_plural" in entry.fields:
            # 1 заявка, 3 заявки, 5 заявок: one number for each Russian plural form.
            expected = [(n, entry.fields[f"msgstr[{index}]"]) for index, n in enumerate((1, 3, 5))]
        else:
            expected = [(None, entry.fields["msgstr"])]
        if any(lookup(catalogue, entry, n) != text for n, text in expected):
            stale.append(label(entry))
    assert stale == [], "django.mo is out of date: run compilemessages"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "expected", "absent"),
    [("ru", "Войти", "Sign in"), ("en", "Sign in", "Войти")],
)
def test_sign_in_page_speaks_the_browser_language(client, language, expected, absent):
    response = client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200
    page = response.content.decode()
    assert f'lang="{language}"' in page
    assert expected in page
    assert absent not in page


@pytest.mark.django_db
def test_language_cookie_wins_over_the_browser(client, settings):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "ru"
    page = client.get("/login/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Вход в firstline" in page
