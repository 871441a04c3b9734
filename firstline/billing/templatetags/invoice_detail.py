"""The invoice PDF's usage detail (every request and call) as aligned monospaced lines.

The lines go into a table under a head that WeasyPrint repeats on every page the table
runs over, BLOCK lines to a row: a row may break between two lines at a page's end (a
text line itself is never cut), so pages stay full. Rows of many lines, not one line a
row, keep it fast: 4,000 lines take ~2.5 s of CPU at 50 a row, ~6.5 s at one a row (a
box per row and cell), and one preformatted block under a single heading took ~5 s (its
rest laid out again for every page). The columns are as wide as their longest value or
heading in the invoice's language, so a long Russian heading («Разговор, секунд») stays
over its numbers."""

from typing import Any

from django import template
from django.utils.translation import gettext as _

register = template.Library()


def _columns(kind: str) -> list[tuple[str, str, str]]:
    """(key, heading, alignment) of a detail list, headings in the active language."""
    if kind == "calls":
        return [("date", _("Date"), "<"), ("number", _("Number"), "<"),
                ("seconds", _("Talk, seconds"), ">"), ("minutes", _("Minutes billed"), ">")]
    return [("number", _("Ticket"), "<"), ("date", _("Created"), "<"),
            ("channel", _("Channel"), "<")]


GAP = "   "
BLOCK = 50  # lines a table row


@register.simple_tag
def usage_listing(kind: str, rows: list[dict[str, Any]] | None) -> dict[str, Any]:
    """{"head": the headings line, "lines": one line per row, "blocks": the lines BLOCK
    to a text} for `kind` "tickets" or "calls"; a missing value (a call's minutes before
    rounding applied) is left blank."""
    columns = _columns(kind)
    cells = [["" if row.get(key) is None else str(row[key]) for key, _h, _a in columns]
             for row in rows or []]
    widths = [max([len(heading)] + [len(line[n]) for line in cells])
              for n, (_k, heading, _a) in enumerate(columns)]

    def line(values: list[str]) -> str:
        return GAP.join(f"{value:{align}{width}}" for value, width, (_k, _h, align)
                        in zip(values, widths, columns, strict=True)).rstrip()

    lines = [line(values) for values in cells]
    return {"head": line([heading for _k, heading, _a in columns]), "lines": lines,
            "blocks": ["\n".join(lines[start:start + BLOCK])
                       for start in range(0, len(lines), BLOCK)]}
