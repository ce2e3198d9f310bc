"""Fuzz of the Discord adapter: random interactions through the real discord.py client and our transport
(handlers/discord), over the gateway and REST of the fake Discord (tests/discord/fake_discord.py).

Shared by `make test` (tests/discord/test_adapter_fuzz.py, a few dozen inputs) and `make test-reliability`
(tests/reliability/test_adapter_fuzz.py, at least 500). One hypothesis example is one interaction:

- a slash command of the table with any subset of its options, named and in any order (discord.py binds them by
  name), typed — integers (in and out of the declared range), the declared
  choices (and stale ones), and for every other option the words of the command-layer fuzz
  (tests/reliability/command_fuzz.py), arbitrary unicode and long free text — or a command the table no longer
  has; in a server channel by a member, a moderator (Manage Channels) or the owner, with or without the bot's
  Embed Links, Attach Files or Send Messages permissions, or in a DM;
- an autocomplete of any option of a command with anything typed so far;
- a button press on a message the bot sent earlier in the run: one of its own buttons, or a forged custom_id.

Whatever comes in: the interaction is acknowledged (one accepted callback within Discord's 3 s, and a deferred
answer filled), every REST call accepted (the fake refuses what breaks Discord's limits), every message within
them (checked here too: 2,000 characters of content, 4,096 of an embed description, 256 of a title, 25 fields of
at most 1,024, 6,000 in all; 5 rows of 5 buttons, labels of 80, custom_ids of 100; autocomplete: at most 25
choices, names and values of 1 to 100 characters), no generic apology, no ERROR record or traceback in the log.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import event
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from bot.app import App
from bot.ports.services import Services
from bot.store import open_store
from handlers.discord.slash import MANAGE_CHANNELS
from handlers.discord.transport import DiscordTransport
from handlers.registry import COMMANDS, ChatContext, Option, OptionKind
from tests.discord.conftest import discord_settings, make_transport
from tests.discord.fake_constants import (
    APPLICATION_COMMAND_AUTOCOMPLETE_RESULT,
    ATTACH_FILES,
    AUTOCOMPLETE,
    CHANNEL_ID,
    DEFAULT_APP_PERMISSIONS,
    DEFAULT_MEMBER_PERMISSIONS,
    DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE,
    EMBED_LINKS,
    MESSAGE_COMPONENT,
    OWNER_ID,
    SEND_MESSAGES,
    USER_ID,
)
from tests.discord.fake_discord import FakeDiscord
from tests.discord.fake_records import Call, FakeInteraction, FakeMessage
from tests.reliability.adapter_checks import APOLOGY, LogCatcher, catching_logs, command_name, weighted
from tests.reliability.command_fuzz import SPECIAL, _pools, argument, keep_short
from tests.telegram.conftest import services_with

MODERATOR = USER_ID + 7
USERS = {"member": USER_ID, "moderator": MODERATOR, "owner": OWNER_ID}
APP_PERMISSIONS = {
    "all": DEFAULT_APP_PERMISSIONS,
    "no_embed": DEFAULT_APP_PERMISSIONS & ~EMBED_LINKS,
    "no_files": DEFAULT_APP_PERMISSIONS & ~ATTACH_FILES,
    "no_send": DEFAULT_APP_PERMISSIONS & ~SEND_MESSAGES,
}
STALE_COMMANDS = ["alerts", "correlation", "oldcorr"]  # synced once, since gone from the table
CONTENT_LIMIT, TITLE_LIMIT, DESCRIPTION_LIMIT, FIELDS_LIMIT, FIELD_NAME_LIMIT, FIELD_VALUE_LIMIT = (
    2000, 256, 4096, 25, 256, 1024)
FOOTER_LIMIT, EMBEDS_TOTAL_LIMIT, CHOICES_LIMIT, CHOICE_LIMIT, LABEL_LIMIT, CUSTOM_ID_LIMIT = (
    2048, 6000, 25, 100, 80, 100)
ANSWER_TIMEOUT = 60.0  # seconds an input may take on a loaded machine before the run calls it hung
# Answers slower than this are deferred, then followed up (the transport's default is 2 s): a second earlier,
# so that a busy machine never pushes a defer past Discord's 3 s, and more inputs take the deferred path.
ACK_AFTER = 1.0


# ---------------------------------------------------------------- inputs


@dataclass(frozen=True)
class Where:
    """A server channel (`user`: member, moderator or owner; the bot's `permissions` there) or a DM."""

    dm: bool = False
    user: str = "member"
    permissions: str = "all"


@dataclass(frozen=True)
class Slash:
    name: str
    options: tuple[tuple[str, str | int], ...]
    where: Where = field(default_factory=Where)


@dataclass(frozen=True)
class Autocomplete:
    name: str
    focused: str
    typed: str
    where: Where = field(default_factory=Where)


@dataclass(frozen=True)
class Click:
    """A press on the `pick`-th message with buttons (modulo how many there are): its `button`-th button, or
    a forged `custom_id`."""

    pick: int
    button: int
    custom_id: str | None = None
    user: str = "member"


Input = Slash | Autocomplete | Click


def places() -> st.SearchStrategy[Where]:
    guild = st.builds(Where, st.just(False), st.sampled_from(["member", "member", "moderator", "owner"]),
                      st.sampled_from(["all"] * 6 + sorted(APP_PERMISSIONS)))
    return weighted((3, guild), (1, st.just(Where(dm=True))))


def free_text() -> st.SearchStrategy[str]:
    """Anything a person may type in a string option, long texts included (Discord allows 6,000)."""
    long = st.builds(lambda start, unit, count: (start + unit * count)[:1000], argument(),
                     st.text(min_size=1, max_size=8), st.integers(30, 1000))
    return weighted((3, argument()), (1, st.sampled_from(SPECIAL)), (1, long))


def option_value(option: Option) -> st.SearchStrategy[str | int]:
    if option.kind is OptionKind.INT:  # declared min_value 1; Discord checks it, an old sync may not have
        return weighted((3, st.integers(1, 40)), (1, st.integers(1, 2**53)), (1, st.integers(-(2**53), 0)))
    pool = _pools()[option.kind]
    if option.choices and len(option.choices) <= 25:  # declared choices: Discord sends only those (or stale)
        return weighted((6, st.sampled_from(option.choices)), (1, pool))
    return weighted((2, pool), (1, free_text()))


@st.composite
def slashes(draw: st.DrawFn, chart_one_in: int) -> Slash:
    if draw(st.sampled_from([False] * 40 + [True])):
        name = draw(st.sampled_from(STALE_COMMANDS))
        return Slash(name, (("window", draw(free_text())),), draw(places()))
    name = draw(command_name(chart_one_in))
    options = []
    for option in draw(st.permutations(COMMANDS[name].options)):  # any order: they are bound by name
        if option.required or draw(st.booleans()):
            options.append((option.name, draw(option_value(option))))
    return Slash(name, tuple(options), draw(places()))


@st.composite
def autocompletes(draw: st.DrawFn) -> Autocomplete:
    name = draw(st.sampled_from(sorted(n for n, c in COMMANDS.items() if c.options)))
    names = [o.name for o in COMMANDS[name].options]
    focused = draw(st.sampled_from([*names, *names, "nope"]))
    typed = draw(st.one_of(st.just(""), argument(), free_text()))
    return Autocomplete(name, focused, typed, draw(places()))


def clicks(chart_one_in: int) -> st.SearchStrategy[Click]:
    forged = st.one_of(
        st.builds(lambda name, args: " ".join(["c|/" + name, *args]), command_name(chart_one_in),
                  st.lists(argument(), max_size=3)),
        st.text(min_size=1, max_size=100),
        st.sampled_from(["c|", "c|/", "c|corr 30d", "c|/nope 30d", "c|/corr\n/help", "c|/unsubscribe all",
                         "c|/set window 30d", "c|/" + "é" * 97]),
    )
    users = st.sampled_from(["member", "member", "moderator", "owner"])
    own = st.builds(Click, st.integers(0, 1 << 16), st.integers(0, 24), st.none(), users)
    return weighted((3, own), (1, st.builds(Click, st.integers(0, 1 << 16), st.just(0), forged, users)))


def inputs(chart_one_in: int = 12) -> st.SearchStrategy[Input]:
    """One interaction: mostly slash commands, a fifth autocompletes, a fifth button presses."""
    return weighted((6, slashes(chart_one_in)), (2, autocompletes()), (2, clicks(chart_one_in)))


# ---------------------------------------------------------------- the harness


@dataclass
class DiscordFuzz:
    transport: DiscordTransport
    fake: FakeDiscord
    services: Services
    logs: LogCatcher
    handled: defaultdict[int, asyncio.Event] = field(default_factory=lambda: defaultdict(asyncio.Event))
    inputs: int = 0

    def track(self) -> None:
        """Know when the transport has finished with an interaction (discord.py runs each in a task)."""
        self.transport.finished = lambda interaction: self.handled[interaction.id].set()

    async def run(self, given: Input) -> None:
        """Send one interaction through the real client and check everything it caused."""
        self.inputs += 1
        self.logs.take()
        start = len(self.fake.calls)
        handle = await self._send(given)
        await self._done(handle)
        problems = acknowledged(handle)
        problems += check_calls(self.fake.calls[start:])
        problems += LogCatcher.problems(self.logs.take())
        problems += [f"the fake crashed: {exc!r}" for exc in self.fake.crashes]
        assert not problems, f"{given!r}:\n" + "\n".join(problems)
        kinds = sorted({c.kind for c in self.fake.calls[start:] if c.kind in ("followup", "webhook_message")})
        answer = handle.response.type if handle.response else None
        if currently_in_test_context():
            event(f"{type(given).__name__} -> callback type {answer}, {', '.join(kinds)}")  # in the statistics
        await self.keep_short()

    async def keep_short(self) -> None:
        """A /preview replays every subscription of its chat: keep each chat to a couple (as command_fuzz does)."""
        async def admin() -> bool:
            return True

        for channel in [CHANNEL_ID, *self.fake.dm_channels.values()]:
            await keep_short(self.services, ChatContext(platform="discord", chat_id=str(channel), chat_kind="private",
                                                        is_admin=admin))

    async def _send(self, given: Input) -> FakeInteraction:
        if isinstance(given, Slash):
            options = [{"name": name, "type": 4 if isinstance(value, int) else 3, "value": value}
                       for name, value in given.options]
            return await self.fake.command(given.name, options, **_place(given.where))
        if isinstance(given, Autocomplete):
            options = [{"name": given.focused, "type": 3, "value": given.typed}]
            return await self.fake.autocomplete(given.name, options, focused=given.focused, **_place(given.where))
        pressable = await self._pressable(own=given.custom_id is None)
        message = pressable[given.pick % len(pressable)]
        custom_id = given.custom_id or message.custom_ids[given.button % len(message.custom_ids)]
        return await self._press(message, custom_id, USERS[given.user])

    async def _pressable(self, *, own: bool) -> list[FakeMessage]:
        """The bot's messages a press may come from (with buttons, for a press of one of its own). Presses
        replace messages, often by answers without buttons: when none is left, a /beta brings a new one."""
        def found() -> list[FakeMessage]:
            return [m for m in self.fake.messages.values()
                    if not m.deleted and not m.ephemeral and not m.loading and (m.custom_ids or not own)]

        if not found():
            await self.answered(await self.fake.command("beta", {}))
        return found()

    async def answered(self, handle: FakeInteraction) -> None:
        await self._done(handle)
        assert not acknowledged(handle), handle.payload.get("data")

    async def _done(self, handle: FakeInteraction) -> None:
        """The transport is done with it (an autocomplete is answered by discord.py itself: its answer)."""
        if handle.type == AUTOCOMPLETE and (handle.payload.get("data") or {}).get("name") in COMMANDS:
            await handle.wait_response(ANSWER_TIMEOUT)
        else:
            await asyncio.wait_for(self.handled[handle.id].wait(), ANSWER_TIMEOUT)

    async def _press(self, message: FakeMessage, custom_id: str, user_id: int) -> FakeInteraction:
        """Like FakeDiscord.press, for any custom_id (a forged one too)."""
        data = {"custom_id": custom_id, "component_type": 2}
        dm_user = next((u for u, c in self.fake.dm_channels.items() if c == message.channel_id), None)
        if dm_user is not None:
            return await self.fake.interaction(MESSAGE_COMPONENT, data, message=message, dm=True, user_id=dm_user)
        return await self.fake.interaction(MESSAGE_COMPONENT, data, message=message, channel_id=message.channel_id,
                                           user_id=user_id)


def _place(where: Where) -> dict[str, Any]:
    if where.dm:
        return {"dm": True, "user_id": USER_ID}
    return {"user_id": USERS[where.user], "app_permissions": APP_PERMISSIONS[where.permissions]}


# ---------------------------------------------------------------- checks


def acknowledged(handle: FakeInteraction) -> list[str]:
    """One accepted callback (in time), and a deferred answer filled."""
    problems = []
    if handle.response is None:
        problems.append("the interaction was never acknowledged")
    if handle.rejected:
        problems.append(f"callbacks refused (status, code): {handle.rejected}")
    if handle.response is not None and handle.response.type == DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE:
        original = handle.original
        private = original is not None and original.deleted and any(m.ephemeral for m in handle.followups)
        if (original is None or original.loading) and not private:
            problems.append("deferred, and the answer never came")
        if original is not None and not original.deleted and not original.ephemeral and original.content \
                and not original.embeds and "Usage:" in original.content:
            problems.append("an error filled a public defer")
    return problems


def _message_problems(where: str, payload: dict[str, Any]) -> list[str]:
    problems = []
    content = payload.get("content") or ""
    texts = [content]
    if len(content) > CONTENT_LIMIT:
        problems.append(f"{where}: content of {len(content)} characters")
    embeds = payload.get("embeds") or []
    total = 0
    for embed in embeds:
        title, description = embed.get("title") or "", embed.get("description") or ""
        footer = (embed.get("footer") or {}).get("text") or ""
        fields = embed.get("fields") or []
        texts += [title, description, footer, *(f"{f.get('name')} {f.get('value')}" for f in fields)]
        total += len(title) + len(description) + len(footer)
        if len(title) > TITLE_LIMIT:
            problems.append(f"{where}: embed title of {len(title)} characters")
        if len(description) > DESCRIPTION_LIMIT:
            problems.append(f"{where}: embed description of {len(description)} characters")
        if len(footer) > FOOTER_LIMIT:
            problems.append(f"{where}: embed footer of {len(footer)} characters")
        if len(fields) > FIELDS_LIMIT:
            problems.append(f"{where}: {len(fields)} embed fields")
        for embed_field in fields:
            name, value = str(embed_field.get("name") or ""), str(embed_field.get("value") or "")
            total += len(name) + len(value)
            if not name or not value or len(name) > FIELD_NAME_LIMIT or len(value) > FIELD_VALUE_LIMIT:
                problems.append(f"{where}: embed field of {len(name)}/{len(value)} characters")
    if total > EMBEDS_TOTAL_LIMIT:
        problems.append(f"{where}: embeds of {total} characters in all")
    rows = payload.get("components") or []
    if len(rows) > 5 or any(len(row.get("components") or []) > 5 for row in rows):
        problems.append(f"{where}: more than 5 rows of 5 components")
    for row in rows:
        for button in row.get("components") or []:
            if not 1 <= len(button.get("label") or "") <= LABEL_LIMIT:
                problems.append(f"{where}: button label {button.get('label')!r}")
            if not 1 <= len(button.get("custom_id") or "") <= CUSTOM_ID_LIMIT:
                problems.append(f"{where}: custom_id {button.get('custom_id')!r}")
    shown = "\n".join(texts)
    if APOLOGY in shown:
        problems.append(f"{where}: the generic apology: {shown[:300]!r}")
    if "Traceback" in shown:
        problems.append(f"{where}: a traceback: {shown[:300]!r}")
    return problems


def _choice_problems(choices: list[dict[str, Any]]) -> list[str]:
    problems = []
    if len(choices) > CHOICES_LIMIT:
        problems.append(f"autocomplete: {len(choices)} choices")
    for choice in choices:
        name, value = str(choice.get("name") or ""), str(choice.get("value") or "")
        if not 1 <= len(name) <= CHOICE_LIMIT or not 1 <= len(value) <= CHOICE_LIMIT:
            problems.append(f"autocomplete: a choice of {len(name)}/{len(value)} characters: {choice!r:.300}")
    return problems


def check_calls(calls: list[Call]) -> list[str]:
    """The REST calls the bot made for one input: accepted, and within Discord's limits."""
    problems = []
    for call in calls:
        if call.status >= 400:
            problems.append(f"{call.route} refused with {call.status}: {str(call.response or '')[:300]}")
        body = call.json if isinstance(call.json, dict) else None
        if body is None:
            continue
        if call.kind == "callback":
            data = body.get("data") or {}
            if body.get("type") == APPLICATION_COMMAND_AUTOCOMPLETE_RESULT:
                problems += _choice_problems(list(data.get("choices") or []))
            else:
                problems += _message_problems("callback", data)
        elif call.kind in ("followup", "webhook_message", "send", "message"):
            problems += _message_problems(call.kind, body)
    return problems


# ---------------------------------------------------------------- set-up

# Answers with buttons and without charts (a first chart imports matplotlib: a second and more)
SEED: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("beta", {"window": "90d"}, {}),
    ("subscribe", {"asset": "BTC", "benchmark": "SPY"}, {"user_id": MODERATOR}),
    ("div", {"window": "1y", "asset": "BTC"}, {"dm": True}),
    ("start", {}, {}),
]


@asynccontextmanager
async def discord_fuzz(tmp_path: Path, shared: Services | None = None) -> AsyncIterator[DiscordFuzz]:
    """The real transport, connected to the fake Discord (one server, a member, a moderator with Manage Channels,
    the owner), over a SQLite file store and the bundled snapshot (the market data, analysis and chart cache of
    `shared`, if given); a few messages with buttons already sent, so presses have something to press."""
    async with FakeDiscord() as fake:
        fake.add_guild(members={USER_ID: DEFAULT_MEMBER_PERMISSIONS,
                                MODERATOR: DEFAULT_MEMBER_PERMISSIONS | MANAGE_CHANNELS})
        settings = discord_settings(fake, tmp_path)
        store = await open_store(settings.database_url)
        try:
            services = services_with(settings, store, shared) if shared else App(settings, store=store).services
            transport = make_transport(services, ack_after=ACK_AFTER)
            with catching_logs() as logs:
                await transport.start()
                try:
                    harness = DiscordFuzz(transport, fake, services, logs)
                    harness.track()
                    for name, options, place in SEED:
                        await harness.answered(await fake.command(name, options, **place))
                    assert not LogCatcher.problems(logs.take())
                    yield harness
                finally:
                    await transport.stop()
        finally:
            await store.close()
