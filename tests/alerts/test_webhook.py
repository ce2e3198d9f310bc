"""The webhook notifier against a local receiver: signed multipart JSON + chart, errors mapped for retries.

Slack and Discord formats: test_webhook_formats.py; retries through the delivery worker: test_webhook_retry.py;
long URLs in the store: test_webhook_store.py."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.abc import AbstractResolver

from bot.alerts.webhook import WebhookNotifier
from bot.alerts.webhook_bodies import DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature
from bot.alerts.webhook_urls import MAX_URL_LENGTH, WebhookUrlError, check_webhook_url
from bot.ports.notifier import ChatGone, PermanentError, RetryLater, TransientError
from bot.ports.reply import Reply

SECRET = "s3cret-for-tests"


class Endpoint:
    def __init__(self) -> None:
        self.status = 204
        self.headers: dict[str, str] = {}
        self.received: list[dict] = []

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        signed = verify_signature(SECRET, request.headers[TIMESTAMP_HEADER], body, request.headers[SIGNATURE_HEADER])
        parts = {}
        boundary = request.headers["Content-Type"].split("boundary=")[1]
        for chunk in body.split(f"--{boundary}".encode())[1:-1]:
            head, _, content = chunk.partition(b"\r\n\r\n")
            name = head.split(b'name="')[1].split(b'"')[0].decode()
            parts[name] = content[:-2]
        self.received.append({"signed": signed, "alert": json.loads(parts["alert"]), "chart": parts.get("chart"),
                              "type": request.content_type, "delivery": request.headers.get(DELIVERY_HEADER)})
        return web.Response(status=self.status, headers=self.headers)


async def moved(request: web.Request) -> web.Response:
    return web.Response(status=302, headers={"Location": "/hook"})


async def moved_for_good(request: web.Request) -> web.Response:
    return web.Response(status=308, headers={"Location": "/hook"})


@pytest_asyncio.fixture
async def endpoint() -> AsyncIterator[tuple[Endpoint, str]]:
    hook = Endpoint()
    app = web.Application()
    app.router.add_post("/hook", hook.handle)
    app.router.add_post("/moved", moved)
    app.router.add_post("/moved-for-good", moved_for_good)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield hook, f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


REPLY = Reply(text="🔔 ETH and small caps are moving apart", chart=b"\x89PNG...", chart_name="eth-rut.png",
              data={"kind": "regime", "pair": "ETH:RUT", "as_of": "2024-04-26", "alert_id": 7, "delivery_ids": [3]})
BUNDLE = Reply(text="🔔 2 alerts while this chat was quiet:\n• one\n• two",
               data={"alerts": [{"alert_id": 7}, {"alert_id": 8}], "delivery_ids": [18, 17]})


async def test_an_alert_arrives_signed_as_json_with_its_chart(endpoint):
    hook, base = endpoint
    notifier = WebhookNotifier(SECRET, allow_private=True)
    try:
        await notifier.send(f"{base}/hook", REPLY)
        await notifier.send(f"{base}/hook", Reply(text="no chart", data={"kind": "record"}))
        await notifier.send(f"{base}/hook", BUNDLE)
    finally:
        await notifier.close()
    first, second, bundle = hook.received
    assert first["signed"] and first["type"] == "multipart/form-data"
    assert first["alert"] == {**REPLY.data, "text": REPLY.text}
    assert first["chart"] == REPLY.chart
    assert second["chart"] is None and second["alert"]["text"] == "no chart"
    # the delivery id header: receivers drop repeats by it; a bundle's ids ascending, comma-joined
    assert (first["delivery"], second["delivery"], bundle["delivery"]) == ("3", None, "17,18")
    assert bundle["signed"] and bundle["alert"]["delivery_ids"] == [18, 17]


class RebindingDns(AbstractResolver):
    """A DNS server for one name that now answers with this machine's address (it answered with a public one
    when the hook was added)."""

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list:
        assert host == "hooks.example.test"
        return [{"hostname": host, "host": "127.0.0.1", "port": port, "family": socket.AF_INET, "proto": 0,
                 "flags": socket.AI_NUMERICHOST}]

    async def close(self) -> None:
        return None


async def test_without_allow_private_a_request_never_connects_to_an_internal_address(endpoint):
    """ALLOW_PRIVATE_WEBHOOKS unset (the notifier's default): a name is checked on the address it resolves to
    when the request goes out (DNS rebinding after `webhook add` reaches nothing), a literal before that."""
    hook, base = endpoint
    rebound = f"http://hooks.example.test:{base.rsplit(':', 1)[1]}/hook"
    assert check_webhook_url(rebound) == rebound  # a name is accepted when it is added
    notifier = WebhookNotifier(SECRET, resolver=RebindingDns())
    try:
        for url in (rebound, f"{base}/hook"):
            with pytest.raises(PermanentError) as refused:
                await notifier.send(url, REPLY)  # today: delivered
            assert "127.0.0.1 is a loopback address" in str(refused.value)
            assert str(refused.value).endswith("set ALLOW_PRIVATE_WEBHOOKS=1 to allow it")
    finally:
        await notifier.close()
    assert hook.received == []
    allowed = WebhookNotifier(SECRET, resolver=RebindingDns(), allow_private=True)
    try:
        await allowed.send(rebound, REPLY)  # the same name reaches the receiver when the operator allows it
    finally:
        await allowed.close()
    assert len(hook.received) == 1 and hook.received[0]["signed"]


def test_a_wrong_secret_or_a_changed_body_fails_verification():
    from bot.alerts.webhook_bodies import sign

    signature, now = sign(SECRET, "1700000000", b"body"), 1700000000
    assert verify_signature(SECRET, "1700000000", b"body", signature, now=now)
    assert not verify_signature("other", "1700000000", b"body", signature, now=now)
    assert not verify_signature(SECRET, "1700000001", b"body", signature, now=now)
    assert not verify_signature(SECRET, "1700000000", b"b0dy", signature, now=now)


def test_a_signature_older_or_newer_than_the_tolerance_is_refused():
    from bot.alerts.webhook_bodies import sign

    signature = sign(SECRET, "1700000000", b"body")
    for now in (1700000000 + 300, 1700000000 - 300, 1700000000 + 299.5):
        assert verify_signature(SECRET, "1700000000", b"body", signature, now=now)
    for now in (1700000000 + 301, 1700000000 - 301, 1700086400):  # today: a day-old request still verified
        assert not verify_signature(SECRET, "1700000000", b"body", signature, now=now)
    assert verify_signature(SECRET, "1700000000", b"body", signature, now=1700086400, tolerance=86400)
    for stamp in ("", "17e8", "-1", " 1700000000", "1700000000.5"):
        assert not verify_signature(SECRET, stamp, b"body", sign(SECRET, stamp, b"body"), now=1700000000)


@pytest.mark.parametrize(
    ("status", "headers", "error"),
    [(429, {"Retry-After": "7"}, RetryLater), (503, {"Retry-After": "7"}, RetryLater), (503, {}, TransientError),
     (410, {}, ChatGone), (400, {}, TransientError), (401, {}, TransientError), (404, {}, TransientError),
     (408, {}, TransientError), (500, {}, TransientError)],
)
async def test_http_answers_become_the_delivery_errors(endpoint, status, headers, error):
    hook, base = endpoint
    hook.status, hook.headers = status, headers
    notifier = WebhookNotifier(SECRET, allow_private=True)
    try:
        with pytest.raises(error) as raised:
            await notifier.send(f"{base}/hook", REPLY)
    finally:
        await notifier.close()
    if error is RetryLater:
        assert raised.value.retry_after == 7 and raised.value.chat_only


async def test_redirects_are_not_followed_but_retried_and_dead_endpoints_are_transient(endpoint):
    hook, base = endpoint
    notifier = WebhookNotifier(SECRET, allow_private=True, timeout=1)
    try:
        for path in ("/moved", "/moved-for-good"):  # a 3xx is retried (the operator may fix the URL or server)
            with pytest.raises(TransientError, match="redirects are not followed"):
                await notifier.send(f"{base}{path}", REPLY)
        assert hook.received == []  # not followed to /hook
        with pytest.raises(TransientError):
            await notifier.send("http://127.0.0.1:9/hook", REPLY)  # nothing listens on the discard port
        with pytest.raises(PermanentError):
            await notifier.send("ftp://127.0.0.1/hook", REPLY)
    finally:
        await notifier.close()


@pytest.mark.parametrize("url", ["ftp://example.com/x", "example.com/hook", "https://", "javascript:alert(1)",
                                 "https://example.com/" + "x" * MAX_URL_LENGTH, "https://example.com:port/x",
                                 "https://example.com/a b", "https://example.com/\x00"])
def test_only_http_urls_up_to_2048_characters_are_webhooks(url):
    with pytest.raises(WebhookUrlError) as refused:
        check_webhook_url(url)
    assert "\n" not in str(refused.value)
    assert check_webhook_url(" https://example.com/hooks/decoupler ") == "https://example.com/hooks/decoupler"
    long = "https://example.com/hooks/" + "x" * 1500  # was refused over 64 characters
    assert check_webhook_url(long) == long
