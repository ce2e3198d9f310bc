"""Telegram when things go wrong, and alerts delivered by `python -m bot alerts --run-once` through the Bot API:
a 429 pauses the chat it answered (everything only when several chats get one at once), a reply to a chat that
no longer exists marks it gone, a 502 is tried once more, a slow answer is neither repeated nor apologised for."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from bot.ports.reply import Reply
from bot.ports.services import Services
from bot.sending.ratelimit import TELEGRAM_LIMITS, PlatformLimiter
from bot.store import Store
from tests.telegram import updates
from tests.telegram.conftest import Harness, make_transport
from tests.telegram.fake_bot_api import TOKEN, FakeBotAPI

ROOT = Path(__file__).resolve().parents[2]
CHAT_A, CHAT_B = updates.private_chat(updates.user(4101)), updates.private_chat(updates.user(4102))


async def test_a_429_for_one_chat_pauses_that_chat_only(services: Services, fake: FakeBotAPI) -> None:
    transport = make_transport(services, limiter=PlatformLimiter(TELEGRAM_LIMITS))
    async with transport.app:
        harness = Harness(transport, fake)
        fake.fail_flood("sendMessage", retry_after=90, chat_id=CHAT_A["id"])  # longer than a reply waits
        await harness.command("/help", CHAT_A, updates.user(4101))
        calls = await harness.command("/help", CHAT_B, updates.user(4102))
        assert [(c.method, c.status) for c in calls] == [("sendMessage", 200)]
        assert transport.limiter.paused_for == 0  # nobody else waits for chat A's 429
        assert transport.limiter.chat_paused_for(str(CHAT_A["id"])) > 0
        # 429s for three different chats within a second: the bot's own limit — everything pauses
        await asyncio.sleep(1.1)  # chat A's 429 is more than a second old now: only these three count
        for chat in (5001, 5002, 5003):
            fake.fail_flood("sendMessage", retry_after=20, chat_id=chat)
        results = await asyncio.gather(*(transport.notifier.send(str(c), Reply(text="alert"))
                                         for c in (5001, 5002, 5003)), return_exceptions=True)
        assert all(type(r).__name__ == "RetryLater" for r in results)
        assert transport.limiter.paused_for > 15  # for the longest retry_after among them


async def test_a_reply_to_a_chat_that_no_longer_exists_marks_it_gone(harness: Harness, store: Store) -> None:
    chat = updates.private_chat(updates.user(4201))
    await harness.command("/start", chat, updates.user(4201))
    harness.fake.fail("sendMessage", 400, "Bad Request: chat not found", chat_id=chat["id"])
    calls = await harness.command("/help", chat, updates.user(4201))
    assert [(c.method, c.status) for c in calls] == [("sendMessage", 400)]  # no apology sent after it
    row = await store.get_chat("telegram", str(chat["id"]))
    assert row is not None and not row.active and row.inactive_reason == "chat not found"


async def test_a_reply_that_meets_a_502_is_sent_once_more(harness: Harness) -> None:
    harness.fake.fail_server("sendMessage", 502)
    calls = await harness.command("/help")
    assert [(c.method, c.status) for c in calls] == [("sendMessage", 502), ("sendMessage", 200)]


async def test_a_slow_answer_is_neither_repeated_nor_apologised_for(services: Services, fake: FakeBotAPI) -> None:
    transport = make_transport(services, read_timeout=0.5)
    async with transport.app:
        harness = Harness(transport, fake)
        fake.slow("sendMessage", 1.5)  # the answer arrives at Telegram, just after the client gave up on it
        calls = await harness.command("/help")
    assert [c.method for c in calls] == ["sendMessage"]


async def test_run_once_delivers_an_alert_to_60_chats_through_the_bot_api(
    harness: Harness, fake: FakeBotAPI, tmp_path: Path
) -> None:
    chats = [updates.private_chat(updates.user(8000 + i)) for i in range(60)]
    for chat in chats:
        await harness.command("/subscribe", chat, updates.user(chat["id"]))
    fake.enforce_limits = True  # Telegram's 30/s and 1/s per chat, from here on
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DISCORD_", "DATABASE_", "WEBHOOK_"))}
    env.update({
        "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE_URL": fake.base_url, "MARKET_DATA": "snapshot",
        "DATABASE_URL": f"sqlite:///{tmp_path}/telegram.sqlite3", "CHART_DIR": str(tmp_path / "charts"),
        "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg",
    })

    async def run_once() -> str:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "alerts", "--run-once", "--as-of", "2024-04-26", cwd=tmp_path, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        out, err = await process.communicate()
        assert process.returncode == 0, err.decode()[-3000:]
        return out.decode()

    printed = await run_once()
    assert fake.too_many == 0
    photos = fake.sent("sendPhoto")
    assert sorted(int(c.chat_id) for c in photos) == [c["id"] for c in chats]  # every chat, once
    assert len([c for c in photos if c.files]) == 1  # the chart is uploaded once, then sent by file_id
    assert all(c.params["caption"].startswith("<b>🔔 ETH and small caps") for c in photos)
    assert fake.too_many == 0 and "60 delivered" in printed
    again = await run_once()
    assert len(fake.sent("sendPhoto")) == 60 and "0 delivered" in again
