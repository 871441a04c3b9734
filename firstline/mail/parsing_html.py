"""HTML bodies: sanitised for display, and read as plain text with its line breaks kept.

The sanitiser is the project's nh3 policy plus two things mail needs: `cid:` image
sources stay (ingest maps them to the inline attachments) and `<title>` text is dropped
rather than shown as the first line of the body.
"""

import re
from html.parser import HTMLParser
from urllib.parse import unquote

import nh3

_cleaner: nh3.Cleaner | None = None


def sanitise(html: str) -> str:
    global _cleaner
    if _cleaner is None:
        _cleaner = nh3.Cleaner(
            url_schemes=nh3.ALLOWED_URL_SCHEMES | {"cid"},
            clean_content_tags=nh3.CLEAN_CONTENT_TAGS | {"title"},
        )
    return _cleaner.clean(html)


_CID = re.compile(r"""\bcid:([^"'\s<>)]+)""", re.IGNORECASE)


def referenced_cids(html: str) -> set[str]:
    """Content-IDs (lower-cased, without <>) that the HTML refers to as cid: URLs."""
    return {unquote(m.group(1)).strip("<>").lower() for m in _CID.finditer(html)}


_META_CHARSET = re.compile(rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]{1,40})""",
                           re.IGNORECASE)


def meta_charset(data: bytes) -> str | None:
    """The charset an HTML document declares in a <meta> tag, if any."""
    match = _META_CHARSET.search(data[:4096])
    return match.group(1).decode("ascii") if match else None


_BLOCK = frozenset({
    "address", "article", "aside", "blockquote", "caption", "center", "dd", "details", "div",
    "dl", "dt", "figcaption", "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header",
    "hgroup", "hr", "li", "nav", "ol", "p", "pre", "section", "summary", "table", "tbody",
    "thead", "tfoot", "tr", "ul",
})
_SPACES = re.compile(r"[ \t\r\n\f\v\u00a0\u200b]+")


class _TextWriter(HTMLParser):
    """Sanitised HTML to text: blocks and <br> become line breaks, blockquotes become
    "> " quotes (so quoted history is folded like in plain text), cells are tab-separated."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.line: list[str] = []
        self.quote_depth = 0
        self.line_depth = 0
        self.pre = 0
        self.cells_in_row = 0
        self.paragraph_written = True

    def _break(self) -> None:
        text = "".join(self.line)
        if not self.pre:
            text = text.strip(" ")
        prefix = "> " * self.line_depth if self.line_depth else ""
        self.lines.append((prefix + text).rstrip() if prefix else text.rstrip())
        self.line = []
        self.line_depth = self.quote_depth

    def _ensure_line_start(self) -> None:
        if self.line and "".join(self.line).strip():
            self._break()
        elif self.line:
            self.line = []
            self.line_depth = self.quote_depth
        else:
            self.line_depth = self.quote_depth

    def _write(self, text: str) -> None:
        if not self.line:
            self.line_depth = self.quote_depth
        self.line.append(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self._break()
        elif tag in ("td", "th"):
            if self.cells_in_row:
                self._write("\t")
            self.cells_in_row += 1
        elif tag == "img":
            alt = dict(attrs).get("alt") or ""
            alt = _SPACES.sub(" ", alt).strip()
            if alt:
                self._write(f"[{alt}]")
        elif tag in _BLOCK:
            self._ensure_line_start()
            if tag == "blockquote":
                self.quote_depth += 1
                self.line_depth = self.quote_depth
            elif tag == "pre":
                self.pre += 1
            elif tag == "tr":
                self.cells_in_row = 0
            elif tag == "li":
                self._write("- ")
            elif tag == "p":
                self.paragraph_written = False
            elif tag == "hr":
                self._write("-" * 10)
                self._break()

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _BLOCK:
            self._ensure_line_start()
            if tag == "blockquote" and self.quote_depth:
                self.quote_depth -= 1
                self.line_depth = self.quote_depth
            elif tag == "pre" and self.pre:
                self.pre -= 1
            elif tag == "tr":
                self.cells_in_row = 0
            elif tag == "p" and not self.paragraph_written:
                # Outlook writes blank lines as empty paragraphs (<p>&nbsp;</p>).
                self.lines.append("> " * self.quote_depth if self.quote_depth else "")
                self.paragraph_written = True

    def handle_data(self, data: str) -> None:
        if self.pre:
            parts = data.replace("\r\n", "\n").split("\n")
            for index, part in enumerate(parts):
                if index:
                    self._break()
                if part:
                    self._write(part.replace("\u00a0", " "))
            return
        text = _SPACES.sub(" ", data)
        if not text:
            return
        if text == " " and (not self.line or self.line[-1].endswith((" ", "\t"))):
            return
        if self.line and self.line[-1].endswith((" ", "\t")) and text.startswith(" "):
            text = text[1:]
        if text.strip():
            self.paragraph_written = True
        self._write(text)

    def text(self) -> str:
        self.close()
        if self.line:
            self._break()
        result: list[str] = []
        blank = 0
        for line in self.lines:
            if line.strip(" >"):
                blank = 0
                result.append(line)
            else:
                blank += 1
                if blank <= 1:
                    result.append(line.rstrip())
        return "\n".join(result).strip("\n")


def html_to_text(html: str) -> str:
    """Plain text of (already sanitised) HTML."""
    writer = _TextWriter()
    writer.feed(html)
    return writer.text()
