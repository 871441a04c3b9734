"""Every page carries the strict Content-Security-Policy, and no template needs more.

The browser test (test_csp_browser.py) proves the pages work under the policy; these checks
run without a browser: the header itself, and a scan of every template for what the policy
refuses (inline scripts and styles, on*= handlers, hx-on, HTMX filter expressions).
"""

import json
import re
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from .conftest import client_for

POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "object-src": "'none'",
    "base-uri": "'self'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
}
PACKAGE = Path(__file__).resolve().parent.parent / "firstline"
TEMPLATES = sorted(PACKAGE.rglob("templates/**/*.html"))


def policy_of(response) -> dict[str, str]:
    header = response["Content-Security-Policy"]
    return dict(part.strip().split(" ", 1) for part in header.split(";"))


@pytest.mark.parametrize("who", ["anonymous", "operator", "customer"])
def test_every_kind_of_page_carries_the_strict_policy(cast, who):
    if who == "anonymous":
        client = Client()
        paths = [reverse("login"), reverse("portal:login", args=["alpha"]), "/admin/login/"]
    elif who == "operator":
        client = client_for(cast.operator)
        paths = [reverse("queue"), reverse("ticket", args=[cast.a.ticket.pk]), "/api/docs",
                 reverse("sla-board")]
    else:
        client = client_for(cast.a.customer)
        paths = [reverse("portal:tickets"), reverse("portal:ticket", args=[cast.a.ticket.pk])]
    for path in paths:
        response = client.get(path)
        assert response.status_code == 200, path
        assert policy_of(response) == POLICY, path


def test_htmx_is_told_not_to_inject_its_indicator_style(cast):
    page = client_for(cast.operator).get(reverse("queue")).content.decode()
    config = re.search(r"<meta name=\"htmx-config\" content='([^']*)'>", page)
    assert config is not None and json.loads(config.group(1))["includeIndicatorStyles"] is False
    css = (PACKAGE / "web/static/firstline/app.css").read_text()
    assert ".htmx-request .htmx-indicator" in css


FORBIDDEN = [
    (re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I),
     "an inline <script>"),
    (re.compile(r"<style\b", re.I), "a <style> element"),
    (re.compile(r"\sstyle\s*=", re.I), "a style=\"\" attribute"),
    (re.compile(r"\son[a-z]+\s*=", re.I), "an on*= event handler"),
    (re.compile(r"\shx-on[:-]", re.I), "an hx-on attribute (needs eval)"),
    # An event filter (`keyup[ctrlKey]`) right after an event name; `from:input[...]` is a
    # CSS selector, not a filter.
    (re.compile(r"hx-trigger=\"(?:[^\"]*,)?\s*(?:every\s+\S+\s*)?[\w.-]+\[", re.I),
     "an HTMX filter expression (eval)"),
    (re.compile(r"javascript:", re.I), "a javascript: URL"),
]


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda path: str(path).split("firstline/")[-1])
def test_no_template_needs_what_the_policy_refuses(template):
    text = template.read_text()
    found = [what for pattern, what in FORBIDDEN if pattern.search(text)]
    assert found == [], f"{template}: {', '.join(found)}"
