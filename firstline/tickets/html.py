"""Message bodies: HTML from outside is sanitised; plain text gets a safe HTML rendering."""

import nh3
from django.utils.html import escape, linebreaks


def sanitise(html: str) -> str:
    return nh3.clean(html)


def text_to_html(text: str) -> str:
    return linebreaks(escape(text))
