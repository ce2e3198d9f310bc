"""Every command of the table through the real PTB code path, against the fake Bot API."""

from __future__ import annotations

import html
import re

import pytest

from bot.ports.services import Services
from bot.sending.ratelimit import PlatformLimiter
from bot.store import Store
from handlers.commands import COMMANDS
from handlers.telegram.format import CAPTION_LIMIT, TEXT_LIMIT, tg_len
from tests.telegram import updates
from tests.telegram.conftest import FAST_LIMITS, Harness, make_transport
from tests.telegram.fake_bot_api import BOT_USER, FakeBotAPI

# Commands whose happy path needs arguments; the others are sent bare.
HAPPY = {
    "help": "/help corr",
    "set": "/set window 30d",
    "quiet": "/quiet 22:00-07:00",
    "tz": "/tz Europe/Berlin",
    "digest": "/digest on",
    "unsubscribe": "/unsubscribe all",
}
FAILURE_WORDS = ("Usage:", "Unknown command", "Something went wrong", "isn't open")


def shown_text(html_text: str) -> str:
    return html.unescape(re.sub(r"</?b>", "", html_text))


@pytest.mark.parametrize("name", list(COMMANDS))
async def test_every_command_answers(harness: Harness, name: str) -> None:
    calls = await harness.command(HAPPY.get(name, f"/{name}"))
    sends = [c for c in calls if c.method in ("sendMessage", "sendPhoto")]
    assert sends, f"/{name} sent nothing: {[c.method for c in calls]}"
    assert all(c.status == 200 for c in sends)
    if COMMANDS[name].chart:  # progress (if the reply took a moment) first; a chart as a photo
        actions = [c for c in calls if c.method == "sendChatAction"]
        assert all(c.params["action"] == "upload_photo" for c in actions)
        assert calls.index(actions[0]) < calls.index(sends[0]) if actions else True
        first = sends[0]
        if first.method == "sendPhoto":
            assert first.files["photo"].startswith(b"\x89PNG")
            assert tg_len(first.params["caption"]) <= CAPTION_LIMIT and first.params["parse_mode"] == "HTML"
        text = first.params.get("caption") or first.params["text"]
    else:
        assert all(c.method == "sendMessage" and tg_len(c.params["text"]) <= TEXT_LIMIT for c in sends)
        assert "sendChatAction" not in [c.method for c in calls]
        text = sends[0].params["text"]
    assert text.startswith("<b>") and len(shown_text(text)) > 20
    assert not any(word in shown_text(text) for word in FAILURE_WORDS), shown_text(text)


@pytest.mark.parametrize("name", ["corr", "chart"])
async def test_chart_commands_answer_with_a_photo(harness: Harness, name: str) -> None:
    calls = await harness.command(f"/{name} 1y BTC QQQ")
    assert [c.method for c in calls] == ["sendChatAction", "sendPhoto"]


async def test_no_chat_action_while_replies_wait_for_the_rate_limit(services: Services, fake: FakeBotAPI) -> None:
    limiter = PlatformLimiter(FAST_LIMITS)
    transport = make_transport(services, limiter=limiter)  # progress shown at once, when there is room
    async with transport.app:
        limiter.pause(0.2)  # the global limit is busy: a chat action would take a reply's slot
        calls = await Harness(transport, fake).command("/corr 1y BTC QQQ")
    assert [c.method for c in calls] == ["sendPhoto"]


async def test_corr_photo_has_the_window_buttons(harness: Harness) -> None:
    calls = await harness.command("/corr 90d BTC SPY")
    (photo,) = [c for c in calls if c.method == "sendPhoto"]
    rows = photo.params["reply_markup"]["inline_keyboard"]
    datas = [b["callback_data"] for row in rows for b in row]
    assert "c|/corr 1y BTC SPY" in datas and "c|/corr 90d SPY BTC" in datas
    assert all(len(d.encode()) <= 64 for d in datas)
    assert "BTC" in photo.params["caption"]


@pytest.mark.parametrize("text, expected", [
    ("/corr 90x", "Usage: /corr"),
    ("/corr 90d DOGE", "Unknown ticker"),
    ("/corr " + "9" * 3994, "too long"),
    ("/help <script>", "No command /<script>"),
    ("/corrr 90d", "Did you mean /corr?"),
])
async def test_bad_input_gets_a_short_text_answer(harness: Harness, text: str, expected: str) -> None:
    calls = await harness.command(text)
    assert [c.method for c in calls] == ["sendMessage"] or [c.method for c in calls][-1] == "sendMessage"
    sent = calls[-1].params["text"]
    assert expected in shown_text(sent)
    assert "<script>" not in sent  # escaped, never markup
    assert "sendPhoto" not in [c.method for c in calls]


async def test_commands_addressed_to_another_bot_are_ignored(harness: Harness) -> None:
    group = updates.group_chat()
    assert await harness.command("/corr@OtherBot 90d", group) == []
    assert await harness.command("/help@OtherBot", group) == []
    assert await harness.command("/frobnicate", group) == []  # maybe another bot's: not our business
    calls = await harness.command(f"/corr@{BOT_USER['username']} 90d", group)
    assert "sendPhoto" in [c.method for c in calls]
    calls = await harness.command(f"/frobnicate@{BOT_USER['username']}", group)
    assert "Unknown command" in calls[-1].params["text"]


async def test_group_replies_quote_the_command(harness: Harness) -> None:
    group = updates.group_chat()
    update = updates.command("/assets", group)
    calls = await harness.process(update)
    assert calls[-1].params["reply_parameters"]["message_id"] == update["message"]["message_id"]
    private = await harness.command("/assets")
    assert "reply_parameters" not in private[-1].params


async def test_channel_posts_are_answered_in_the_channel(harness: Harness) -> None:
    channel = updates.channel_chat()
    calls = await harness.command("/corr 30d", channel, sender=None, sender_chat=channel)
    (photo,) = [c for c in calls if c.method == "sendPhoto"]
    assert photo.chat_id == str(channel["id"])


async def test_each_command_records_its_chat(harness: Harness, store: Store) -> None:
    group = updates.group_chat(title="Macro desk")
    await harness.command("/beta", group)
    chat = await store.get_chat("telegram", str(group["id"]))
    assert chat is not None and chat.title == "Macro desk" and chat.kind.value == "group"
    await harness.command("/regime")
    assert await store.get_chat("telegram", str(updates.ADA["id"])) is not None


async def test_start_subscribe_deep_link_subscribes_in_one_tap(harness: Harness, store: Store) -> None:
    calls = await harness.command("/start subscribe")
    assert "Subscribed this chat" in shown_text(calls[-1].params["text"])
    chat = await store.get_chat("telegram", str(updates.ADA["id"]))
    assert chat is not None
    assert [s.pair for s in await store.list_subscriptions(chat)] == ["ETH:RUT"]


async def test_long_replies_are_split_and_captions_overflow_into_messages(harness: Harness) -> None:
    from bot.ports.reply import Button, Reply

    png = (await harness.command("/corr 90d"))[-1].files["photo"]
    long_text = "Headline <with markup>\n" + "\n".join(f"row {n}: " + "x & y " * 20 for n in range(80))
    notifier = harness.transport.notifier
    start = len(harness.fake.calls)
    await notifier.send("1001", Reply(text=long_text, chart=png, buttons=[[Button("1y", "/corr 1y")]]))
    photo, *rest = harness.fake.calls[start:]
    assert photo.method == "sendPhoto" and tg_len(photo.params["caption"]) <= CAPTION_LIMIT
    assert photo.params["caption"].startswith("<b>Headline &lt;with markup&gt;</b>")
    assert "reply_markup" in photo.params
    assert rest and all(c.method == "sendMessage" and tg_len(c.params["text"]) <= TEXT_LIMIT for c in rest)
    start = len(harness.fake.calls)
    await notifier.send("1001", Reply(text=long_text * 3, buttons=[[Button("1y", "/corr 1y")]]))
    texts = harness.fake.calls[start:]
    assert len(texts) >= 3 and all(tg_len(c.params["text"]) <= TEXT_LIMIT for c in texts)
    assert "reply_markup" in texts[-1].params and all("reply_markup" not in c.params for c in texts[:-1])
    joined = shown_text("\n".join(c.params["text"] for c in texts))
    assert re.sub(r"\s+", "", joined) == re.sub(r"\s+", "", long_text * 3)


async def test_a_quick_chart_shows_no_upload_status(services, fake) -> None:
    """With the production delay, a reply that is ready at once (a cached chart) sends no chat action."""
    from tests.telegram.conftest import make_transport

    transport = make_transport(services, chat_action_delay=30)
    async with transport.app:
        calls = await Harness(transport, fake).command("/corr 90d")
    assert [c.method for c in calls] == ["sendPhoto"]
