"""The wild classes' rules never raise and keep their promises on any input: mutated wild
letters, address lists, texts to fold, bytes to decode, attachment names."""

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from firstline.mail.parsing import parse
from firstline.mail.parsing_charsets import decode_bytes, decode_iso2022_jp
from firstline.mail.parsing_headers import parse_addresses, valid_addr_spec
from firstline.mail.parsing_quotes import fold
from firstline.tickets.filenames import MAX_NAME, display_name, storage_name
from tests.test_mail_parsing_properties import FUZZ, check

WILD = Path(__file__).resolve().parent / "data" / "mail" / "wild"
LETTERS = [path.read_bytes() for path in sorted(WILD.glob("*.eml"))]
ADDRESS_PIECES = ["<", ">", ",", ";", ":", "@", '"', " ", ".", "(", ")", "\\", "=?utf-8?Q?",
                  "?=", "=?iso-8859-1?Q?B=FCrling,=20A?=", "ivan", "example.ru", "Иван", "\t"]
TEXT_PIECES = ["\n", "> ", "-- \n", "-------- Пересылаемое сообщение --------\n",
               "-----Original Message-----\n", "From: a\nSent: b\nTo: c\nSubject: d\n",
               "On Mon, 3 Mar 2025 Ivan <i@x.ru> wrote:\n", "Привет ", "Sent from my iPhone\n",
               "Begin forwarded message:\n", "____________\n"]


@st.composite
def mutated(draw) -> bytes:
    data = bytearray(draw(st.sampled_from(LETTERS)))
    for _ in range(draw(st.integers(min_value=1, max_value=8))):
        position = draw(st.integers(min_value=0, max_value=max(0, len(data) - 1)))
        action = draw(st.sampled_from(["flip", "insert", "delete"]))
        if action == "flip" and data:
            data[position] = draw(st.integers(min_value=0, max_value=255))
        elif action == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=16))
        elif data:
            del data[position:position + draw(st.integers(min_value=1, max_value=64))]
    return bytes(data)


@FUZZ
@given(mutated())
def test_mutated_wild_letters_never_raise(raw: bytes):
    check(parse(raw))


@FUZZ
@given(st.lists(st.sampled_from(ADDRESS_PIECES) | st.text(max_size=6), max_size=30))
def test_an_address_list_is_read_without_raising_and_every_address_is_valid(pieces):
    problems: list[str] = []
    for address in parse_addresses("".join(pieces), (), problems):
        assert address.email == "" or valid_addr_spec(address.email)
        assert " " not in address.email and not address.email.endswith(".")


@FUZZ
@given(st.lists(st.sampled_from(TEXT_PIECES) | st.text(max_size=20), max_size=40),
       st.sampled_from(["", "Fwd: x", "RE: x", "ПЕРЕСЛ: x", "Re: Fwd: x"]))
def test_folding_never_raises_and_never_leaves_an_operator_nothing(pieces, subject):
    text = "".join(pieces)
    folded = fold(text, subject)
    assert bool(folded.strip()) == bool(text.strip())


@FUZZ
@given(st.binary(max_size=300), st.sampled_from(
    [None, "utf-8", "iso-8859-1", "windows-1251", "koi8-r", "iso-2022-jp", "shift_jis",
     "gb2312", "x-unknown", "utf-8lite", "cp50220", "euc-kr"]))
def test_any_bytes_decode_under_any_label(data: bytes, label):
    decoded = decode_bytes(data, label)
    decoded.text.encode("utf-8", "surrogatepass")
    text, _clean = decode_iso2022_jp(data)
    assert isinstance(text, str)


@FUZZ
@given(st.text(max_size=400))
def test_any_attachment_name_is_shown_safely_and_stored_plainly(name: str):
    shown = display_name(name)
    assert shown and len(shown) <= MAX_NAME
    assert "/" not in shown and "\\" not in shown
    assert not any(ord(char) < 32 or 0x7F <= ord(char) <= 0x9F for char in shown)
    stored = storage_name(name)
    assert stored and all(char.isalnum() or char in "-_." for char in stored)
