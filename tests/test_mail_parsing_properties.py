"""parse() never raises, whatever arrives: arbitrary bytes, corpus messages with bytes
flipped, inserted or deleted, and messages assembled from the pieces mail is made of.
Every result keeps the promises ingest relies on. Also prints the parser's throughput over
the corpus (`pytest -s -k throughput`); timing is never asserted.
"""

import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firstline.mail.parsed import ParsedMail
from firstline.mail.parsing import parse

CORPUS = Path(__file__).resolve().parent / "data" / "mail"
MESSAGES = [path.read_bytes() for path in sorted(CORPUS.glob("*.eml"))]
FUZZ = settings(
    max_examples=300, deadline=None, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def check(mail: ParsedMail, limit: int = 10 * 1024 * 1024, depth: int = 0) -> None:
    """The contract holds, and no part of the parser failed internally."""
    assert isinstance(mail, ParsedMail)
    internal = [p for p in mail.problems if "could not be read:" in p]
    assert not internal, internal
    assert mail.date is None or mail.date.utcoffset() is not None
    for message_id in (mail.message_id, *mail.in_reply_to, *mail.references):
        assert "<" not in message_id and ">" not in message_id
    for address in (mail.sender, *mail.to, *mail.cc, *mail.reply_to):
        assert address.email == address.email.lower()
    report = mail.delivery_report
    report_texts = (
        (*report.failed_recipients, report.original_message_id, report.status, report.diagnostic)
        if report else ()
    )
    addresses = (mail.sender, *mail.to, *mail.cc, *mail.reply_to)
    for text in (mail.subject, mail.text, mail.full_text, mail.html, mail.message_id,
                 *(a.filename for a in mail.attachments), *(a.content_id for a in mail.attachments),
                 *(a.content_type for a in mail.attachments), *mail.problems, *report_texts,
                 *(a.name for a in addresses), *(a.email for a in addresses)):
        assert "\x00" not in text
        text.encode("utf-8")  # no lone surrogates: storable in PostgreSQL
    for attachment in mail.attachments:
        assert attachment.filename
        assert attachment.size >= 0
        if attachment.content is None:
            assert attachment.size > limit
        else:
            assert len(attachment.content) == attachment.size <= limit
    for forwarded in mail.forwarded:
        check(forwarded, limit, depth + 1)


@FUZZ
@given(st.binary(max_size=4000))
def test_arbitrary_bytes_never_raise(raw: bytes):
    check(parse(raw))


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A corpus message with a few bytes flipped, inserted or deleted."""
    data = bytearray(draw(st.sampled_from(MESSAGES)))
    for _ in range(draw(st.integers(min_value=1, max_value=8))):
        position = draw(st.integers(min_value=0, max_value=max(len(data) - 1, 0)))
        operation = draw(st.sampled_from(["flip", "insert", "delete"]))
        if operation == "flip" and data:
            data[position] ^= 1 << draw(st.integers(min_value=0, max_value=7))
        elif operation == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=16))
        else:
            del data[position:position + draw(st.integers(min_value=1, max_value=64))]
    return bytes(data)


@FUZZ
@given(mutated(), st.integers(min_value=0, max_value=4096))
def test_mutated_corpus_messages_never_raise(raw: bytes, limit: int):
    check(parse(raw, max_attachment_bytes=limit), limit)


PIECES = [
    b"\r\n", b"\n", b"\r\n\r\n", b" ", b"\t", b":", b";", b'"', b"=", b"<", b">", b"@",
    b"\x00", b"\xff", b"\xd0\x9f", b"\xc1\xcf", b"=?", b"?=", b"=?utf-8?B?", b"=?koi8-r?Q?",
    b"=?x-unknown?B?z/Do?=", b"--b", b"--b--", b"From: ", b"Subject: ", b"To: ", b"Date: ",
    b"Message-ID: <", b"Content-Type: multipart/mixed; boundary=b\r\n",
    b"Content-Type: multipart/alternative; boundary=b\r\n",
    b"Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n",
    b"Content-Type: message/rfc822\r\n", b"Content-Type: message/delivery-status\r\n",
    b"Content-Type: text/html; charset=gb2312\r\n", b"Content-Type: text/plain; format=flowed\r\n",
    b"Content-Transfer-Encoding: base64\r\n", b"Content-Transfer-Encoding: quoted-printable\r\n",
    b"Content-Disposition: attachment; filename*0*=utf-8''%D0%9F; filename*1*=%", b"cid:",
    b"Content-ID: <x>\r\n", b"<img src=\"cid:x\">", b"<blockquote>", b"</p>", b"&nbsp;",
    b"Final-Recipient: rfc822; a@b\r\nAction: failed\r\nStatus: 5.1.1\r\n", b"> ", b"-- \r\n",
    "пишет:\r\n".encode(), "От: ".encode(), b"0J3QtQ==", b"=D0=9F=\r\n", b"begin 644 x\r\n",
]


@FUZZ
@given(st.lists(st.sampled_from(PIECES) | st.binary(max_size=8), max_size=80))
def test_messages_made_of_mail_pieces_never_raise(pieces: list[bytes]):
    check(parse(b"".join(pieces)))


def test_throughput_over_the_corpus():
    """Prints messages per second over the corpus (not asserted: timing varies)."""
    rounds = 5
    started = time.perf_counter()
    for _ in range(rounds):
        for raw in MESSAGES:
            parse(raw)
    elapsed = time.perf_counter() - started
    count = rounds * len(MESSAGES)
    size = sum(len(raw) for raw in MESSAGES) * rounds
    print(
        f"\nmail parser: {count / elapsed:,.0f} messages/s "
        f"({size / elapsed / 1024 / 1024:.1f} MiB/s) over {len(MESSAGES)} corpus messages"
    )
