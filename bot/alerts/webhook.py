"""The `webhook` platform: alerts POSTed as JSON to http(s) endpoints the operator registered
(`python -m bot webhook add URL …`; the chat row's chat_id is the URL).

Each POST is `multipart/form-data`: part `alert` is the alert as JSON (kind, pair, window, as_of, value,
text, alert_id, delivery_ids — use delivery_ids to drop a repeat), part `chart` the PNG when there is one.
Headers `X-Decoupler-Timestamp` (Unix seconds) and `X-Decoupler-Signature: sha256=<hex>`, the HMAC-SHA256
of `<timestamp>.<body>` with WEBHOOK_SECRET: receivers recompute it (`verify_signature`) and refuse old
timestamps. Redirects are not followed; timeouts are short.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import urlsplit

import aiohttp

from bot.notifier import (
    CHAT_RETRY,
    ChatGone,
    PermanentError,
    PlatformLimits,
    RetryLater,
    SendResult,
    TransientError,
)
from bot.ratelimit import PlatformLimiter
from bot.reply import Reply

WEBHOOK_LIMITS = PlatformLimits(per_second=20, per_chat_per_second=2)
TIMEOUT_SECONDS = 5.0
MAX_URL_LENGTH = 64  # chats.chat_id holds the URL
DEFAULT_RETRY_AFTER = 30.0
SIGNATURE_HEADER = "X-Decoupler-Signature"
TIMESTAMP_HEADER = "X-Decoupler-Timestamp"
USER_AGENT = "Decoupler-webhook/1"


class WebhookUrlError(ValueError):
    pass


def check_webhook_url(url: str) -> str:
    """The URL if it is an http(s) URL with a host that fits the store; else WebhookUrlError (one line)."""
    text = url.strip()
    try:
        parts = urlsplit(text)
    except ValueError:
        raise WebhookUrlError("that is not a URL") from None
    if parts.scheme not in {"http", "https"}:
        raise WebhookUrlError("a webhook URL must start with http:// or https://")
    if not parts.hostname:
        raise WebhookUrlError("a webhook URL needs a host, e.g. https://example.com/hooks/decoupler")
    if len(text) > MAX_URL_LENGTH:
        raise WebhookUrlError(f"a webhook URL may have at most {MAX_URL_LENGTH} characters")
    return text


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


async def encode(reply: Reply) -> tuple[bytes, str]:
    """The multipart body and its Content-Type."""
    writer = aiohttp.MultipartWriter("form-data")
    alert = writer.append_json({**reply.data, "text": reply.text})
    alert.set_content_disposition("form-data", name="alert")
    if reply.chart is not None:
        chart = writer.append(reply.chart, {"Content-Type": "image/png"})
        chart.set_content_disposition("form-data", name="chart", filename=reply.chart_name)
    return await writer.as_bytes(), writer.content_type


class WebhookNotifier:
    platform = "webhook"
    retry = CHAT_RETRY

    def __init__(
        self,
        secret: str,
        *,
        limits: PlatformLimits = WEBHOOK_LIMITS,
        timeout: float = TIMEOUT_SECONDS,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        if not secret:
            raise ValueError("a webhook notifier needs WEBHOOK_SECRET to sign its requests")
        self.limiter = PlatformLimiter(limits)
        self._secret = secret
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session = session
        self._own_session = session is None

    async def send(self, chat_id: str, reply: Reply, media: str | None = None, *, is_group: bool = False
                   ) -> SendResult:
        try:
            url = check_webhook_url(chat_id)
        except WebhookUrlError as bad:
            raise PermanentError(str(bad)) from None
        async with self.limiter.slot(chat_id):
            return await self._post(url, reply)

    async def _post(self, url: str, reply: Reply) -> SendResult:
        body, content_type = await encode(reply)
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": content_type,
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(self._secret, timestamp, body),
            "User-Agent": USER_AGENT,
        }
        try:
            async with self._client().post(
                url, data=body, headers=headers, timeout=self._timeout, allow_redirects=False
            ) as response:
                status, retry_after = response.status, response.headers.get("Retry-After")
                await response.read()
        except (aiohttp.ClientError, TimeoutError) as trouble:
            raise TransientError(f"{type(trouble).__name__} posting to the webhook") from None
        return _result(status, retry_after)

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
            self._own_session = True
        return self._session

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()


def _result(status: int, retry_after: str | None) -> SendResult:
    if 200 <= status < 300:
        return SendResult()
    if status == 429:
        raise RetryLater(_seconds(retry_after), chat_only=True)
    if status == 410:
        raise ChatGone("the webhook endpoint is gone (HTTP 410)")
    if status >= 500 or status == 408:
        raise TransientError(f"HTTP {status}")
    raise PermanentError(f"HTTP {status}")


def _seconds(value: str | None) -> float:
    try:
        return max(0.0, float(value)) if value is not None else DEFAULT_RETRY_AFTER
    except ValueError:
        return DEFAULT_RETRY_AFTER
