"""The `webhook` platform: alerts POSTed to http(s) endpoints the operator registered
(`python -m bot webhook add URL …`; the chat row's chat_id is the URL, at most 2048 characters).

The URL decides the format (`recognise`):

- **Slack** incoming webhooks, `https://hooks.slack.com/services/T…/B…/<secret>`: a JSON message,
  `{"text": …}` in Slack mrkdwn (headline in bold, the detail lines, then kind, pair, window, as-of and value).
  Slack incoming webhooks take no files, so there is no chart.
- **Discord** channel webhooks, `https://discord.com/api/webhooks/<id>/<token>` (also discordapp.com and the
  ptb./canary. hosts, and `/api/v<N>/webhooks/…`): one embed — title the alert's headline, description the rest
  of the text, fields kind/pair/window/as of, footer "Decoupler" — with the chart attached as multipart
  (`payload_json` + `files[0]`, the embed's image `attachment://<name>.png`); plain JSON when there is no chart.
- **Everything else** gets the signed generic format below.

The same two path shapes on a loopback host (`http://127.0.0.1:8080/services/T…/B…/…`,
`http://localhost:8080/api/webhooks/<id>/<token>`) are taken as Slack and Discord too: for local testing and
self-hosted relays. A URL on a Slack or Discord host that is not an incoming/channel webhook is refused.

Slack and Discord URLs carry their own secret (the last path parts) and nothing is signed for them, so they do
NOT need WEBHOOK_SECRET. Generic URLs do: without it their deliveries wait, untried, until it is set.

**The generic format.** Each POST is `multipart/form-data`: part `alert` is the alert as JSON (kind, pair,
window, as_of, value, text, alert_id, delivery_ids; a bundle of held alerts has `alerts`, a list of those,
instead of the single alert's fields), part `chart` the PNG when there is one. Headers:

- `X-Decoupler-Timestamp`: Unix seconds.
- `X-Decoupler-Signature: sha256=<hex>`: HMAC-SHA256 of `<timestamp>.<body>` (the raw body bytes) keyed with
  WEBHOOK_SECRET. Receivers recompute it (`verify_signature`) and refuse old timestamps (a few minutes).
- `X-Decoupler-Delivery`: the delivery ids, comma-joined in ascending order (`17`, or `17,18` for a bundle).
  The same for every try of the same message: a receiver that has seen it already answers 2xx and drops it.
  The header itself is NOT part of the signed material (the signature format stays `<timestamp>.<body>`);
  the same ids are inside the signed body as `delivery_ids`, so a receiver that must trust them reads those.

Slack and Discord requests get `X-Decoupler-Delivery` too (they ignore it; relays can use it).

**Answers.** 2xx is delivered. 410 Gone disables the hook at once (its subscriptions are kept;
`python -m bot webhook enable URL` turns it back on). 429 (and 503 with Retry-After) waits as asked: delay
seconds or an HTTP date (RFC 9110); a value that is neither (text, nan, inf, negative, empty) counts as 60 s,
and the worker keeps every wait between 1 s and 1 h. Every other answer — 3xx (redirects are not followed),
4xx, 5xx — and every network error or timeout (10 s) is retried with exponential backoff and jitter
(`WEBHOOK_RETRY`) for 24.5 hours from the alert; then the delivery fails and, if nothing reached the hook
meanwhile, the hook is disabled with the reason (`python -m bot webhook list` shows it).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import math
import re
import socket
import time
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from enum import StrEnum
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import aiohttp
from tenacity import wait_exponential_jitter, wait_random

from bot.ports.notifier import (
    UNREADABLE_RETRY_AFTER,
    ChatGone,
    NotConfigured,
    PermanentError,
    RetryLater,
    RetryPolicy,
    SendResult,
    TransientError,
)
from bot.ports.reply import Reply
from bot.sending.ratelimit import PlatformLimiter, PlatformLimits, Priority

WEBHOOK_LIMITS = PlatformLimits(per_second=20, per_chat_per_second=2)
TIMEOUT_SECONDS = 10.0
MAX_URL_LENGTH = 2048  # chats.chat_id holds the URL (migration 0005)
SIGNATURE_HEADER = "X-Decoupler-Signature"
TIMESTAMP_HEADER = "X-Decoupler-Timestamp"
DELIVERY_HEADER = "X-Decoupler-Delivery"
USER_AGENT = "Decoupler-webhook/1"
FOOTER = "Decoupler"
_MAX_ANSWER = 64 * 1024  # bytes of a receiver's answer read (for the error text); the rest is dropped

# Webhooks: 30 s, 1, 2, 4 … min up to 55 min between tries, plus 0–5 min of jitter on every try (tenacity's own
# jitter is lost at the cap); kept up for 24 h 30 min from the alert (about 32 tries), then the hook is disabled if
# nothing reached it since the failing alert was created.
WEBHOOK_RETRY = RetryPolicy(
    wait_exponential_jitter(multiplier=30, max=3300, jitter=30) + wait_random(0, 300),
    max_age=timedelta(hours=24, minutes=30),
    disable_on_give_up=True,
)


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


def check_webhook_url(url: str) -> str:
    """The URL if it is an http(s) URL with a host that fits the store; else WebhookUrlError (one line)."""
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
    if any(ord(char) <= 32 or ord(char) == 127 for char in text):
        raise WebhookUrlError("a webhook URL may not contain spaces or control characters")
    if len(text.encode()) > MAX_URL_LENGTH:
        raise WebhookUrlError(f"a webhook URL may have at most {MAX_URL_LENGTH} characters")
    host = _host(parts.hostname)
    if host in SLACK_HOSTS and not _SLACK_PATH.fullmatch(parts.path):
        raise WebhookUrlError("a Slack webhook URL looks like https://hooks.slack.com/services/T…/B…/…")
    if host in DISCORD_HOSTS and not _DISCORD_PATH.fullmatch(parts.path):
        raise WebhookUrlError("a Discord webhook URL looks like https://discord.com/api/webhooks/<id>/<token>")
    if (host in SLACK_HOSTS or host in DISCORD_HOSTS) and parts.scheme != "https":
        raise WebhookUrlError(f"{host} takes https:// only")
    return text


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
    if host == "localhost" or host.endswith(".localhost"):
        what = "a loopback address (this machine)"
    else:
        address = _literal_ip(host)
        if address is None:
            return None
        what = _address_class(address)
        if what is None:
            return None
    return f"note: {host} is {what}; make sure that is what you mean"


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


def _address_class(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
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
    if address.is_private or address.is_reserved:
        return "a reserved address (not on the public internet)"
    return None


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    address = _literal_ip(host)
    return address is not None and address.is_loopback


# ---------------------------------------------------------------- signing and bodies


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def delivery_header(reply: Reply) -> str | None:
    """`X-Decoupler-Delivery`: the message's delivery ids, ascending and comma-joined (None when it has none)."""
    ids = reply.data.get("delivery_ids") or []
    return ",".join(str(i) for i in sorted(int(i) for i in ids)) or None


async def encode(reply: Reply) -> tuple[bytes, str]:
    """The generic multipart body and its Content-Type."""
    writer = aiohttp.MultipartWriter("form-data")
    alert = writer.append_json({**reply.data, "text": reply.text})
    alert.set_content_disposition("form-data", name="alert")
    if reply.chart is not None:
        chart = writer.append(reply.chart, {"Content-Type": "image/png"})
        chart.set_content_disposition("form-data", name="chart", filename=reply.chart_name)
    return await writer.as_bytes(), writer.content_type


def _facts(data: dict) -> list[tuple[str, str]]:
    """The alert's numbers as (name, value): kind, pair, window, as of, value (a bundle has none)."""
    names = (("kind", "Kind"), ("pair", "Pair"), ("window", "Window"), ("as_of", "As of"), ("value", "Value"))
    return [(label, str(data[key])) for key, label in names if data.get(key) not in (None, "")]


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def slack_message(reply: Reply) -> dict:
    """An incoming-webhook message: mrkdwn text, no files (Slack incoming webhooks take none)."""
    headline, _, rest = reply.text.partition("\n")
    lines = [f"*{_slack_escape(headline)}*"]
    if rest.strip():
        lines.append(_slack_escape(rest))
    facts = _facts(reply.data)
    if facts:
        lines.append(" · ".join(f"{label}: `{_slack_escape(value)}`" for label, value in facts))
    return {"text": _cut("\n".join(lines), 40_000), "mrkdwn": True, "unfurl_links": False, "unfurl_media": False}


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def discord_message(reply: Reply) -> dict:
    """An execute-webhook payload: one embed, the chart as its image when there is one."""
    headline, _, rest = reply.text.partition("\n")
    embed: dict = {"title": _cut(headline, 256), "footer": {"text": FOOTER}}
    if rest.strip():
        embed["description"] = _cut(rest, 4096)
    fields = [(label, value) for label, value in _facts(reply.data) if label != "Value"]
    if fields:
        embed["fields"] = [{"name": label, "value": _cut(value, 1024), "inline": True} for label, value in fields]
    payload: dict = {"embeds": [embed], "allowed_mentions": {"parse": []}}
    if reply.chart is not None:
        name = _file_name(reply.chart_name)
        embed["image"] = {"url": f"attachment://{name}"}
        payload["attachments"] = [{"id": 0, "filename": name}]
    return payload


def _file_name(name: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name) or "chart"
    return safe if safe.lower().endswith(".png") else f"{safe}.png"


async def encode_discord(reply: Reply) -> tuple[bytes, str]:
    """JSON without a chart; with one, multipart `payload_json` + `files[0]`."""
    payload = discord_message(reply)
    if reply.chart is None:
        return json.dumps(payload).encode(), "application/json"
    writer = aiohttp.MultipartWriter("form-data")
    part = writer.append_json(payload)
    part.set_content_disposition("form-data", name="payload_json")
    chart = writer.append(reply.chart, {"Content-Type": "image/png"})
    chart.set_content_disposition("form-data", name="files[0]", filename=payload["attachments"][0]["filename"])
    return await writer.as_bytes(), writer.content_type


# ---------------------------------------------------------------- the notifier


class WebhookNotifier:
    platform = "webhook"
    retry = WEBHOOK_RETRY

    def __init__(
        self,
        secret: str | None,
        *,
        limits: PlatformLimits = WEBHOOK_LIMITS,
        timeout: float = TIMEOUT_SECONDS,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        """`secret` (WEBHOOK_SECRET) signs generic requests; without it only Slack and Discord hooks are
        reached, and generic deliveries fail as transient until it is set."""
        self.limiter = PlatformLimiter(limits)
        self._secret = secret or None
        self.timeout = timeout
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session = session
        self._own_session = session is None

    async def send(self, chat_id: str, reply: Reply, media: str | None = None, *, is_group: bool = False
                   ) -> SendResult:
        try:
            url = check_webhook_url(chat_id)
        except WebhookUrlError as bad:
            raise PermanentError(str(bad)) from None
        async with self.limiter.slot(chat_id, priority=Priority.ALERT):
            return await self._post(url, reply)

    async def _post(self, url: str, reply: Reply) -> SendResult:
        headers = {"User-Agent": USER_AGENT}
        delivery = delivery_header(reply)
        if delivery:
            headers[DELIVERY_HEADER] = delivery
        kind = recognise(url)
        if kind is HookKind.SLACK:
            body, content_type = json.dumps(slack_message(reply)).encode(), "application/json"
        elif kind is HookKind.DISCORD:
            body, content_type = await encode_discord(reply)
        else:
            if self._secret is None:
                raise NotConfigured("waiting for WEBHOOK_SECRET: generic webhook requests are signed with it")
            body, content_type = await encode(reply)
            timestamp = str(int(time.time()))
            headers[TIMESTAMP_HEADER] = timestamp
            headers[SIGNATURE_HEADER] = sign(self._secret, timestamp, body)
        headers["Content-Type"] = content_type
        try:
            async with self._client().post(
                url, data=body, headers=headers, timeout=self._timeout, allow_redirects=False
            ) as response:
                status, retry_after = response.status, response.headers.get("Retry-After")
                answer = await response.content.read(_MAX_ANSWER)
        except (aiohttp.ClientError, TimeoutError) as trouble:
            raise TransientError(f"{type(trouble).__name__} posting to the webhook") from None
        if status == 429:
            self.limiter.on_429()
        return _result(status, retry_after, answer)

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
            self._own_session = True
        return self._session

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()


def _result(status: int, retry_after: str | None, answer: bytes = b"") -> SendResult:
    if 200 <= status < 300:
        return SendResult()
    if status == 429 or (status == 503 and retry_after is not None):
        raise RetryLater(retry_after_seconds(retry_after), chat_only=True)
    if status == 410:
        raise ChatGone("the webhook endpoint is gone (HTTP 410)")
    why = " (redirects are not followed)" if 300 <= status < 400 else _said(answer)
    raise TransientError(f"HTTP {status}{why}")


def _said(answer: bytes) -> str:
    """A receiver's short answer (Slack's `no_service`, Discord's JSON message) for the error, one line."""
    text = " ".join(answer[:200].decode("utf-8", "replace").split())
    return f": {_cut(text, 100)}" if text else ""


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float:
    """A Retry-After header in seconds: delay-seconds (a decimal fraction is accepted) or an HTTP date
    (RFC 9110). Anything else — missing, empty, text, nan, inf, negative, exponents — counts as 60 s.
    Not clamped: `RetryLater` keeps it between 1 s and 1 h (a date in the past waits 1 s)."""
    text = (value or "").strip()
    if re.fullmatch(r"\d+(\.\d*)?", text):
        seconds = float(text)
        return seconds if math.isfinite(seconds) else UNREADABLE_RETRY_AFTER
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return UNREADABLE_RETRY_AFTER
    if when.tzinfo is None:  # "-0000" and the obsolete forms: HTTP dates are GMT
        when = when.replace(tzinfo=UTC)
    return (when - (now or datetime.now(UTC))).total_seconds()
