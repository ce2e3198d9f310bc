"""Slack and Discord hooks get their own payloads; URLs are recognised, masked and their addresses noted.

The fake Slack and Discord receivers listen on 127.0.0.1: the notifier recognises the two URL shapes by path
on a loopback host too (documented in bot/alerts/webhook.py: local testing and self-hosted relays)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from aiohttp import web

from bot.alerts.webhook import WebhookNotifier
from bot.alerts.webhook_bodies import DELIVERY_HEADER, SIGNATURE_HEADER
from bot.alerts.webhook_urls import HookKind, WebhookUrlError, address_note, check_webhook_url, mask_url, recognise
from bot.ports.notifier import NotConfigured
from bot.ports.reply import Reply

SECRET = "s3cret-for-tests"
SLACK_PATH = "/services/T0123ABCD/B0456EFGH/abcDEF123ghiJKL456mnoPQR7"
DISCORD_PATH = "/api/webhooks/112233445566778899/Tok3n-with_symbols.x"
TEXT = ("🔔 ETH and small caps are moving apart: the 90-day correlation regime is now decoupled (was neutral).\n"
        "Correlation 0.12, rank correlation 0.10: 5 sessions in a row in the decoupled band, since 2024-04-20.\n"
        "ETH vs RUT · 90d window · as of 2024-04-26")
REPLY = Reply(text=TEXT, chart=b"\x89PNG fake chart", chart_name="ETH-RUT-regime-20240426.png",
              data={"alert_id": 7, "kind": "regime", "pair": "ETH:RUT", "window": "90d", "as_of": "2024-04-26",
                    "value": 0.12, "text": TEXT, "delivery_ids": [41]})


class Platform:
    """Stands in for Slack's and Discord's webhook endpoints: records each request, parsed."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.base = ""

    async def handle(self, request: web.Request) -> web.Response:
        item: dict = {"path": request.path, "type": request.content_type, "headers": dict(request.headers)}
        if request.content_type == "multipart/form-data":
            reader = await request.multipart()
            parts = {}
            while (part := await reader.next()) is not None:
                parts[part.name] = {"filename": part.filename, "type": part.headers.get("Content-Type"),
                                    "data": await part.read()}  # type: ignore[union-attr]
            item["parts"] = parts
        else:
            item["json"] = await request.json()
        self.received.append(item)
        return web.Response(status=200 if request.path.startswith("/services/") else 204,
                            text="ok" if request.path.startswith("/services/") else None)


@pytest_asyncio.fixture
async def platform() -> AsyncIterator[Platform]:
    fake = Platform()
    app = web.Application()
    app.router.add_post("/{tail:.*}", fake.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    fake.base = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    try:
        yield fake
    finally:
        await runner.cleanup()


async def test_discord_gets_an_embed_with_the_chart_attached(platform: Platform):
    notifier = WebhookNotifier(None, allow_private=True)  # Discord needs no WEBHOOK_SECRET: nothing is signed for it
    try:
        await notifier.send(platform.base + DISCORD_PATH, REPLY)
        await notifier.send(platform.base + DISCORD_PATH, Reply(text="🔔 no chart\nmore", data={"kind": "record"}))
    finally:
        await notifier.close()
    with_chart, without = platform.received
    assert with_chart["type"] == "multipart/form-data" and set(with_chart["parts"]) == {"payload_json", "files[0]"}
    payload = json.loads(with_chart["parts"]["payload_json"]["data"])
    chart = with_chart["parts"]["files[0]"]
    assert chart == {"filename": "ETH-RUT-regime-20240426.png", "type": "image/png", "data": REPLY.chart}
    (embed,) = payload["embeds"]
    headline, rest = TEXT.split("\n", 1)
    assert embed["title"] == headline and embed["description"] == rest
    assert [(f["name"], f["value"]) for f in embed["fields"]] == [
        ("Kind", "regime"), ("Pair", "ETH:RUT"), ("Window", "90d"), ("As of", "2024-04-26")]
    assert embed["footer"] == {"text": "Decoupler"}
    assert embed["image"] == {"url": "attachment://ETH-RUT-regime-20240426.png"}
    assert payload["attachments"] == [{"id": 0, "filename": "ETH-RUT-regime-20240426.png"}]
    assert payload["allowed_mentions"] == {"parse": []}  # alert text never pings anyone
    assert SIGNATURE_HEADER not in with_chart["headers"] and with_chart["headers"][DELIVERY_HEADER] == "41"
    assert without["type"] == "application/json"
    assert without["json"]["embeds"][0]["title"] == "🔔 no chart" and "image" not in without["json"]["embeds"][0]


async def test_slack_gets_a_mrkdwn_text_message_with_the_numbers(platform: Platform):
    notifier = WebhookNotifier(None, allow_private=True)
    try:
        await notifier.send(platform.base + SLACK_PATH, REPLY)
        await notifier.send(platform.base + SLACK_PATH, Reply(text="🔔 a <b> & c\n", data={}))
    finally:
        await notifier.close()
    message, escaped = platform.received
    assert message["type"] == "application/json" and SIGNATURE_HEADER not in message["headers"]
    text = message["json"]["text"]
    headline, rest = TEXT.split("\n", 1)
    assert text.startswith(f"*{headline}*\n{rest}\n")
    for number in ("`regime`", "`ETH:RUT`", "`90d`", "`2024-04-26`", "`0.12`", "0.10"):
        assert number in text
    assert message["json"]["mrkdwn"] is True and "files" not in message["json"]
    assert escaped["json"]["text"] == "*🔔 a &lt;b&gt; &amp; c*"


async def test_other_urls_keep_the_signed_generic_format(platform: Platform):
    notifier = WebhookNotifier(SECRET, allow_private=True)
    try:
        await notifier.send(platform.base + "/hooks/decoupler", REPLY)
        with pytest.raises(NotConfigured, match="WEBHOOK_SECRET"):
            await WebhookNotifier(None, allow_private=True).send(platform.base + "/hooks/decoupler", REPLY)
    finally:
        await notifier.close()
    (generic,) = platform.received
    assert generic["type"] == "multipart/form-data" and set(generic["parts"]) == {"alert", "chart"}
    assert generic["headers"][SIGNATURE_HEADER].startswith("sha256=")


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("https://hooks.slack.com/services/T0123ABCD/B0456EFGH/abcDEF123ghiJKL456mnoPQR7", HookKind.SLACK),
        ("https://discord.com/api/webhooks/112233445566778899/Tok3n", HookKind.DISCORD),
        ("https://discordapp.com/api/webhooks/1/t", HookKind.DISCORD),
        ("https://ptb.discord.com/api/webhooks/1/t", HookKind.DISCORD),
        ("https://canary.discord.com/api/v10/webhooks/1/t?thread_id=9", HookKind.DISCORD),
        ("https://example.com/services/T0123/B0456/abc", HookKind.GENERIC),  # the shape alone, on another host
        ("https://example.com/api/webhooks/1/t", HookKind.GENERIC),
        ("http://127.0.0.1:8080/services/T0123/B0456/abc", HookKind.SLACK),  # loopback: tests and relays
        ("http://localhost:8080/api/webhooks/1/t", HookKind.DISCORD),
        ("http://[::1]:8080/api/webhooks/1/t", HookKind.DISCORD),
        ("http://127.0.0.1:8080/hooks/decoupler", HookKind.GENERIC),
    ],
)
def test_slack_and_discord_urls_are_recognised_by_host_and_path(url, kind):
    assert recognise(check_webhook_url(url, allow_private=True)) is kind


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://hooks.slack.com/workflows/T1/A1/1/x", "hooks.slack.com/services/T…/B…/…"),
        ("http://hooks.slack.com/services/T1/B1/x", "https:// only"),
        ("https://discord.com/channels/1/2", "discord.com/api/webhooks/<id>/<token>"),
        ("https://discord.com/api/webhooks/not-a-number/t", "discord.com/api/webhooks/<id>/<token>"),
    ],
)
def test_slack_and_discord_urls_that_are_not_webhooks_are_refused_in_one_line(url, message):
    with pytest.raises(WebhookUrlError, match=message):
        check_webhook_url(url)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://hooks.slack.com/services/T0123ABCD/B0456EFGH/abcDEF123ghiJKL456mnoPQR7",
         "https://hooks.slack.com/services/T0123ABCD/***"),
        ("https://discord.com/api/webhooks/112233445566778899/Tok3n-abc",
         "https://discord.com/api/webhooks/112233445566778899/***"),
        ("https://ops:hunter2@example.com/hook", "https://ops:***@example.com/hook"),
        ("https://apikey123@example.com/hook", "https://***@example.com/hook"),
        ("https://example.com/hook?token=abc&pair=ETH", "https://example.com/hook?token=***&pair=ETH"),
        ("https://example.com/hooks/decoupler", "https://example.com/hooks/decoupler"),
    ],
)
def test_secrets_in_urls_are_masked(url, shown):
    assert mask_url(url) == shown


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://169.254.169.254/latest/meta-data", "169.254.169.254 is a link-local address (cloud metadata"),
        ("http://127.0.0.1:8080/hook", "127.0.0.1 is a loopback address"),
        ("http://localhost:8080/hook", "localhost is a loopback address"),
        ("http://[::1]/hook", "::1 is a loopback address"),
        ("http://10.1.2.3/hook", "10.1.2.3 is a private address"),
        ("http://172.16.0.9/hook", "172.16.0.9 is a private address"),
        ("http://192.168.1.20/hook", "192.168.1.20 is a private address"),
        ("http://[fd12:3456::1]/hook", "fd12:3456::1 is a unique-local address"),
        ("http://2130706433/hook", "2130706433 is a loopback address"),  # 127.0.0.1 as one number
        ("http://0x7f000001/hook", "0x7f000001 is a loopback address"),  # and in hex
        ("http://127.1/hook", "127.1 is a loopback address"),
        ("http://[::ffff:127.0.0.1]:9/hook", "::ffff:127.0.0.1 is a loopback address"),
        ("http://[::ffff:169.254.169.254]/", "is a link-local address"),
        ("http://0.0.0.0:8080/hook", "0.0.0.0 is the unspecified address"),
        ("http://100.64.0.1/hook", "100.64.0.1 is a shared address"),
        ("http://[fe80::1]/hook", "fe80::1 is a link-local address"),
        ("http://192.0.2.1/hook", "192.0.2.1 is a reserved address"),
    ],
)
def test_local_and_private_addresses_are_refused_unless_allowed_and_then_noted(url, words):
    with pytest.raises(WebhookUrlError) as refused:
        check_webhook_url(url)  # today: accepted, with a note
    assert words in str(refused.value) and str(refused.value).endswith("set ALLOW_PRIVATE_WEBHOOKS=1 to allow it")
    assert check_webhook_url(url, allow_private=True) == url
    note = address_note(url)
    assert note is not None and words in note and note.startswith("note: ") and "\n" not in note
    assert note.endswith("make sure that is what you mean")


@pytest.mark.parametrize("url", ["https://example.com/hook", "https://8.8.8.8/hook", "https://metadata.internal/x"])
def test_public_addresses_and_names_get_no_note(url):
    assert address_note(url) is None  # names are not looked up
    assert check_webhook_url(url) == url  # a name is checked when a request goes out, on what it resolves to
