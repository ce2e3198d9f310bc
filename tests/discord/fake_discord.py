"""A local stand-in for Discord's REST API and gateway (aiohttp.web on 127.0.0.1, a free port).

The real discord.py client talks to it: point `discord.http.Route.BASE` at `fake.api_base` and
`discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY` at `yarl.URL(fake.gateway_url)` (`patch_discord` does both with
pytest's monkeypatch). It answers start-up (GET /users/@me, GET /oauth2/applications/@me, the gateway: HELLO,
IDENTIFY, heartbeats, READY, GUILD_CREATE for every configured guild), command sync (PUT .../commands), interaction
callbacks and follow-ups, and channel sends. Tests inject interactions over the gateway (`command`, `autocomplete`,
`press`, or `interaction` for anything else) and get a `FakeInteraction` whose response they can await.

Discord's own rules it enforces: a first callback later than `ack_deadline` (3 s) after the event gets 404 10062
"Unknown interaction"; a second callback 400 40060; a follow-up before any callback 404 10015 "Unknown Webhook"; the
first follow-up (or edit of @original) after a type-5 defer fills the deferred message and takes the defer's
ephemeral flag, ignoring its own; message limits (2,000 characters of content, 10 embeds, 6,000 characters of embed
text and the per-field limits, 5 rows of 5 components, unique custom_ids) → 400 50035 "Invalid Form Body"; an empty
message → 400 50006; a file over `attachment_size_limit` → 413 40005; a channel send without View Channel → 403 50001,
without Send Messages (or Attach Files for an upload) → 403 50013, embeds without Embed Links are dropped; a DM to a
user who blocks DMs (`block_dms`) → 403 50007; an unknown channel → 404 10003. Failures can be injected per route
(`fail`, `rate_limit`, `fail_channel`) and answers slowed (`slow`).

Every REST call is recorded in `calls` (method, path, query, JSON or multipart `payload_json`, uploaded files, time,
status); every gateway frame in `frames`; every message the fake creates in `messages` (with the files' bytes).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable
from typing import Any

import discord
import discord.gateway
import discord.http
import yarl
from aiohttp import web

from tests.discord.fake_callbacks import CallbacksMixin
from tests.discord.fake_constants import (
    API_PATH,
    BOT_ID,
    CALL_KINDS,
    CHANNEL_ID,
    DEFAULT_APP_PERMISSIONS,
    DEFAULT_MEMBER_PERMISSIONS,
    GUILD_ID,
    OWNER_ID,
    TOKEN,
    USER_ID,
    user_payload,
)
from tests.discord.fake_gateway import GatewayMixin
from tests.discord.fake_records import Call, FakeGuild, FakeMessage
from tests.discord.fake_rest import RestMixin


class FakeDiscord(GatewayMixin, CallbacksMixin, RestMixin):
    """Discord's REST API under /api/v10 and its gateway at /gw, for the real discord.py client. Its settings
    and state are FakeModel's (tests/discord/fake_model.py); its parts: GatewayMixin (fake_gateway.py), RestMixin
    (fake_rest.py), CallbacksMixin (fake_callbacks.py), MessagesMixin (fake_messages.py)."""

    # ------------------------------------------------------------ server

    async def start(self) -> FakeDiscord:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/gw", self._gateway)
        app.router.add_get("/gw/", self._gateway)
        app.router.add_get("/attachments/{channel_id}/{attachment_id}/{filename}", self._attachment)
        app.router.add_route("*", API_PATH + "/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def close(self) -> None:
        for conn in list(self._conns):
            with contextlib.suppress(Exception):
                await conn.ws.close(code=1001, message=b"fake closing")
        for task in list(self._tasks):
            task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------ model

    def add_guild(self, guild_id: int = GUILD_ID, name: str = "Test guild", *,
                  channels: dict[int, str] | None = None, members: dict[int, int] | None = None,
                  owner_id: int = OWNER_ID, bot_permissions: int = DEFAULT_APP_PERMISSIONS,
                  everyone_permissions: int = 0, bot_denied: dict[int, int] | None = None) -> FakeGuild:
        """A guild with text `channels` {id: name} (default {CHANNEL_ID: "general"}, or guild_id + 1 for another
        guild) and `members` {user_id: permissions} (default {USER_ID: DEFAULT_MEMBER_PERMISSIONS}). Each member
        (and the bot, with `bot_permissions`) gets a role of its own carrying its permissions; @everyone (id ==
        guild id) carries `everyone_permissions`. `bot_denied` {channel_id: bits} puts a member overwrite denying
        those bits to the bot on a channel. If a client is connected, it receives GUILD_CREATE at once."""
        if channels is None:
            channels = {CHANNEL_ID if guild_id == GUILD_ID else guild_id + 1: "general"}
        if members is None:
            members = {USER_ID: DEFAULT_MEMBER_PERMISSIONS}
        guild = FakeGuild(guild_id, name, dict(channels), dict(members), owner_id, bot_permissions,
                          everyone_permissions, dict(bot_denied or {}))
        for user_id in [BOT_ID, *guild.members]:
            guild.role_ids[user_id] = self._snowflake()
            self.users.setdefault(user_id, user_payload(user_id))
        self.guilds[guild_id] = guild
        if self.connected:
            payload = self._guild_create(guild)
            del payload["unavailable"]  # a new join, not an outage ending: discord.py dispatches on_guild_join
            self._spawn(self.dispatch("GUILD_CREATE", payload))
        return guild

    async def remove_guild(self, guild_id: int) -> None:
        """The bot leaves (is removed from) the guild: GUILD_DELETE."""
        self.guilds.pop(guild_id)
        if self.connected:
            await self.dispatch("GUILD_DELETE", {"id": str(guild_id)})

    # ------------------------------------------------------------ queries and waiting

    def sent_to(self, channel_id: int) -> list[FakeMessage]:
        """Messages created by POST /channels/{channel_id}/messages, oldest first."""
        return [m for m in self.messages.values() if m.source == "channel" and m.channel_id == channel_id]

    def messages_in(self, channel_id: int) -> list[FakeMessage]:
        """Every message the fake created in the channel (sends, interaction responses, follow-ups)."""
        return [m for m in self.messages.values() if m.channel_id == channel_id]

    def calls_of(self, what: str | Callable[[Call], bool]) -> list[Call]:
        match = _call_matcher(what)
        return [c for c in self.calls if match(c)]

    async def wait_for(self, what: str | Callable[[Call], bool], *, count: int = 1,
                       timeout: float = 5.0) -> list[Call]:
        """Wait until `count` answered calls match `what`: a kind from CALL_KINDS ("send", "callback",
        "followup", "sync", ...), a regex searched in "METHOD /path", or a predicate on `Call`."""
        match = _call_matcher(what)

        def found() -> list[Call]:
            return [c for c in self.calls if c.status and match(c)]

        await self.wait_until(lambda: len(found()) >= count, timeout)
        return found()

    async def wait_sent(self, channel_id: int, count: int = 1, timeout: float = 5.0) -> list[FakeMessage]:
        await self.wait_until(lambda: len(self.sent_to(channel_id)) >= count, timeout)
        return self.sent_to(channel_id)


# ---------------------------------------------------------------------------------------------------- helpers


def patch_discord(monkeypatch: Any, fake: FakeDiscord) -> None:
    """Point discord.py's REST base and default gateway at the fake (pytest's monkeypatch undoes it)."""
    monkeypatch.setattr(discord.http.Route, "BASE", fake.api_base)
    monkeypatch.setattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(fake.gateway_url))


async def start_client(client: discord.Client, token: str = TOKEN, *, timeout: float = 5.0) -> asyncio.Task[None]:
    """login + connect in a task + wait_until_ready. Build the client with chunk_guilds_at_startup=False and a
    short guild_ready_timeout (e.g. 0.05): discord.py waits that long after the last GUILD_CREATE before on_ready."""
    await client.login(token)
    task = asyncio.get_running_loop().create_task(client.connect())
    ready = asyncio.ensure_future(client.wait_until_ready())
    done, _ = await asyncio.wait({ready, task}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    if ready in done:
        return task
    ready.cancel()
    await client.close()
    if task.done():
        task.result()  # raises what connect() raised
    task.cancel()
    raise TimeoutError("discord.py did not become ready")


async def stop_client(client: discord.Client, task: asyncio.Task[None] | None = None) -> None:
    await client.close()
    if task is not None:
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(task, 5)


def _call_matcher(what: str | Callable[[Call], bool]) -> Callable[[Call], bool]:
    if callable(what):
        return what
    if what in CALL_KINDS:
        return lambda c: c.kind == what
    pattern = re.compile(what)
    return lambda c: bool(pattern.search(c.route))
