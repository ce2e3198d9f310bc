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

Slack and Discord URLs carry their own secret (the last path parts) and nothing is signed for them. Generic URLs
are signed with the hook's own secret (made by `webhook add`, shown once, replaced by `webhook rotate`); hooks
added before per-hook secrets sign with WEBHOOK_SECRET until rotated; with neither, deliveries wait, untried.
The receiver's side: docs/webhooks.md.

**The generic format.** Each POST is `multipart/form-data`: part `alert` is the alert as JSON (kind, pair,
window, as_of, value, text, alert_id, delivery_ids; a bundle of held alerts has `alerts`, a list of those,
instead of the single alert's fields), part `chart` the PNG when there is one. Headers:

- `X-Decoupler-Timestamp`: Unix seconds.
- `X-Decoupler-Signature: sha256=<hex>`: HMAC-SHA256 of `<timestamp>.<body>` (the raw body bytes) keyed with
  the hook's secret. Receivers recompute it and refuse timestamps more than 5 minutes away
  (`verify_signature`, its `tolerance`).
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

import json
import math
import re
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import aiohttp
from aiohttp.abc import AbstractResolver
from tenacity import wait_exponential_jitter, wait_random

from bot.alerts.webhook_bodies import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    delivery_header,
    encode,
    encode_discord,
    shorten,
    sign,
    slack_message,
)
from bot.alerts.webhook_urls import (
    HookKind,
    PrivateDestination,
    WebhookUrlError,
    check_webhook_url,
    public_socket,
    recognise,
)
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
USER_AGENT = "Decoupler-webhook/1"
_MAX_ANSWER = 64 * 1024  # bytes of a receiver's answer read (for the error text); the rest is dropped

# Webhooks: 30 s, 1, 2, 4 … min up to 55 min between tries, plus 0–5 min of jitter on every try (tenacity's own
# jitter is lost at the cap); kept up for 24 h 30 min from the alert (about 32 tries), then the hook is disabled if
# nothing reached it since the failing alert was created.
WEBHOOK_RETRY = RetryPolicy(
    wait_exponential_jitter(multiplier=30, max=3300, jitter=30) + wait_random(0, 300),
    max_age=timedelta(hours=24, minutes=30),
    disable_on_give_up=True,
)


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
        allow_private: bool = False,
        resolver: AbstractResolver | None = None,
        hook_secret: Callable[[str], Awaitable[str | None]] | None = None,
    ) -> None:
        """`hook_secret(url)` reads a generic hook's own signing secret (the store's webhook_secrets); a hook
        without one signs with `secret` (WEBHOOK_SECRET); with neither its deliveries wait (NotConfigured).
        Unless `allow_private` (ALLOW_PRIVATE_WEBHOOKS), requests connect to public addresses only
        (webhook_urls.public_socket); a `session` passed in is the caller's, with the caller's connector;
        `resolver` replaces the system's (DNS)."""
        self.limiter = PlatformLimiter(limits)
        self.allow_private = allow_private
        self._resolver = resolver
        self._secret = secret or None
        self._hook_secret = hook_secret
        self.timeout = timeout
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session = session
        self._own_session = session is None

    async def send(self, chat_id: str, reply: Reply, media: str | None = None, *, is_group: bool = False
                   ) -> SendResult:
        try:
            url = check_webhook_url(chat_id, allow_private=self.allow_private)
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
            secret = await self._signing_secret(url)
            body, content_type = await encode(reply)
            timestamp = str(int(time.time()))
            headers[TIMESTAMP_HEADER] = timestamp
            headers[SIGNATURE_HEADER] = sign(secret, timestamp, body)
        headers["Content-Type"] = content_type
        try:
            async with self._client().post(
                url, data=body, headers=headers, timeout=self._timeout, allow_redirects=False
            ) as response:
                status, retry_after = response.status, response.headers.get("Retry-After")
                answer = await response.content.read(_MAX_ANSWER)
        except aiohttp.ClientConnectorError as trouble:
            if isinstance(trouble.os_error, PrivateDestination):
                raise PermanentError(str(trouble.os_error)) from None
            raise TransientError(f"{type(trouble).__name__} posting to the webhook") from None
        except (aiohttp.ClientError, TimeoutError) as trouble:
            raise TransientError(f"{type(trouble).__name__} posting to the webhook") from None
        if status == 429:
            self.limiter.on_429()
        return _result(status, retry_after, answer)

    async def _signing_secret(self, url: str) -> str:
        own = None
        if self._hook_secret is not None:
            try:
                own = await self._hook_secret(url)
            except Exception as trouble:  # the store is down: try again later, like a network error
                raise TransientError(f"the hook's signing secret could not be read ({type(trouble).__name__})"
                                     ) from None
        secret = own or self._secret
        if secret is None:
            raise NotConfigured("waiting for a signing secret: give the hook its own (python -m bot webhook rotate "
                                "URL) or set WEBHOOK_SECRET")
        return secret

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            factory = None if self.allow_private else public_socket
            connector = aiohttp.TCPConnector(socket_factory=factory, resolver=self._resolver)
            self._session = aiohttp.ClientSession(connector=connector)
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
    return f": {shorten(text, 100)}" if text else ""


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
