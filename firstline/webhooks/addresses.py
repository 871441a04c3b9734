"""Which webhook URLs firstline may call: refusing SSRF.

A subscription's URL is chosen by a partner's manager, and the server POSTs to it from
inside the provider's network. So a URL is refused when it is not http(s), carries
credentials, or when its host resolves to an address that is not on the public Internet
(private, loopback, link-local, multicast, reserved, unspecified, shared 100.64/10, ...):
otherwise a hook could reach the provider's own database, metadata service or admin pages.

The check runs when a subscription is saved AND before every send (DNS can change between
the two). Redirects are never followed (firstline.outbox.httpclient), so an allowed host
cannot bounce the request inside either. DNS rebinding (a name that answers a public
address to the check and a private one to the connection a moment later) is closed too:
`checked_address` returns the address it checked and the sender connects to exactly that
address (httpclient.post_to_address), never resolving the name again; a kept-alive
connection is reused only for the same checked address. Through a proxy (http_proxy /
https_proxy) the proxy resolves the name: an installation that uses one lets the proxy
refuse private addresses.

`FIRSTLINE_WEBHOOKS_ALLOW_PRIVATE=true` (setting or environment) lifts the address check for
installations whose receivers live on the internal network (and for tests with a local
receiver); schemes and credentials are still refused.
"""

import ipaddress
import os
import socket
import urllib.parse

from django.conf import settings
from django.utils.translation import gettext as _

ALLOW_PRIVATE = "FIRSTLINE_WEBHOOKS_ALLOW_PRIVATE"
_TRUE = {"1", "true", "yes", "on"}


class RefusedURL(ValueError):
    """The URL may not be called; the message says why (for the user and the log)."""


def allow_private() -> bool:
    value = getattr(settings, ALLOW_PRIVATE, None)
    if value is None:
        value = os.environ.get(ALLOW_PRIVATE, "").strip().lower() in _TRUE
    return bool(value)


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        # ::ffff:10.0.0.1 and 64:ff9b::/96-style wrappers reach the IPv4 address inside.
        mapped = address.ipv4_mapped or address.sixtofour
        if mapped is not None:
            return is_public(mapped)
    return address.is_global and not (
        address.is_private or address.is_loopback or address.is_link_local
        or address.is_multicast or address.is_reserved or address.is_unspecified
    )


def check_syntax(url: str) -> urllib.parse.SplitResult:
    """The URL's parts, or RefusedURL for a scheme, credentials or a host that will not do."""
    if any(character.isspace() or ord(character) < 32 for character in url):
        raise RefusedURL(_("The URL must not contain spaces or control characters."))
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise RefusedURL(_("Not a valid URL.")) from exc
    if parts.scheme not in ("http", "https"):
        raise RefusedURL(_("Only http:// and https:// URLs can receive webhooks."))
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise RefusedURL(_("The URL must not contain a user name or password; the "
                           "signature authenticates the sender."))
    if not parts.hostname:
        raise RefusedURL(_("The URL has no host."))
    if port == 0:
        raise RefusedURL(_("Not a valid URL."))
    return parts


def resolve(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return [literal]
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise LookupError(_("The host %(host)s does not resolve: %(error)s")
                          % {"host": host, "error": exc}) from exc
    # The scope of a link-local IPv6 answer ("fe80::1%eth0") is not part of the address.
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in answers]


def check(url: str) -> None:
    """Raise RefusedURL if `url` may not be called now; LookupError if its host does not
    resolve (maybe a passing DNS failure)."""
    if allow_private():
        # Nothing to refuse by address, so no DNS needed at save time.
        check_syntax(url)
        return
    checked_address(url)


def checked_address(url: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """The address to connect to for `url`, after the same checks as `check`: every address
    the host resolves to must be public (unless allowed), and the first is the one to use."""
    parts = check_syntax(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    resolved = resolve(host, port)
    if not resolved:
        raise LookupError(_("The host %(host)s does not resolve: %(error)s")
                          % {"host": host, "error": "no address"})
    if not allow_private():
        for address in resolved:
            if not is_public(address):
                raise RefusedURL(
                    _("The address %(address)s of %(host)s is not a public Internet address "
                      "(private, loopback, link-local, multicast or reserved); an "
                      "administrator can allow such addresses with %(setting)s.")
                    % {"address": address, "host": host, "setting": ALLOW_PRIVATE}
                )
    return resolved[0]
