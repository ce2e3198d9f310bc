"""The Telegram Notifier: upload once and fan out by file_id, error mapping, 429 handling, one shared limiter."""

from __future__ import annotations

import asyncio

import pytest

from bot.ports.notifier import ChatGone, DeliveryError, PermanentError, RetryLater, TransientError
from bot.ports.reply import Button, Reply
from bot.ports.services import Services
from bot.sending.ratelimit import TELEGRAM_LIMITS, PlatformLimiter
from handlers.telegram import build_transport
from tests.telegram import updates
from tests.telegram.conftest import Harness, make_transport
from tests.telegram.fake_bot_api import FakeBotAPI

CHATS = ["2001", "2002", "-1002003", "2004", "-1002005", "2006"]


@pytest.fixture
async def chart(harness: Harness) -> bytes:
    (photo,) = [c for c in await harness.command("/corr 90d") if c.method == "sendPhoto"]
    return photo.files["photo"]


async def test_fan_out_of_one_chart_uploads_it_once(harness: Harness, chart: bytes) -> None:
    notifier = harness.transport.notifier
    alert = Reply(text="ETH decoupled from RUT\n30-day correlation fell to 0.12", chart=chart,
                  buttons=[[Button("90d", "/corr 90d ETH RUT")]])
    start = len(harness.fake.calls)
    first = await notifier.send(CHATS[0], alert)
    assert first.media_handle and first.message_id
    results = [await notifier.send(chat, alert, media=first.media_handle) for chat in CHATS[1:]]
    sends = harness.fake.calls[start:]
    assert [c.method for c in sends] == ["sendPhoto"] * len(CHATS)
    assert [c.chat_id for c in sends] == CHATS
    assert len([c for c in sends if c.files]) == 1  # one multipart upload
    assert all(c.params["photo"] == first.media_handle for c in sends[1:])
    assert all(c.params["caption"].startswith("<b>ETH decoupled from RUT</b>") for c in sends)
    assert all(r.media_handle == first.media_handle for r in results)


async def test_text_alerts_go_as_messages(harness: Harness) -> None:
    result = await harness.transport.notifier.send("2001", Reply(text="BTC vs SPY: inverse regime <since> today"))
    (call,) = harness.fake.sent("sendMessage", "2001")
    assert call.params["text"] == "<b>BTC vs SPY: inverse regime &lt;since&gt; today</b>"
    assert result.message_id == str(call.result["message_id"]) and result.media_handle is None


@pytest.mark.parametrize("status, description, error", [
    (403, "Forbidden: bot was blocked by the user", ChatGone),
    (403, "Forbidden: bot was kicked from the supergroup chat", ChatGone),
    (400, "Bad Request: chat not found", ChatGone),
    (400, "Bad Request: can't parse entities", PermanentError),
    (500, "Internal Server Error", TransientError),
    (502, "Bad Gateway", TransientError),
])
async def test_platform_errors_become_delivery_errors(
    harness: Harness, status: int, description: str, error: type[DeliveryError]
) -> None:
    harness.fake.fail("sendMessage", status, description, chat_id="2001")
    with pytest.raises(error):
        await harness.transport.notifier.send("2001", Reply(text="alert"))
    await harness.transport.notifier.send("2002", Reply(text="alert"))  # other chats unaffected


async def test_a_429_raises_retry_later_and_pauses_that_chat_in_the_shared_limiter(
    harness: Harness, chart: bytes
) -> None:
    harness.fake.fail_flood("sendPhoto", retry_after=30, chat_id="2001")
    notifier = harness.transport.notifier
    with pytest.raises(RetryLater) as raised:
        await notifier.send("2001", Reply(text="alert", chart=chart))
    assert raised.value.retry_after == 30 and raised.value.chat_only
    # That chat waits — alerts and replies alike, since they share the limiter …
    waiting = asyncio.create_task(notifier.send("2001", Reply(text="alert again")))
    # … while other chats go on.
    await notifier.send("2002", Reply(text="alert", chart=chart))
    calls = await harness.command("/assets", updates.private_chat(updates.user(2003)), updates.user(2003))
    assert [(c.method, c.status) for c in calls] == [("sendMessage", 200)]
    assert not waiting.done() and harness.transport.limiter.paused_for == 0
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)


async def test_a_reply_waits_out_a_429_and_is_sent_once_more(harness: Harness) -> None:
    harness.fake.fail_flood("sendMessage", retry_after=1)
    calls = await harness.command("/assets")
    assert [(c.method, c.status) for c in calls] == [("sendMessage", 429), ("sendMessage", 200)]


def test_one_limiter_per_transport_shared_with_its_notifier(services: Services) -> None:
    transport = build_transport(services)
    assert transport.limiter.limits == TELEGRAM_LIMITS
    assert transport.notifier.limiter is transport.limiter
    assert transport.notifier.platform == "telegram" and transport.notifier.limiter.limits == TELEGRAM_LIMITS
    assert transport.app.bot.rate_limiter is None  # no second limiter (PTB's AIORateLimiter) behind ours


async def test_real_limits_space_messages_to_one_chat(services: Services, fake: FakeBotAPI) -> None:
    transport = make_transport(services, limiter=PlatformLimiter(TELEGRAM_LIMITS))
    async with transport.app:
        notifier = transport.notifier
        await asyncio.gather(*(notifier.send(chat, Reply(text="alert")) for chat in ("3001", "3002", "3003")))
        assert len(fake.sent("sendMessage")) == 3  # different chats: no wait for one another
        second = asyncio.create_task(notifier.send("3001", Reply(text="again")))
        await asyncio.sleep(0.2)
        assert not second.done()  # 1 message a second per chat
        await second
        assert len(fake.sent("sendMessage", "3001")) == 2


def test_retry_after_is_read_as_seconds_in_either_form() -> None:
    from datetime import timedelta

    from telegram.error import RetryAfter

    from handlers.telegram.send import retry_seconds

    assert retry_seconds(RetryAfter(7)) == 7
    assert retry_seconds(RetryAfter(timedelta(seconds=2.5))) == 2.5
