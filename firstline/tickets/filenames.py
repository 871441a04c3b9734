"""Attachment names: the real name for people, a plain one for the storage path.

A customer's «Счёт №15 (март), итог.pdf» is shown and downloaded under that very name:
only what makes a name unsafe anywhere is taken out (directories, control characters,
bidirectional overrides that disguise an extension), it is NFC-normalised (macOS sends
decomposed letters) and its length bounded. The file on disk gets a separate, sanitised
name; downloads send the real one (RFC 6266/5987 `filename*`, which Django writes).
"""

import re
import unicodedata

MAX_NAME = 200  # characters; the model allows 255
MAX_STORAGE_NAME = 100
FALLBACK = "attachment"

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# A name that is a path: absolute, relative to "." / ".." / "~", or with a drive letter.
_PATH = re.compile(r"^(/|\.{1,2}/|~/|[A-Za-z]:)")
_NOT_IN_STORAGE_NAME = re.compile(r"[^-\w.]")
# Bidirectional overrides and invisible characters: "счёт\u202efdp.exe" shows as "счётexe.pdf".
_DISGUISE = re.compile(r"[\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def display_name(name: str | None, fallback: str = FALLBACK) -> str:
    """The real name, made safe to show and to send: never empty, never a path."""
    text = unicodedata.normalize("NFC", name or "")
    if _PATH.match(text) or "\\" in text:
        text = text.replace("\\", "/").rsplit("/", 1)[-1]  # "C:\\docs\\a.pdf", "../../a.pdf"
    text = text.replace("/", "_")  # "Отчёт 01/02.pdf": a date, not a directory
    text = _CONTROL.sub("", text)
    text = _DISGUISE.sub("_", text)
    text = " ".join(text.split()).strip(" .")
    if text.strip("_") == "":
        return fallback
    return _bounded(text, MAX_NAME)


def storage_name(name: str | None) -> str:
    """A name for the storage path only: letters, digits, '-', '_' and '.'."""
    # What django.utils.text.get_valid_filename keeps, without its refusal of an empty result.
    plain = _NOT_IN_STORAGE_NAME.sub("", display_name(name).replace(" ", "_")).strip("._")
    plain = plain or FALLBACK
    return _bounded(plain, MAX_STORAGE_NAME)


def _bounded(name: str, limit: int) -> str:
    if len(name) <= limit:
        return name
    stem, dot, extension = name.rpartition(".")
    if dot and 0 < len(extension) <= 16:
        return stem[: limit - len(extension) - 1].rstrip(" .") + "." + extension
    return name[:limit].rstrip(" .")
