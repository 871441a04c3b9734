"""The project's own deployment checks, run by `firstline check --deploy` beside Django's.

Registered with `deploy=True`, so a plain `firstline check` (and every test run) skips them.
"""

from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register

INSECURE_KEY_MARK = "insecure"
LOOPBACK = {"localhost", "127.0.0.1", "[::1]", "::1", "testserver"}


def secret_key(app_configs: object = None, **kwargs: object) -> list[CheckMessage]:
    key = settings.SECRET_KEY
    if INSECURE_KEY_MARK in key or len(key) < 50 or len(set(key)) < 5:
        return [Error("SECRET_KEY is the development key or too weak (fewer than 50 characters"
                      " or 5 distinct ones).",
                      hint="Set SECRET_KEY in the environment file to 50+ random characters:"
                           " python -c 'import secrets; print(secrets.token_urlsafe(50))'.",
                      id="firstline.E001")]
    return []


def allowed_hosts(app_configs: object = None, **kwargs: object) -> list[CheckMessage]:
    hosts = set(settings.ALLOWED_HOSTS)
    if "*" in hosts:
        return [Error("ALLOWED_HOSTS allows any host ('*').",
                      hint="List the names customers type, comma-separated.",
                      id="firstline.E002")]
    if not hosts - LOOPBACK:
        return [Error("ALLOWED_HOSTS names only loopback hosts; the public name is missing.",
                      hint="Set ALLOWED_HOSTS=desk.example.com (and SITE_URL to match).",
                      id="firstline.E003")]
    return []


def site_url(app_configs: object = None, **kwargs: object) -> list[CheckMessage]:
    parts = urlsplit(settings.SITE_URL)
    messages: list[CheckMessage] = []
    host = parts.hostname or ""
    if parts.scheme != "https":
        messages.append(Error(f"SITE_URL {settings.SITE_URL!r} is not https: links in mail"
                              " (sign-in links) would travel in clear text.",
                              hint="Set SITE_URL=https://desk.example.com.", id="firstline.E004"))
    if not host or host in LOOPBACK or host.startswith("127."):
        messages.append(Error(f"SITE_URL {settings.SITE_URL!r} names no public host: customers"
                              " could not open the links mailed to them.",
                              hint="Set SITE_URL to the address customers use.",
                              id="firstline.E005"))
    elif not _host_allowed(host):
        messages.append(Error(f"SITE_URL's host {host!r} is not in ALLOWED_HOSTS.",
                              hint="Add it to ALLOWED_HOSTS.", id="firstline.E006"))
    return messages


def _host_allowed(host: str) -> bool:
    for pattern in settings.ALLOWED_HOSTS:
        if pattern == host or (pattern.startswith(".") and
                               (host == pattern[1:] or host.endswith(pattern))):
            return True
    return False


def mail(app_configs: object = None, **kwargs: object) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    if getattr(settings, "MAIL_BACKEND", "console") != "smtp":
        messages.append(Error("MAIL_BACKEND is 'console': letters to customers are printed,"
                              " not sent.",
                              hint="Set MAIL_BACKEND=smtp and MAIL_HOST, MAIL_PORT, MAIL_USER,"
                                   " MAIL_PASSWORD, MAIL_USE_TLS or MAIL_USE_SSL.",
                              id="firstline.E007"))
        return messages
    options = settings.MAILERS["default"].get("OPTIONS", {})
    if not (options.get("use_tls") or options.get("use_ssl")) and \
            options.get("host") not in ("localhost", "127.0.0.1", "::1"):
        messages.append(Warning("SMTP to a remote server without TLS: passwords and letters"
                                " travel in clear text.",
                                hint="Set MAIL_USE_TLS=1 (STARTTLS) or MAIL_USE_SSL=1.",
                                id="firstline.W001"))
    sender = settings.DEFAULT_FROM_EMAIL
    if sender.endswith("@localhost") or "@" not in sender:
        messages.append(Warning(f"DEFAULT_FROM_EMAIL {sender!r} is not a real mailbox.",
                                hint="Set DEFAULT_FROM_EMAIL=desk@example.com.",
                                id="firstline.W002"))
    return messages


def tls(app_configs: object = None, **kwargs: object) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    for name in ("SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE"):
        if not getattr(settings, name, False):
            messages.append(Error(f"{name} is off: the cookie would also go over plain HTTP.",
                                  hint=f"Set {name}=1 behind TLS.", id="firstline.E008"))
    if not getattr(settings, "FIRSTLINE_FIELD_KEYS", None):
        messages.append(Warning("FIRSTLINE_FIELD_KEY is not set: stored IMAP passwords follow"
                                " SECRET_KEY and are lost when it changes.",
                                hint="firstline reencrypt_fields --new-key",
                                id="firstline.W003"))
    return messages


def register_checks() -> None:
    for check in (secret_key, allowed_hosts, site_url, mail, tls):
        register(check, "firstline", deploy=True)

