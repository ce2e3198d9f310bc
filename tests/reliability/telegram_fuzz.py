"""Fuzz of the Telegram adapter: random updates through the real python-telegram-bot Application and our
transport (handlers/telegram), answered through the fake Bot API (tests/telegram/fake_bot_api.py).

Shared by `make test` (tests/telegram/test_adapter_fuzz.py, a few dozen inputs) and `make test-reliability`
(tests/reliability/test_adapter_fuzz.py, at least 500). One hypothesis example is one update:

- a message: a command text as the command-layer fuzz draws it (tests/reliability/command_fuzz.py), plain
  text, a deep link, an over-long text; in a private chat, a group where the sender is an admin or not, from
  an anonymous admin, or a channel post; sometimes an edit of an earlier message (never answered again);
- a button press on a message the bot sent earlier in the run: one of its own buttons, forged or stale
  callback data, or a message Telegram no longer shows (an inaccessible message);
- the bot added to or removed from a chat.

Whatever comes in: no unhandled exception (no ERROR record, no traceback in the log, no warning of ours), no
generic apology, every Bot API call accepted, every message within Telegram's limits (4,096 characters of text,
1,024 of a caption, counted as Telegram counts them after parsing the HTML, which must parse), callback data
within 64 bytes, every button press answered exactly once (answerCallbackQuery, at most 200 characters), and
every command addressed to the bot answered; nothing sent for what is not addressed to it.
"""

from __future__ import annotations

import html
import itertools
import json
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import event
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from telegram import Update

from bot.app import App
from bot.ports.services import Services
from bot.store import open_store
from handlers.registry import COMMANDS, ChatContext
from handlers.telegram.format import CAPTION_LIMIT, TEXT_LIMIT, tg_len
from handlers.telegram.transport import TelegramTransport
from tests.reliability.adapter_checks import (
    APOLOGY,
    LogCatcher,
    catching_logs,
    command_name,
    command_words,
    weighted,
)
from tests.reliability.command_fuzz import SPECIAL, argument, keep_short
from tests.telegram import updates
from tests.telegram.conftest import make_transport, services_with, telegram_settings
from tests.telegram.fake_bot_api import BOT_USER, Call, FakeBotAPI

BOT_NAME = str(BOT_USER["username"])
CALLBACK_ANSWER_LIMIT = 200
CALLBACK_DATA_LIMIT = 64

ADA, BOB, ANONYMOUS = updates.ADA, updates.BOB, updates.ANONYMOUS_ADMIN
CHATS: dict[str, dict[str, Any]] = {
    "ada": updates.private_chat(ADA),
    "bob": updates.private_chat(BOB),
    "admins": updates.group_chat(-1001000000001, "Ada's group", "supergroup"),  # Ada is an administrator
    "traders": updates.group_chat(-1001000000002, "Traders", "group"),  # elsewhere, Ada and Bob are members
    "channel": updates.channel_chat(-1001000000003, "Signals"),
    "forum": {**updates.group_chat(-1001000000004, "Forum", "supergroup"), "is_forum": True},  # topics
}
TOPIC = 7  # the forum's topic the messages there are posted in
SENDERS = {"ada": ADA, "bob": BOB}
# A command head Telegram marks as a bot_command entity: /name or /name@bot, ASCII letters, digits and _
_COMMAND_HEAD = re.compile(r"/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{1,32})?")
_ALLOWED_TAGS = re.compile(r"</?(?:b|i|u|s|code|pre)>")
_ENTITY = re.compile(r"&(?:amp|lt|gt|quot|#\d+|#x[0-9a-fA-F]+);")
_updates = itertools.count(5_000_000)
_message_ids = itertools.count(1_000_000)


# ---------------------------------------------------------------- inputs


@dataclass(frozen=True)
class Post:
    """A message (or a channel post) with `text`, in `chat`, from `sender` ("ada", "bob", "anonymous" — the
    group itself — or "" for a channel). `edited`: an edit of an earlier message."""

    text: str
    chat: str
    sender: str
    edited: bool = False


@dataclass(frozen=True)
class Press:
    """A button press by `presser` on the `pick`-th message the bot sent with buttons (modulo how many it
    has sent). `data`: the callback data; None presses the `button`-th of the message's own buttons.
    `inaccessible`: Telegram no longer shows the message (too old or deleted)."""

    presser: str
    pick: int
    button: int
    data: str | None = None
    inaccessible: bool = False


@dataclass(frozen=True)
class Membership:
    """The bot's status in `chat` changed from `old` to `new` (my_chat_member)."""

    chat: str
    old: str
    new: str


Input = Post | Press | Membership


@st.composite
def command_message(draw: st.DrawFn, chart_one_in: int) -> str:
    name = draw(command_name(chart_one_in))
    head = draw(st.sampled_from([f"/{name}"] * 6 + [f"/{name.upper()}", f"/{name}@{BOT_NAME}",
                                                    f"/{name}@DecouplerBot", name]))
    words = draw(command_words(name))
    separator = draw(st.sampled_from([" "] * 4 + ["  ", "\t", "\n", " , "]))
    return separator.join([head, *words])


def message_texts(chart_one_in: int) -> st.SearchStrategy[str]:
    commands = command_message(chart_one_in)
    unknown = st.builds(lambda word, args: " ".join([f"/{word}", *args]),
                        st.sampled_from(["nope", "corrr", "subscribe_all", "x" * 40, "start_", "h"]),
                        st.lists(argument(), max_size=2))
    deep_links = st.sampled_from(["/start subscribe", "/start SUBSCRIBE", f"/start@{BOT_NAME} subscribe",
                                  "/start unknown-payload", "/start subscribe extra"])
    long = st.builds(lambda text, joint, unit, count: (text + joint + unit * count)[:4096], commands,
                     st.sampled_from([" ", ""]), st.text(min_size=1, max_size=8), st.integers(40, 4096))
    junk = st.one_of(st.text(max_size=30), st.sampled_from(SPECIAL), st.just("/"), st.just("/ corr"),
                     st.builds(lambda w: "/" + w, st.text(max_size=10)))
    return weighted((12, commands), (1, unknown), (1, deep_links), (1, long), (2, junk))


def posts(chart_one_in: int) -> st.SearchStrategy[Post]:
    private = st.builds(lambda text, who, edited: Post(text, who, who, edited), message_texts(chart_one_in),
                        st.sampled_from(["ada", "bob"]), st.sampled_from([False] * 19 + [True]))
    group = st.builds(Post, message_texts(chart_one_in), st.sampled_from(["admins", "traders", "forum"]),
                      st.sampled_from(["ada", "ada", "bob", "anonymous"]), st.sampled_from([False] * 19 + [True]))
    channel = st.builds(Post, message_texts(chart_one_in), st.just("channel"), st.just(""))
    return weighted((2, private), (2, group), (1, channel))


def _forged_data(chart_one_in: int) -> st.SearchStrategy[str]:
    return st.one_of(
        command_message(chart_one_in).map(lambda text: "c|" + text),
        st.text(max_size=70),
        st.sampled_from(["c|", "c|/", "c|/corr", "c|/nope 30d", "c|corr 30d", "c|/corr\n/help", "c|/" + "é" * 30,
                         "x" * 64, "c|/unsubscribe all", "c|/set window 30d", "c|/start"]),
    )


def presses(chart_one_in: int) -> st.SearchStrategy[Press]:
    own = st.builds(Press, st.sampled_from(["ada", "bob"]), st.integers(0, 1 << 16), st.integers(0, 16))
    forged = st.builds(Press, st.sampled_from(["ada", "bob"]), st.integers(0, 1 << 16), st.just(0),
                       _forged_data(chart_one_in), st.sampled_from([False] * 9 + [True]))
    return weighted((3, own), (1, forged))


def memberships() -> st.SearchStrategy[Membership]:
    return st.builds(Membership, st.sampled_from(sorted(CHATS)),
                     st.sampled_from(["member", "administrator", "left", "kicked"]),
                     st.sampled_from(["member", "administrator", "left", "kicked"]))


def inputs(chart_one_in: int = 12) -> st.SearchStrategy[Input]:
    """One update: mostly messages, a fifth button presses, rarely a membership change."""
    return weighted((15, posts(chart_one_in)), (4, presses(chart_one_in)), (1, memberships()))


# ---------------------------------------------------------------- the harness


@dataclass
class TelegramFuzz:
    transport: TelegramTransport
    fake: FakeBotAPI
    services: Services
    logs: LogCatcher
    inputs: int = 0

    async def process(self, update: dict[str, Any]) -> list[Call]:
        start = len(self.fake.calls)
        self.fake.learn(update)
        await self.transport.app.process_update(Update.de_json(update, self.transport.app.bot))
        return self.fake.calls[start:]

    async def run(self, given: Input) -> None:
        """Feed one input through the real PTB application and check everything it caused."""
        self.inputs += 1
        self.logs.take()
        update, expect = await self._update(given)
        calls = await self.process(update)
        problems = LogCatcher.problems(self.logs.take())
        problems += check_calls(calls, self.fake)
        problems += expect(calls)
        assert not problems, f"{given!r}:\n" + "\n".join(problems)
        sent = sorted({c.method for c in calls if c.method not in ("sendChatAction", "getChatMember")})
        if currently_in_test_context():
            event(f"{type(given).__name__} -> {', '.join(sent) or 'nothing'}")  # in the statistics
        if isinstance(given, Post | Press) and any("subscribe" in str(c.params.get("text", "")).lower()
                                                   for c in calls):
            await self.keep_short()

    async def keep_short(self) -> None:
        """A /preview replays every subscription of its chat: keep each chat to a couple (as command_fuzz does)."""
        async def admin() -> bool:
            return True

        for chat in CHATS.values():
            await keep_short(self.services, ChatContext(platform="telegram", chat_id=str(chat["id"]),
                                                        chat_kind="private", is_admin=admin))

    # ------------------------------------------------------------ updates and what they should cause

    async def _update(self, given: Input) -> tuple[dict[str, Any], Any]:
        if isinstance(given, Post):
            return self._post(given)
        if isinstance(given, Press):
            return await self._press(given)
        update = updates.my_chat_member(CHATS[given.chat], given.old, given.new)
        return update, _sends_nothing

    def _post(self, post: Post) -> tuple[dict[str, Any], Any]:
        chat = CHATS[post.chat]
        sender = SENDERS.get(post.sender)
        extra: dict[str, Any] = {"message_id": next(_message_ids)}
        if post.sender == "anonymous":
            sender, extra["sender_chat"] = ANONYMOUS, chat
        elif post.chat == "channel":
            sender, extra["sender_chat"] = None, chat
        if post.chat == "forum":
            extra.update(message_thread_id=TOPIC, is_topic_message=True)
        head = _COMMAND_HEAD.match(post.text)
        extra["entities"] = [{"type": "bot_command", "offset": 0, "length": head.end()}] if head else []
        if post.edited:
            extra["edit_date"] = int(time.time())
        message = updates.message(post.text, chat, sender, **extra)
        if post.edited:
            kind = "edited_channel_post" if chat["type"] == "channel" else "edited_message"
            return {"update_id": next(_updates), kind: message}, _sends_nothing
        kind = "channel_post" if chat["type"] == "channel" else "message"
        answered = None if head is None else _answered(post.text, head.group(), chat["type"])
        topic = TOPIC if post.chat == "forum" else None
        return {"update_id": next(_updates), kind: message}, _expect_answer(answered, topic)

    async def _pressable(self, *, own: bool) -> list[dict[str, Any]]:
        """The bot's messages a press may come from (with buttons, for a press of one of its own). Presses
        replace messages, often by answers without buttons: when none is left, a /beta brings a new one."""
        def found() -> list[dict[str, Any]]:
            return [m for m in self.fake.messages.values() if m.get("reply_markup") or not own]

        if not found():
            await self.process(updates.command("/beta", CHATS["ada"], ADA))
        return found()

    async def _press(self, press: Press) -> tuple[dict[str, Any], Any]:
        pool = await self._pressable(own=press.data is None)
        message = json.loads(json.dumps(pool[press.pick % len(pool)]))
        data = press.data
        if data is None:
            buttons = [b for row in message["reply_markup"]["inline_keyboard"] for b in row]
            data = buttons[press.button % len(buttons)]["callback_data"]
        if press.inaccessible:
            message = {"chat": message["chat"], "message_id": message["message_id"], "date": 0}
        return updates.button_press(data, message, SENDERS[press.presser]), _expect_one_answer


def _answered(text: str, head: str, chat_type: str) -> bool | None:
    """Should the bot answer this command message? None: leave it open (Telegram's entity and the command
    text disagree on where the command ends, e.g. '/corr.90d')."""
    if text.split()[0] != head:
        return None
    name, _, addressee = head[1:].partition("@")
    if addressee and addressee.lower() != BOT_NAME.lower():
        return False
    return name.lower() in COMMANDS or chat_type == "private" or bool(addressee)


def _expect_answer(answered: bool | None, topic: int | None) -> Any:
    def expect(calls: list[Call]) -> list[str]:
        sent = [c for c in calls if c.method in ("sendMessage", "sendPhoto")]
        if answered and not sent:
            return [f"a command to the bot got no answer: {[c.method for c in calls]}"]
        if answered is False and sent:
            return [f"a message not for the bot was answered: {[c.method for c in calls]}"]
        elsewhere = [c.method for c in sent if c.params.get("message_thread_id") != (topic and str(topic))]
        if elsewhere:
            return [f"answered outside the topic {topic} the command came from: {elsewhere}"]
        return []

    return expect


def _sends_nothing(calls: list[Call]) -> list[str]:
    sent = [c.method for c in calls if c.method in ("sendMessage", "sendPhoto", "editMessageText",
                                                    "editMessageMedia")]
    return [f"answered what it should not: {sent}"] if sent else []


def _expect_one_answer(calls: list[Call]) -> list[str]:
    answers = [c for c in calls if c.method == "answerCallbackQuery"]
    return [] if len(answers) == 1 else [f"the press got {len(answers)} callback answers: {[c.method for c in calls]}"]


# ---------------------------------------------------------------- checks of what was sent


def shown_text(html_text: str) -> str:
    """The text Telegram shows for our HTML (what its length limits count)."""
    return html.unescape(_ALLOWED_TAGS.sub("", html_text))


def html_problems(html_text: str) -> list[str]:
    """Telegram refuses HTML it can't parse: unknown tags, unbalanced ones, a bare < or &."""
    problems = []
    rest = _ALLOWED_TAGS.sub("", html_text)
    if "<" in rest or ">" in rest:
        problems.append("a bare < or > (or an unknown tag)")
    if "&" in _ENTITY.sub("", rest):
        problems.append("a bare &")
    for tag in ("b", "i", "u", "s", "code", "pre"):
        if html_text.count(f"<{tag}>") != html_text.count(f"</{tag}>"):
            problems.append(f"unbalanced <{tag}>")
    return problems


def _text_problems(what: str, html_text: str | None, limit: int, *, required: bool) -> list[str]:
    if html_text is None:
        return [f"{what}: no text"] if required else []
    shown = shown_text(html_text)
    problems = [f"{what}: {p} in {html_text[:200]!r}" for p in html_problems(html_text)]
    if tg_len(shown) > limit:
        problems.append(f"{what}: {tg_len(shown)} characters, over Telegram's {limit}")
    if required and not shown.strip():
        problems.append(f"{what}: empty")
    if APOLOGY in shown:
        problems.append(f"{what}: the generic apology: {shown[:300]!r}")
    if "Traceback" in shown:
        problems.append(f"{what}: a traceback: {shown[:300]!r}")
    return problems


def _markup_problems(method: str, markup: Any) -> list[str]:
    if not markup:
        return []
    problems = []
    for row in markup.get("inline_keyboard", []):
        for button in row:
            data = button.get("callback_data")
            if not button.get("text"):
                problems.append(f"{method}: a button without a label")
            if data is not None and not 1 <= len(data.encode()) <= CALLBACK_DATA_LIMIT:
                problems.append(f"{method}: callback data of {len(data.encode())} bytes: {data!r}")
    return problems


def _not_modified(call: Call, fake: FakeBotAPI) -> bool:
    """An edit Telegram refused as "message is not modified" (the same button pressed twice): expected."""
    key = (str(call.params.get("chat_id")), int(call.params.get("message_id", 0)))
    message = fake.messages.get(key)
    return (call.method == "editMessageText" and call.status == 400 and message is not None
            and message.get("text") == call.params.get("text"))


def check_calls(calls: list[Call], fake: FakeBotAPI) -> list[str]:
    """Every Bot API call the bot made for one input: accepted, and within Telegram's limits."""
    problems = []
    for call in calls:
        if call.status != 200 and not _not_modified(call, fake):
            problems.append(f"{call.method} failed with {call.status}: {call.params}")
        params = call.params
        if call.method in ("sendMessage", "editMessageText"):
            problems += _text_problems(call.method, params.get("text"), TEXT_LIMIT, required=True)
        elif call.method == "sendPhoto":
            problems += _text_problems("sendPhoto caption", params.get("caption"), CAPTION_LIMIT, required=False)
        elif call.method == "editMessageMedia":
            caption = (params.get("media") or {}).get("caption")
            problems += _text_problems("editMessageMedia caption", caption, CAPTION_LIMIT, required=False)
        elif call.method == "answerCallbackQuery":
            text = params.get("text")
            if text is not None and (len(text) > CALLBACK_ANSWER_LIMIT or APOLOGY in text):
                problems.append(f"answerCallbackQuery: {text!r}")
        problems += _markup_problems(call.method, params.get("reply_markup"))
    return problems


# ---------------------------------------------------------------- set-up

# Answers with buttons and without charts (a first chart imports matplotlib: a second and more)
SEED = [("ada", "/start"), ("ada", "/beta 90d"), ("admins", "/div 1y BTC"), ("traders", "/subscriptions")]


@asynccontextmanager
async def telegram_fuzz(tmp_path: Path, shared: Services | None = None) -> AsyncIterator[TelegramFuzz]:
    """The real transport over the fake Bot API, a SQLite file store and the bundled snapshot (the market data,
    analysis and chart cache of `shared`, if given); a few messages with buttons already sent, so presses have
    something to press."""
    async with FakeBotAPI() as fake:
        fake.set_member(CHATS["admins"]["id"], ADA["id"], "administrator")
        settings = telegram_settings(fake, tmp_path)
        store = await open_store(settings.database_url)
        try:
            services = services_with(settings, store, shared) if shared else App(settings, store=store).services
            transport = make_transport(services)
            with catching_logs() as logs:
                async with transport.app:
                    harness = TelegramFuzz(transport, fake, services, logs)
                    for chat, text in SEED:
                        sender = ADA if chat != "channel" else None
                        await harness.process(updates.command(text, CHATS[chat], sender))
                    assert not LogCatcher.problems(logs.take())
                    yield harness
        finally:
            await store.close()
