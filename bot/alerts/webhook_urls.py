"""Webhook URLs: which are accepted, which format each gets (Slack, Discord, signed JSON), how they are shown
masked, and what kind of address they point at.

Private destinations are refused unless ALLOW_PRIVATE_WEBHOOKS=1: loopback, link-local (169.254.169.254, the
cloud metadata service), private and shared ranges, unique-local IPv6, and every other address that is not
global. A literal address in the URL (in any form the system resolver reads: 127.1, 0x7f000001, 2130706433,
[::ffff:127.0.0.1]) and `localhost` are refused when the hook is added (`check_webhook_url`); a name is checked
when a request is sent, on each address it resolves to at that moment, just before the socket connects
(`public_socket`, the connector's socket factory), so a name that resolves to a public address when it is added
and to an internal one later (DNS rebinding) reaches nothing.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from bot.ports.reply import printable

MAX_URL_LENGTH = 2048  # chats.chat_id holds the URL (migration 0005)


class WebhookUrlError(ValueError):
    pass


class HookKind(StrEnum):
    GENERIC = "generic"
    SLACK = "slack"
    DISCORD = "discord"


HOOK_LABELS = {HookKind.GENERIC: "signed JSON", HookKind.SLACK: "Slack", HookKind.DISCORD: "Discord"}
SLACK_HOSTS = frozenset({"hooks.slack.com"})
DISCORD_HOSTS = frozenset(f"{prefix}{domain}" for prefix in ("", "ptb.", "canary.")
                          for domain in ("discord.com", "discordapp.com"))
_SLACK_PATH = re.compile(r"/services/(T[A-Za-z0-9]+)/(B[A-Za-z0-9]+/[A-Za-z0-9]+)/?")
_DISCORD_PATH = re.compile(r"/api(?:/v\d+)?/webhooks/(\d+)/([A-Za-z0-9_.-]+)/?")
_SECRET_QUERY_KEYS = ("token", "secret", "key", "sig", "pass", "auth", "code")


# ---------------------------------------------------------------- URLs


ALLOW_HINT = "set ALLOW_PRIVATE_WEBHOOKS=1 to allow it"


class PrivateDestination(OSError):
    """A webhook request was about to connect to an address that is not public (raised by `public_socket`)."""


def check_webhook_url(url: str, *, allow_private: bool = False) -> str:
    """The URL if it is an http(s) URL with a host that fits the store and, unless `allow_private`, is not a
    literal private address or localhost; else WebhookUrlError (one line, never the URL's secrets)."""
    text = url.strip()
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018  (raises ValueError for a port that is not a number)
    except ValueError:
        raise WebhookUrlError("that is not a URL") from None
    if parts.scheme not in {"http", "https"}:
        raise WebhookUrlError("a webhook URL must start with http:// or https://")
    if not parts.hostname:
        raise WebhookUrlError("a webhook URL needs a host, e.g. https://example.com/hooks/decoupler")
    if any(ord(char) <= 32 or ord(char) == 127 for char in text) or printable(text) != text:
        raise WebhookUrlError("a webhook URL may not contain spaces, control or invisible characters")
    if len(text.encode()) > MAX_URL_LENGTH:
        raise WebhookUrlError(f"a webhook URL may have at most {MAX_URL_LENGTH} characters")
    host = _host(parts.hostname)
    if host in SLACK_HOSTS and not _SLACK_PATH.fullmatch(parts.path):
        raise WebhookUrlError("a Slack webhook URL looks like https://hooks.slack.com/services/T…/B…/…")
    if host in DISCORD_HOSTS and not _DISCORD_PATH.fullmatch(parts.path):
        raise WebhookUrlError("a Discord webhook URL looks like https://discord.com/api/webhooks/<id>/<token>")
    if (host in SLACK_HOSTS or host in DISCORD_HOSTS) and parts.scheme != "https":
        raise WebhookUrlError(f"{host} takes https:// only")
    if not allow_private and (what := _private_host(host)):
        raise WebhookUrlError(f"{host[:60]} is {what}: webhooks go to public addresses only; {ALLOW_HINT}")
    return text


def public_socket(addr_info: tuple[Any, ...]) -> socket.socket:
    """aiohttp's socket factory for webhook requests (aiohappyeyeballs' AddrInfoType: family, type, proto,
    canonname, sockaddr): the socket for an address about to be connected to, or PrivateDestination when that
    address is not public. The resolved address is what is checked, so neither a name nor a redirect (never
    followed anyway) nor a DNS answer that changed since the hook was added reaches an internal address."""
    family, kind, proto, _, sockaddr = addr_info
    address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    what = address_class(address)
    if what is not None:
        raise PrivateDestination(f"{address} is {what}: webhooks go to public addresses only; {ALLOW_HINT}")
    return socket.socket(family, kind, proto)


def _private_host(host: str) -> str | None:
    """What a host named without a lookup is, when that is not a public address: localhost, or a literal."""
    if host == "localhost" or host.endswith(".localhost"):
        return "a loopback address (this machine)"
    address = _literal_ip(host)
    return address_class(address) if address is not None else None


def recognise(url: str) -> HookKind:
    """Which format a webhook URL gets: Slack's and Discord's by host and path (or by path alone on a
    loopback host: local tests and self-hosted relays), the signed generic one otherwise."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return HookKind.GENERIC
    host = _host(parts.hostname or "")
    local = _is_loopback(host)
    if (host in SLACK_HOSTS or local) and _SLACK_PATH.fullmatch(parts.path):
        return HookKind.SLACK
    if (host in DISCORD_HOSTS or local) and _DISCORD_PATH.fullmatch(parts.path):
        return HookKind.DISCORD
    return HookKind.GENERIC


def mask_url(url: str) -> str:
    """The URL with its secrets shown as `***`: the userinfo's password (or a lone userinfo, often a token),
    Slack's path after the team id, Discord's token, and query values whose names look secret."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return "***"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, has_password, _ = userinfo.partition(":")
        netloc = f"{user}:***@{hostport}" if has_password else f"***@{hostport}"
    path = parts.path
    kind = recognise(url)
    if kind is HookKind.SLACK and (slack := _SLACK_PATH.fullmatch(path)):
        path = f"/services/{slack.group(1)}/***"
    elif kind is HookKind.DISCORD and (discord := _DISCORD_PATH.fullmatch(path)):
        path = path[: discord.start(2)] + "***"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, "***" if any(s in k.lower() for s in _SECRET_QUERY_KEYS) else v) for k, v in pairs],
                          safe="*", quote_via=quote)
    return urlunsplit((parts.scheme, netloc, path, query, parts.fragment))


def address_note(url: str) -> str | None:
    """One line when the URL's host is a literal loopback, link-local, private or otherwise special address
    (or localhost): such hooks are allowed, but worth a second look. No DNS lookups are made."""
    try:
        host = _host(urlsplit(url.strip()).hostname or "")
    except ValueError:
        return None
    what = _private_host(host)
    return f"note: {host} is {what}; make sure that is what you mean" if what else None


def _host(hostname: str) -> str:
    return hostname.lower().rstrip(".")


def _literal_ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])  # an IPv6 zone (fe80::1%eth0) is not part of it
    except ValueError:
        # What the system resolver also reads as IPv4 without a lookup: 127.1, 0x7f.0.0.1, 2130706433.
        if not re.fullmatch(r"[0-9a-fx.]+", host) or not host[0].isdigit():
            return None
        try:
            address = ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


_PRIVATE_V4 = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
_UNIQUE_LOCAL_V6 = ipaddress.ip_network("fc00::/7")
_SHARED_V4 = ipaddress.ip_network("100.64.0.0/10")


def address_class(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """What a non-public address is, in a few words; None for a global (public) one."""
    if address.is_loopback:
        return "a loopback address (this machine)"
    if address.is_link_local:
        if address.version == 4:
            return "a link-local address (cloud metadata services live there)"
        return "a link-local address (this network segment only)"
    if address.is_unspecified:
        return "the unspecified address (it reaches this machine)"
    if any(address in network for network in _PRIVATE_V4):
        return "a private address (a local network)"
    if address in _UNIQUE_LOCAL_V6:
        return "a unique-local address (a private IPv6 network)"
    if address in _SHARED_V4:
        return "a shared address (carrier-grade NAT, a provider's network)"
    if address.is_multicast:
        return "a multicast address"
    if address.is_private or address.is_reserved or not address.is_global:
        return "a reserved address (not on the public internet)"
    return None


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    address = _literal_ip(host)
    return address is not None and address.is_loopback
