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
import itertools
import json
import re
import secrets
import struct
import time
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import discord
import discord.gateway
import discord.http
import yarl
from aiohttp import BodyPartReader, WSMsgType, web

TOKEN = "MTIz.fake-discord.token-for-tests"  # not shaped like a real bot token on purpose
API_PATH = "/api/v10"
DISCORD_EPOCH_MS = 1_420_070_400_000

BOT_ID = 1_300_000_000_000_000_001
APP_ID = BOT_ID  # a bot's user id is its application id
OWNER_ID = 1_300_000_000_000_000_002  # owns the application and, by default, every guild
USER_ID = 1_300_000_000_000_000_003  # the default user who runs commands
GUILD_ID = 1_300_000_000_000_000_100
CHANNEL_ID = 1_300_000_000_000_000_101

# Permission bits (https://discord.com/developers/docs/topics/permissions)
ADMINISTRATOR = 1 << 3
MANAGE_GUILD = 1 << 5
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
USE_APPLICATION_COMMANDS = 1 << 31
ALL_PERMISSIONS = discord.Permissions.all().value  # what an owner or administrator has, as discord.py computes it
DEFAULT_APP_PERMISSIONS = VIEW_CHANNEL | SEND_MESSAGES | EMBED_LINKS | ATTACH_FILES | READ_MESSAGE_HISTORY
DEFAULT_MEMBER_PERMISSIONS = DEFAULT_APP_PERMISSIONS | USE_APPLICATION_COMMANDS

# Message flags
SUPPRESS_EMBEDS = 1 << 2
EPHEMERAL = 1 << 6
LOADING = 1 << 7
SUPPRESS_NOTIFICATIONS = 1 << 12
IS_COMPONENTS_V2 = 1 << 15
CHANNEL_FLAGS = SUPPRESS_EMBEDS | SUPPRESS_NOTIFICATIONS | IS_COMPONENTS_V2
INTERACTION_FLAGS = CHANNEL_FLAGS | EPHEMERAL

# Interaction types
PING = 1
APPLICATION_COMMAND = 2
MESSAGE_COMPONENT = 3
AUTOCOMPLETE = 4
MODAL_SUBMIT = 5

# Interaction callback types
PONG = 1
CHANNEL_MESSAGE_WITH_SOURCE = 4
DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE = 5
DEFERRED_UPDATE_MESSAGE = 6
UPDATE_MESSAGE = 7
APPLICATION_COMMAND_AUTOCOMPLETE_RESULT = 8
MODAL = 9

# Interaction contexts
CONTEXT_GUILD = 0
CONTEXT_BOT_DM = 1

ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024
HEARTBEAT_INTERVAL_MS = 41_250
CALL_KINDS = frozenset({
    "gateway", "login", "app_info", "sync", "commands", "callback", "followup", "webhook_message", "send",
    "message", "channel", "typing", "dm", "user", "member", "unknown",
})
_COMMAND_NAME = re.compile(r"^[-_\w]{1,32}$")


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


def user_payload(user_id: int, username: str | None = None, *, bot: bool = False) -> dict[str, Any]:
    """A user object with the fields discord.py reads."""
    return {
        "id": str(user_id), "username": username or f"user{user_id % 10_000}", "discriminator": "0",
        "global_name": None, "avatar": None, "bot": bot, "system": False, "public_flags": 0, "flags": 0,
        "banner": None, "accent_color": None, "avatar_decoration_data": None, "primary_guild": None,
        "collectibles": None,
    }


BOT_USER = {**user_payload(BOT_ID, "decoupler-test", bot=True), "verified": True, "mfa_enabled": False,
            "locale": "en-US", "email": None}
OWNER_USER = user_payload(OWNER_ID, "app-owner")


# ---------------------------------------------------------------------------------------------------- records


@dataclass
class Upload:
    """A file part of a multipart request."""

    field: str  # "files[0]"
    filename: str
    content_type: str | None
    data: bytes


@dataclass
class Call:
    method: str
    path: str  # without /api/v10 and the query, e.g. "/channels/123/messages"
    query: dict[str, str]
    json: Any  # the JSON body, or a multipart request's payload_json; None without a body
    files: list[Upload]
    at: float  # time.monotonic() on arrival
    kind: str = "unknown"  # one of CALL_KINDS
    status: int = 0  # 0 until answered
    authorized: bool = False  # carried "Authorization: Bot <token>"
    response: Any = None  # the JSON the fake answered with (successes only)

    @property
    def route(self) -> str:
        return f"{self.method} {self.path}"


@dataclass
class Frame:
    direction: str  # "in" (from the client) or "out"
    op: int | None
    t: str | None
    d: Any
    at: float


@dataclass
class StoredFile:
    attachment_id: int
    filename: str
    content_type: str | None
    data: bytes
    description: str | None = None


@dataclass(eq=False)
class FakeMessage:
    """A message the fake created (channel send, interaction response or follow-up). `data` is what the API
    answers (the message object); `payloads` every JSON body that created or edited it, in order."""

    data: dict[str, Any]
    files: list[StoredFile]
    source: str  # "channel", "callback", "defer" (a type-5 placeholder, later filled) or "followup"
    interaction_id: int | None = None
    payloads: list[dict[str, Any]] = field(default_factory=list)
    deleted: bool = False

    @property
    def id(self) -> int:
        return int(self.data["id"])

    @property
    def channel_id(self) -> int:
        return int(self.data["channel_id"])

    @property
    def content(self) -> str:
        return self.data["content"]

    @property
    def embeds(self) -> list[dict[str, Any]]:
        return self.data["embeds"]

    @property
    def components(self) -> list[dict[str, Any]]:
        return self.data["components"]

    @property
    def attachments(self) -> list[dict[str, Any]]:
        return self.data["attachments"]

    @property
    def flags(self) -> int:
        return self.data["flags"]

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & EPHEMERAL)

    @property
    def loading(self) -> bool:
        """A type-5 defer's placeholder that no follow-up or edit has filled yet."""
        return bool(self.flags & LOADING)

    @property
    def edited(self) -> bool:
        return self.data["edited_timestamp"] is not None

    @property
    def custom_ids(self) -> list[str]:
        return [c["custom_id"] for c in _walk_components(self.components) if "custom_id" in c]

    @property
    def buttons(self) -> list[dict[str, Any]]:
        return [c for c in _walk_components(self.components) if c.get("type") == 2]

    def file(self, filename: str | None = None) -> bytes:
        """The bytes of the attached file called `filename` (or of the only one)."""
        if filename is None:
            if len(self.files) != 1:
                raise LookupError(f"message {self.id} has {len(self.files)} files; name one")
            return self.files[0].data
        for stored in self.files:
            if stored.filename == filename:
                return stored.data
        raise LookupError(f"message {self.id} has no file {filename!r}")

    def embed_image(self, index: int = 0) -> bytes | None:
        """The bytes of the attachment embed `index` shows as its image (`attachment://name`), if any."""
        url = ((self.embeds[index].get("image") or {}).get("url")) or ""
        for attachment, stored in zip(self.attachments, self.files, strict=False):
            if attachment["url"] == url:
                return stored.data
        return None


@dataclass
class Callback:
    """An accepted interaction callback (POST /interactions/{id}/{token}/callback)."""

    type: int
    data: dict[str, Any]
    files: list[Upload]
    at: float
    message: FakeMessage | None = None  # the message it created or updated

    @property
    def choices(self) -> list[dict[str, Any]]:
        return list(self.data.get("choices") or [])

    @property
    def ephemeral(self) -> bool:
        return bool(int(self.data.get("flags") or 0) & EPHEMERAL)


@dataclass
class FakeGuild:
    id: int
    name: str
    channels: dict[int, str]  # text channels: id -> name
    members: dict[int, int]  # user id -> permissions of the member's own role
    owner_id: int = OWNER_ID
    bot_permissions: int = DEFAULT_APP_PERMISSIONS
    everyone_permissions: int = 0
    bot_denied: dict[int, int] = field(default_factory=dict)  # channel id -> bits denied to the bot there
    role_ids: dict[int, int] = field(default_factory=dict)  # user id (the bot included) -> its role id
    joined_at: str = field(default_factory=_now_iso)

    def base_permissions(self, user_id: int) -> int:
        """Guild-level permissions, as discord.py's `Member.guild_permissions` computes them."""
        if user_id == self.owner_id:
            return ALL_PERMISSIONS
        own = self.bot_permissions if user_id == BOT_ID else self.members.get(user_id, 0)
        value = self.everyone_permissions | own
        return ALL_PERMISSIONS if value & ADMINISTRATOR else value

    def permissions_in(self, user_id: int, channel_id: int) -> int:
        value = self.base_permissions(user_id)
        if value & ADMINISTRATOR:
            return value
        if user_id == BOT_ID:
            value &= ~self.bot_denied.get(channel_id, 0)
        return value


@dataclass(eq=False)
class FakeInteraction:
    """An interaction the fake dispatched. `await interaction` waits for its (first accepted) callback."""

    fake: FakeDiscord = field(repr=False)
    id: int
    token: str
    type: int
    payload: dict[str, Any] = field(repr=False)
    guild_id: int | None
    channel_id: int
    user_id: int
    dispatched_at: float = 0.0
    response: Callback | None = None
    rejected: list[tuple[int, int]] = field(default_factory=list)  # (status, code) of refused callbacks
    original_id: int | None = None
    deferred_flags: int | None = None  # the flags of a type-5 defer not yet filled by a follow-up or edit
    followups: list[FakeMessage] = field(default_factory=list)

    @property
    def original(self) -> FakeMessage | None:
        return None if self.original_id is None else self.fake.messages.get(self.original_id)

    @property
    def messages(self) -> list[FakeMessage]:
        """The original response (if it made a message) and every follow-up, without repeats."""
        out: list[FakeMessage] = []
        for message in [self.original, *self.followups]:
            if message is not None and message not in out:
                out.append(message)
        return out

    @property
    def response_type(self) -> int | None:
        return None if self.response is None else self.response.type

    async def wait_response(self, timeout: float = 5.0) -> Callback:
        await self.fake.wait_until(lambda: self.response is not None, timeout)
        assert self.response is not None
        return self.response

    async def wait_rejected(self, timeout: float = 5.0) -> tuple[int, int]:
        await self.fake.wait_until(lambda: bool(self.rejected), timeout)
        return self.rejected[0]

    async def wait_followups(self, count: int = 1, timeout: float = 5.0) -> list[FakeMessage]:
        await self.fake.wait_until(lambda: len(self.followups) >= count, timeout)
        return self.followups

    async def wait_original(self, timeout: float = 5.0) -> FakeMessage:
        """Wait for the original response message, filled (not a defer's loading placeholder)."""
        def done() -> bool:
            message = self.original
            return message is not None and not message.loading

        await self.fake.wait_until(done, timeout)
        assert self.original is not None
        return self.original

    def __await__(self) -> Generator[Any, None, Callback]:
        return self.wait_response().__await__()


@dataclass
class _Failure:
    pattern: re.Pattern[str]
    status: int
    body: dict[str, Any]
    headers: dict[str, str]
    times: int | None  # None: every time


@dataclass
class _Delay:
    pattern: re.Pattern[str]
    seconds: float
    times: int | None


class _Conn:
    def __init__(self, ws: web.WebSocketResponse, query: dict[str, str]):
        self.ws = ws
        self.query = query
        self.lock = asyncio.Lock()
        self.ready = False


# ---------------------------------------------------------------------------------------------------- the fake


class FakeDiscord:
    """Discord's REST API under /api/v10 and its gateway at /gw, for the real discord.py client."""

    def __init__(self, *, token: str = TOKEN, ack_deadline: float = 3.0, token_ttl: float = 15 * 60.0,
                 heartbeat_interval_ms: int = HEARTBEAT_INTERVAL_MS, strict_channels: bool = True,
                 attachment_size_limit: int = ATTACHMENT_SIZE_LIMIT):
        self.token = token
        self.ack_deadline = ack_deadline  # seconds from INTERACTION_CREATE to the latest accepted first callback
        self.token_ttl = token_ttl  # seconds an interaction token serves follow-ups and edits
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.strict_channels = strict_channels  # sends to channels the fake doesn't know → 404 10003
        self.attachment_size_limit = attachment_size_limit

        self.calls: list[Call] = []
        self.frames: list[Frame] = []
        self.guilds: dict[int, FakeGuild] = {}
        self.users: dict[int, dict[str, Any]] = {BOT_ID: BOT_USER, OWNER_ID: OWNER_USER}
        self.dm_channels: dict[int, int] = {}  # user id -> DM channel id
        self.blocked_dms: set[int] = set()
        self.messages: dict[int, FakeMessage] = {}
        self.interactions: list[FakeInteraction] = []
        self.commands: dict[int | None, list[dict[str, Any]]] = {}  # guild id (None: global) -> synced commands
        self.syncs = 0  # accepted PUT .../commands
        self.identify: dict[str, Any] | None = None  # the last IDENTIFY's d
        self.identifies = 0
        self.resumes = 0
        self.gateway_connects = 0
        self.presence: dict[str, Any] | None = None  # the last op-3 presence update
        self.session_id: str | None = None
        self.crashes: list[Exception] = []  # exceptions the fake's handlers raised (answered 400): assert it stays []

        self._ids = itertools.count(1)
        self._seq = 0
        self._by_id: dict[int, FakeInteraction] = {}
        self._by_token: dict[str, FakeInteraction] = {}
        self._failures: list[_Failure] = []
        self._delays: list[_Delay] = []
        self._conns: list[_Conn] = []
        self._session: _Conn | None = None
        self._changed = asyncio.Condition()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._runner: web.AppRunner | None = None
        self.port = 0

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

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        return f"{self.base_url}{API_PATH}"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gw"

    @property
    def connected(self) -> bool:
        """A client has identified (or resumed) and is connected."""
        return self._session is not None and self._session.ready

    @property
    def intents(self) -> int | None:
        return None if self.identify is None else self.identify.get("intents")

    # ------------------------------------------------------------ model

    def add_user(self, user_id: int, username: str | None = None, *, bot: bool = False) -> dict[str, Any]:
        self.users[user_id] = user_payload(user_id, username, bot=bot)
        return self.users[user_id]

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

    def block_dms(self, user_id: int) -> None:
        """Sends to this user's DM channel fail with 403 50007 "Cannot send messages to this user"."""
        self.blocked_dms.add(user_id)

    def channel_guild(self, channel_id: int) -> FakeGuild | None:
        for guild in self.guilds.values():
            if channel_id in guild.channels:
                return guild
        return None

    # ------------------------------------------------------------ failures and delays

    def fail(self, pattern: str, status: int, *, code: int | None = None, message: str | None = None,
             retry_after: float = 0.2, is_global: bool = False, via: bool = True, times: int | None = 1,
             body: dict[str, Any] | None = None) -> None:
        """Answer the next `times` (None: every) REST calls whose "METHOD /path" (path without /api/v10)
        matches the regex `pattern` with `status`. Defaults: 403 → 50001 Missing Access, 404 → 10003 Unknown
        Channel, 400 → 50035 Invalid Form Body, 429 → Discord's rate-limit body and headers (with `Via` unless
        via=False, which makes discord.py assume a Cloudflare ban), 5xx → a server error (discord.py retries
        500/502/504 on REST routes and every 5xx on interaction/webhook routes for ~25 s: prefer 503 on REST)."""
        headers: dict[str, str] = {}
        if status == 429:
            data = body or {"message": "You are being rate limited.", "retry_after": retry_after,
                            "global": is_global}
            reset_after = f"{retry_after:.3f}"
            headers = {
                "Retry-After": str(max(1, round(retry_after))), "X-RateLimit-Limit": "5",
                "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": f"{time.time() + retry_after:.3f}",
                "X-RateLimit-Reset-After": reset_after, "X-RateLimit-Bucket": "fakebucket",
                "X-RateLimit-Scope": "global" if is_global else "user",
            }
            if is_global:
                headers["X-RateLimit-Global"] = "true"
            if via:
                headers["Via"] = "1.1 google"
        else:
            default_code, default_message = {
                400: (50035, "Invalid Form Body"), 401: (0, "401: Unauthorized"), 403: (50001, "Missing Access"),
                404: (10003, "Unknown Channel"),
            }.get(status, (0, f"{status}: Server Error" if status >= 500 else f"{status}: Error"))
            data = body or {"message": message or default_message, "code": default_code if code is None else code}
        self._failures.append(_Failure(re.compile(pattern), status, data, headers, times))

    def fail_channel(self, channel_id: int, status: int, **kw: Any) -> None:
        """Fail sends (POST /channels/{id}/messages) to one channel; see `fail`."""
        self.fail(rf"^POST /channels/{channel_id}/messages$", status, **kw)

    def rate_limit(self, pattern: str, retry_after: float = 0.2, **kw: Any) -> None:
        """A 429 Discord-style (with Via) for the matching calls; discord.py sleeps `retry_after` and retries."""
        self.fail(pattern, 429, retry_after=retry_after, **kw)

    def slow(self, pattern: str, seconds: float, times: int | None = 1) -> None:
        """Answer the next `times` matching REST calls only after `seconds`."""
        self._delays.append(_Delay(re.compile(pattern), seconds, times))

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

    async def wait_until(self, predicate: Callable[[], Any], timeout: float = 5.0) -> None:
        """Wait until `predicate()` is true; it is checked whenever the fake records something."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(predicate), timeout)

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

    async def wait_connected(self, timeout: float = 5.0) -> None:
        """Wait until a client has identified and the fake has sent READY and every GUILD_CREATE."""
        await self.wait_until(lambda: self.connected, timeout)

    # ------------------------------------------------------------ gateway: events from tests

    async def dispatch(self, event: str, data: dict[str, Any], *, timeout: float = 5.0) -> int:
        """Send a DISPATCH (op 0) event to the connected client; returns its sequence number."""
        await self.wait_connected(timeout)
        assert self._session is not None
        return await self._dispatch_on(self._session, event, data)

    async def request_reconnect(self) -> None:
        """Op 7 RECONNECT: discord.py closes the socket and resumes on READY's resume_gateway_url."""
        await self.wait_connected()
        assert self._session is not None
        await self._send(self._session, {"op": 7, "d": None, "s": None, "t": None})

    async def drop_connection(self, code: int = 4000) -> None:
        """Close the gateway socket from the server side (4000: discord.py reconnects and resumes)."""
        conn = self._session
        if conn is not None:
            conn.ready = False
            await conn.ws.close(code=code, message=b"dropped by the fake")

    async def interaction(self, type: int, data: dict[str, Any] | None = None, *, guild_id: int | None = None,
                          channel_id: int | None = None, user_id: int = USER_ID, dm: bool = False,
                          message: FakeMessage | int | None = None, permissions: int | None = None,
                          app_permissions: int | None = None, locale: str = "en-US", context: int | None = None,
                          extra: dict[str, Any] | None = None, timeout: float = 5.0) -> FakeInteraction:
        """Dispatch INTERACTION_CREATE of `type` with `data`, in a guild channel (default: the first guild's
        first channel) or, with dm=True, in the user's DM with the bot. `permissions` overrides the member's
        (default: computed from the guild model, as discord.py computes `guild_permissions`); `app_permissions`
        the bot's (default: the bot's permissions in the channel). `extra` is merged into the payload last."""
        await self.wait_connected(timeout)
        assert self._session is not None
        interaction_id = self._snowflake()
        token = f"fake-interaction-{secrets.token_urlsafe(32)}"
        self.users.setdefault(user_id, user_payload(user_id))
        payload: dict[str, Any] = {
            "id": str(interaction_id), "application_id": str(APP_ID), "type": type, "token": token, "version": 1,
            "locale": locale, "entitlements": [], "entitlement_sku_ids": [],
            "attachment_size_limit": self.attachment_size_limit,
        }
        if data is not None:
            payload["data"] = data
        guild: FakeGuild | None = None
        if isinstance(message, int):
            message = self.messages[message]
        if dm:
            channel_id = self._dm_channel(user_id)
            payload.update(
                channel_id=str(channel_id), channel=self._channel_payload(channel_id), user=self.users[user_id],
                context=CONTEXT_BOT_DM, authorizing_integration_owners={"0": "0"},
                app_permissions=str(DEFAULT_APP_PERMISSIONS if app_permissions is None else app_permissions),
            )
        else:
            guild = self._guild_for(guild_id, channel_id)
            if channel_id is None:
                channel_id = next(iter(guild.channels))
            if channel_id not in guild.channels:
                raise LookupError(f"channel {channel_id} is not in guild {guild.id}")
            perms = guild.permissions_in(user_id, channel_id) if permissions is None else permissions
            bot_perms = guild.permissions_in(BOT_ID, channel_id) if app_permissions is None else app_permissions
            channel = {**self._channel_payload(channel_id), "permissions": str(perms)}
            payload.update(
                guild_id=str(guild.id), guild={"id": str(guild.id), "locale": "en-US", "features": []},
                guild_locale="en-US", channel_id=str(channel_id), channel=channel,
                member={**self._member_payload(guild, user_id), "permissions": str(perms)},
                context=CONTEXT_GUILD, authorizing_integration_owners={"0": str(guild.id)},
                app_permissions=str(bot_perms),
            )
        if message is not None:
            payload["message"] = json.loads(json.dumps(message.data))
        if context is not None:
            payload["context"] = context
        if extra:
            payload.update(extra)
        handle = FakeInteraction(self, interaction_id, token, type, payload, None if guild is None else guild.id,
                                 channel_id, user_id)
        self.interactions.append(handle)
        self._by_id[interaction_id] = handle
        self._by_token[token] = handle
        handle.dispatched_at = time.monotonic()
        await self._dispatch_on(self._session, "INTERACTION_CREATE", payload)
        return handle

    async def command(self, name: str, options: dict[str, Any] | list[dict[str, Any]] | None = None,
                      **kw: Any) -> FakeInteraction:
        """A slash command. `name` may name a subcommand ("alerts add") or a group's ("alerts rule add");
        `options` is {name: value} (type from the value: str 3, int 4, bool 5, float 10) or raw option dicts.
        data.id and data.guild_id come from the synced commands (guild first, then global)."""
        leaf = _options(options)
        data = self._command_data(name, leaf, kw)
        resolved = self._resolved(leaf, kw)
        if resolved:
            data["resolved"] = resolved
        return await self.interaction(APPLICATION_COMMAND, data, **kw)

    def _resolved(self, leaf: list[dict[str, Any]], kw: dict[str, Any]) -> dict[str, Any]:
        """Channel (type 7) and role (type 8) options come with their objects, as Discord sends them: a channel
        with the invoking member's permissions in it."""
        if kw.get("dm") or not any(option.get("type") in (7, 8) for option in leaf):
            return {}
        guild = self._guild_for(kw.get("guild_id"), kw.get("channel_id"))
        user_id = kw.get("user_id", USER_ID)
        resolved: dict[str, dict[str, Any]] = {}
        roles = {int(r["id"]): r for r in self._roles(guild)} if any(o.get("type") == 8 for o in leaf) else {}
        for option in leaf:
            value = int(option["value"]) if str(option.get("value", "")).isdigit() else None
            if option.get("type") == 7 and value in guild.channels:
                channel = {**self._channel_payload(value), "permissions": str(guild.permissions_in(user_id, value))}
                resolved.setdefault("channels", {})[str(value)] = channel
            elif option.get("type") == 8 and value in roles:
                resolved.setdefault("roles", {})[str(value)] = roles[value]
        return resolved

    async def autocomplete(self, name: str, options: dict[str, Any] | list[dict[str, Any]] | None = None, *,
                           focused: str, **kw: Any) -> FakeInteraction:
        """An AUTOCOMPLETE for option `focused` (added with value "" if `options` lacks it)."""
        leaf = _options(options)
        if not any(o["name"] == focused for o in leaf):
            leaf.append({"name": focused, "type": 3, "value": ""})
        for option in leaf:
            if option["name"] == focused:
                option["focused"] = True
        data = self._command_data(name, leaf, kw)
        return await self.interaction(AUTOCOMPLETE, data, **kw)

    async def press(self, message: FakeMessage | int, custom_id: str, *, values: list[str] | None = None,
                    component_type: int | None = None, **kw: Any) -> FakeInteraction:
        """A MESSAGE_COMPONENT on `message` (a button, or a select with `values`), in the message's channel."""
        if isinstance(message, int):
            message = self.messages[message]
        if custom_id not in message.custom_ids:
            raise LookupError(f"message {message.id} has no component {custom_id!r} (has {message.custom_ids})")
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": component_type or (3 if values else 2)}
        if values is not None:
            data["values"] = values
        channel_id = message.channel_id
        dm_user = next((u for u, c in self.dm_channels.items() if c == channel_id), None)
        if dm_user is not None:
            kw.setdefault("dm", True)
            kw.setdefault("user_id", dm_user)
        else:
            kw.setdefault("channel_id", channel_id)
        return await self.interaction(MESSAGE_COMPONENT, data, message=message, **kw)

    def _command_data(self, name: str, leaf: list[dict[str, Any]], kw: dict[str, Any]) -> dict[str, Any]:
        parts = name.split()
        options = leaf
        for depth, sub in reversed(list(enumerate(parts[1:], start=1))):
            kind = 1 if depth == len(parts) - 1 else 2  # the last part is a subcommand, earlier ones groups
            options = [{"name": sub, "type": kind, **({"options": options} if options else {})}]
        data: dict[str, Any] = {"name": parts[0], "type": 1}
        if options:
            data["options"] = options
        guild_id = None
        if not kw.get("dm"):
            guild_id = self._guild_for(kw.get("guild_id"), kw.get("channel_id")).id
        scopes: list[int | None] = [guild_id, None] if guild_id is not None else [None]
        for scope in scopes:
            for command in self.commands.get(scope, []):
                if command["name"] == parts[0] and command.get("type", 1) == 1:
                    data["id"] = command["id"]
                    if scope is not None:
                        data["guild_id"] = str(scope)
                    return data
        data["id"] = str(self._snowflake())
        return data

    # ------------------------------------------------------------ gateway: the socket

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        conn = _Conn(ws, dict(request.query))
        self._conns.append(conn)
        self.gateway_connects += 1
        try:
            await self._send(conn, {"op": 10, "d": {"heartbeat_interval": self.heartbeat_interval_ms},
                                    "s": None, "t": None})
            async for msg in ws:
                if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    await self._on_frame(conn, json.loads(msg.data))
                elif msg.type == WSMsgType.ERROR:
                    break
        finally:
            self._conns.remove(conn)
            if self._session is conn:
                self._session = None
            await self._notify()
        return ws

    async def _on_frame(self, conn: _Conn, frame: dict[str, Any]) -> None:
        op, d = frame.get("op"), frame.get("d")
        self.frames.append(Frame("in", op, None, d, time.monotonic()))
        await self._notify()
        if op == 1:  # heartbeat
            await self._send(conn, {"op": 11, "d": None, "s": None, "t": None})
        elif op == 2:
            await self._identify(conn, d)
        elif op == 3:
            self.presence = d
        elif op == 6:
            await self._resume(conn, d)
        elif op == 8:
            await self._members_chunk(conn, d)

    async def _identify(self, conn: _Conn, d: dict[str, Any]) -> None:
        if d.get("token") != self.token:
            await conn.ws.close(code=4004, message=b"Authentication failed.")
            return
        self.identify = d
        self.identifies += 1
        self.session_id = secrets.token_hex(16)
        self._seq = 0
        self._session = conn
        ready: dict[str, Any] = {
            "v": 10, "user": BOT_USER, "guilds": [{"id": str(g), "unavailable": True} for g in self.guilds],
            "session_id": self.session_id, "session_type": "normal", "resume_gateway_url": self.gateway_url,
            "application": {"id": str(APP_ID), "flags": 0}, "private_channels": [], "relationships": [],
            "presences": [], "guild_join_requests": [], "geo_ordered_rtc_regions": [], "user_settings": {},
            "auth": {}, "_trace": ["fake-discord"],
        }
        if d.get("shard") is not None:
            ready["shard"] = d["shard"]
        await self._dispatch_on(conn, "READY", ready)
        for guild in list(self.guilds.values()):
            await self._dispatch_on(conn, "GUILD_CREATE", self._guild_create(guild))
        conn.ready = True
        await self._notify()

    async def _resume(self, conn: _Conn, d: dict[str, Any]) -> None:
        if d.get("token") != self.token or d.get("session_id") != self.session_id:
            await self._send(conn, {"op": 9, "d": False, "s": None, "t": None})
            return
        self.resumes += 1
        self._session = conn
        await self._dispatch_on(conn, "RESUMED", {"_trace": ["fake-discord"]})
        conn.ready = True
        await self._notify()

    async def _members_chunk(self, conn: _Conn, d: dict[str, Any]) -> None:
        guild = self.guilds.get(int(d["guild_id"]))
        if guild is None:
            return
        wanted = {int(u) for u in d.get("user_ids") or []}
        query = str(d.get("query") or "").lower()
        members = [self._member_payload(guild, u) for u in [BOT_ID, *guild.members] if not wanted or u in wanted]
        members = [m for m in members if m["user"]["username"].lower().startswith(query)]
        if d.get("limit"):
            members = members[: int(d["limit"])]
        await self._dispatch_on(conn, "GUILD_MEMBERS_CHUNK", {
            "guild_id": str(guild.id), "members": members, "chunk_index": 0, "chunk_count": 1,
            "not_found": [], "presences": [], "nonce": d.get("nonce"),
        })

    async def _dispatch_on(self, conn: _Conn, event: str, data: dict[str, Any]) -> int:
        self._seq += 1
        await self._send(conn, {"op": 0, "t": event, "s": self._seq, "d": data})
        return self._seq

    async def _send(self, conn: _Conn, frame: dict[str, Any]) -> None:
        async with conn.lock:
            await conn.ws.send_str(json.dumps(frame))
        self.frames.append(Frame("out", frame["op"], frame.get("t"), frame["d"], time.monotonic()))

    # ------------------------------------------------------------ payloads

    def _snowflake(self) -> int:
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        return (ms << 22) | (next(self._ids) & 0x3FFFFF)

    def _guild_for(self, guild_id: int | None, channel_id: int | None) -> FakeGuild:
        if guild_id is not None:
            return self.guilds[guild_id]
        if channel_id is not None:
            guild = self.channel_guild(channel_id)
            if guild is None:
                raise LookupError(f"channel {channel_id} is in no guild of the fake")
            return guild
        if not self.guilds:
            raise LookupError("the fake has no guild: call add_guild() (or pass dm=True)")
        return next(iter(self.guilds.values()))

    def _role_payload(self, role_id: int, name: str, permissions: int, position: int, *,
                      bot_id: int | None = None) -> dict[str, Any]:
        role: dict[str, Any] = {
            "id": str(role_id), "name": name, "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False, "icon": None, "unicode_emoji": None, "position": position, "permissions": str(permissions),
            "managed": bot_id is not None, "mentionable": False, "flags": 0,
        }
        if bot_id is not None:
            role["tags"] = {"bot_id": str(bot_id)}
        return role

    def _roles(self, guild: FakeGuild) -> list[dict[str, Any]]:
        roles = [self._role_payload(guild.id, "@everyone", guild.everyone_permissions, 0)]
        roles.append(self._role_payload(guild.role_ids[BOT_ID], "decoupler-test", guild.bot_permissions, 1,
                                        bot_id=BOT_ID))
        for position, (user_id, perms) in enumerate(guild.members.items(), start=2):
            roles.append(self._role_payload(guild.role_ids[user_id], f"perms-{user_id}", perms, position))
        return roles

    def _member_payload(self, guild: FakeGuild, user_id: int) -> dict[str, Any]:
        role_id = guild.role_ids.get(user_id)
        return {
            "user": self.users.get(user_id) or user_payload(user_id), "nick": None, "avatar": None, "banner": None,
            "roles": [] if role_id is None else [str(role_id)], "joined_at": guild.joined_at,
            "premium_since": None, "deaf": False, "mute": False, "pending": False, "flags": 0,
            "communication_disabled_until": None, "unusual_dm_activity_until": None,
        }

    def _channel_payload(self, channel_id: int) -> dict[str, Any]:
        for recipient, dm in self.dm_channels.items():
            if dm == channel_id:
                return {"id": str(channel_id), "type": 1, "last_message_id": None, "flags": 0,
                        "recipients": [self.users.get(recipient) or user_payload(recipient)]}
        guild = self.channel_guild(channel_id)
        if guild is None:
            raise LookupError(f"unknown channel {channel_id}")
        overwrites = []
        if guild.bot_denied.get(channel_id):
            overwrites.append({"id": str(BOT_ID), "type": 1, "allow": "0", "deny": str(guild.bot_denied[channel_id])})
        position = list(guild.channels).index(channel_id)
        return {
            "id": str(channel_id), "type": 0, "guild_id": str(guild.id), "name": guild.channels[channel_id],
            "position": position, "permission_overwrites": overwrites, "nsfw": False, "parent_id": None,
            "topic": None, "rate_limit_per_user": 0, "last_message_id": None, "flags": 0,
            "default_thread_rate_limit_per_user": 0,
        }

    def _guild_create(self, guild: FakeGuild) -> dict[str, Any]:
        members = [self._member_payload(guild, u) for u in [BOT_ID, *guild.members]]
        return {
            "id": str(guild.id), "name": guild.name, "icon": None, "splash": None, "discovery_splash": None,
            "owner_id": str(guild.owner_id), "afk_channel_id": None, "afk_timeout": 300, "verification_level": 0,
            "default_message_notifications": 0, "explicit_content_filter": 0, "roles": self._roles(guild),
            "emojis": [], "stickers": [], "features": [], "mfa_level": 0, "application_id": None,
            "system_channel_id": None, "system_channel_flags": 0, "rules_channel_id": None,
            "vanity_url_code": None, "description": None, "banner": None, "premium_tier": 0,
            "premium_subscription_count": 0, "preferred_locale": "en-US", "public_updates_channel_id": None,
            "safety_alerts_channel_id": None, "nsfw_level": 0, "premium_progress_bar_enabled": False,
            "max_members": 500_000, "max_video_channel_users": 25, "joined_at": guild.joined_at, "large": False,
            "unavailable": False, "lazy": True, "member_count": len(members), "members": members,
            "channels": [self._channel_payload(c) for c in guild.channels], "threads": [], "presences": [],
            "voice_states": [], "stage_instances": [], "guild_scheduled_events": [], "soundboard_sounds": [],
        }

    def _dm_channel(self, user_id: int) -> int:
        if user_id not in self.dm_channels:
            self.users.setdefault(user_id, user_payload(user_id))
            self.dm_channels[user_id] = self._snowflake()
        return self.dm_channels[user_id]

    def _app_info(self) -> dict[str, Any]:
        return {
            "id": str(APP_ID), "name": "Decoupler (fake)", "description": "", "icon": None, "bot_public": True,
            "bot_require_code_grant": False, "owner": OWNER_USER, "verify_key": "0" * 64, "team": None,
            "summary": "", "flags": 0, "hook": True, "redirect_uris": [], "interactions_endpoint_url": None,
            "tags": [], "bot": BOT_USER,
        }

    # ------------------------------------------------------------ REST plumbing

    _ROUTES: tuple[tuple[str, str, str, bool, str], ...] = (
        ("GET", r"/gateway", "_api_gateway", False, "gateway"),
        ("GET", r"/gateway/bot", "_api_gateway_bot", True, "gateway"),
        ("GET", r"/users/@me", "_api_me", True, "login"),
        ("GET", r"/(?:oauth2/)?applications/@me", "_api_app_info", True, "app_info"),
        ("PUT", r"/applications/(?P<app_id>\d+)(?:/guilds/(?P<guild_id>\d+))?/commands", "_api_put_commands", True,
         "sync"),
        ("GET", r"/applications/(?P<app_id>\d+)(?:/guilds/(?P<guild_id>\d+))?/commands", "_api_get_commands", True,
         "commands"),
        ("POST", r"/interactions/(?P<interaction_id>\d+)/(?P<token>[^/]+)/callback", "_api_callback", False,
         "callback"),
        ("POST", r"/webhooks/(?P<app_id>\d+)/(?P<token>[^/]+)", "_api_followup", False, "followup"),
        ("GET|PATCH|DELETE", r"/webhooks/(?P<app_id>\d+)/(?P<token>[^/]+)/messages/(?P<message_id>@original|\d+)",
         "_api_webhook_message", False, "webhook_message"),
        ("POST", r"/channels/(?P<channel_id>\d+)/messages", "_api_send", True, "send"),
        ("GET|PATCH|DELETE", r"/channels/(?P<channel_id>\d+)/messages/(?P<message_id>\d+)", "_api_message", True,
         "message"),
        ("GET", r"/channels/(?P<channel_id>\d+)", "_api_channel", True, "channel"),
        ("POST", r"/channels/(?P<channel_id>\d+)/typing", "_api_typing", True, "typing"),
        ("POST", r"/users/@me/channels", "_api_create_dm", True, "dm"),
        ("GET", r"/users/(?P<user_id>\d+)", "_api_user", True, "user"),
        ("GET", r"/guilds/(?P<guild_id>\d+)/members/(?P<user_id>\d+)", "_api_member", True, "member"),
    )

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        try:
            body, uploads = await _read_body(request)
        except ValueError:
            return _error(400, 50109, "The request body contains invalid JSON.")
        call = Call(request.method, path, dict(request.query), body, uploads, time.monotonic(),
                    authorized=request.headers.get("Authorization") == f"Bot {self.token}")
        self.calls.append(call)
        await self._notify()
        try:
            response = await self._answer(call)
        except Exception as exc:  # a bug in the fake (or a malformed request): a 400, which discord.py won't retry
            self.crashes.append(exc)
            response = _error(400, 0, f"fake_discord could not handle {call.route}: {exc!r}")
        call.status = response.status
        await self._notify()
        return response

    async def _answer(self, call: Call) -> web.StreamResponse:
        for methods, pattern, handler_name, needs_auth, kind in self._ROUTES:
            if call.method not in methods.split("|"):
                continue
            match = re.fullmatch(pattern, call.path)
            if match is None:
                continue
            call.kind = kind
            if needs_auth and not call.authorized:
                return _error(401, 0, "401: Unauthorized")
            await self._maybe_delay(call.route)
            failure = self._take_failure(call.route)
            if failure is not None:
                return _json(failure.body, failure.status, failure.headers)
            result = await getattr(self, handler_name)(call, **{k: v for k, v in match.groupdict().items()})
            if isinstance(result, web.StreamResponse):
                return result
            call.response = result
            return _json(result)
        return _error(404, 0, "404: Not Found")

    async def _maybe_delay(self, route: str) -> None:
        for delay in self._delays:
            if delay.times != 0 and delay.pattern.search(route):
                if delay.times is not None:
                    delay.times -= 1
                await asyncio.sleep(delay.seconds)
                return

    def _take_failure(self, route: str) -> _Failure | None:
        for failure in self._failures:
            if failure.times != 0 and failure.pattern.search(route):
                if failure.times is not None:
                    failure.times -= 1
                return failure
        return None

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _attachment(self, request: web.Request) -> web.Response:
        attachment_id = int(request.match_info["attachment_id"])
        for message in self.messages.values():
            for stored in message.files:
                if stored.attachment_id == attachment_id:
                    content_type = stored.content_type or "application/octet-stream"
                    return web.Response(body=stored.data, content_type=content_type)
        return web.Response(status=404)

    # ------------------------------------------------------------ REST: start-up

    async def _api_gateway(self, call: Call) -> Any:
        return {"url": self.gateway_url}

    async def _api_gateway_bot(self, call: Call) -> Any:
        return {"url": self.gateway_url, "shards": 1, "session_start_limit": {
            "total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}}

    async def _api_me(self, call: Call) -> Any:
        return BOT_USER

    async def _api_app_info(self, call: Call) -> Any:
        return self._app_info()

    async def _api_user(self, call: Call, user_id: str) -> Any:
        user = self.users.get(int(user_id))
        return user if user is not None else _error(404, 10013, "Unknown User")

    async def _api_member(self, call: Call, guild_id: str, user_id: str) -> Any:
        guild = self.guilds.get(int(guild_id))
        if guild is None:
            return _error(404, 10004, "Unknown Guild")
        if int(user_id) != BOT_ID and int(user_id) not in guild.members:
            return _error(404, 10007, "Unknown Member")
        return self._member_payload(guild, int(user_id))

    # ------------------------------------------------------------ REST: commands

    async def _api_put_commands(self, call: Call, app_id: str, guild_id: str | None = None) -> Any:
        if int(app_id) != APP_ID:
            return _error(403, 20012, "You are not authorized to perform this action on this application")
        scope = None if guild_id is None else int(guild_id)
        if scope is not None and scope not in self.guilds:
            return _error(403, 50001, "Missing Access")
        body = call.json
        if not isinstance(body, list):
            return _invalid_form({(): ("BASE_TYPE_ARRAY", "Must be an array.")})
        errors = _check_commands(body)
        if errors:
            return _invalid_form(errors)
        previous = {(c["name"], c.get("type", 1)): c for c in self.commands.get(scope, [])}
        stored = []
        for command in body:
            before = previous.get((command["name"], command.get("type", 1)))
            out = {**command, "id": before["id"] if before else str(self._snowflake()),
                   "application_id": str(APP_ID), "version": str(self._snowflake())}
            out.setdefault("type", 1)
            out.setdefault("description", "")
            out.setdefault("default_member_permissions", None)
            out.setdefault("nsfw", False)
            if scope is None:
                out.setdefault("dm_permission", True)
                out.setdefault("contexts", None)
                out.setdefault("integration_types", [0])
            else:
                out["guild_id"] = str(scope)
            stored.append(out)
        self.commands[scope] = stored
        self.syncs += 1
        return stored

    async def _api_get_commands(self, call: Call, app_id: str, guild_id: str | None = None) -> Any:
        if int(app_id) != APP_ID:
            return _error(403, 20012, "You are not authorized to perform this action on this application")
        return self.commands.get(None if guild_id is None else int(guild_id), [])

    # ------------------------------------------------------------ REST: interactions

    async def _api_callback(self, call: Call, interaction_id: str, token: str) -> Any:
        handle = self._by_id.get(int(interaction_id))
        if handle is None or handle.token != token:
            return _error(404, 10062, "Unknown interaction")
        if handle.response is not None:
            handle.rejected.append((400, 40060))
            return _error(400, 40060, "Interaction has already been acknowledged.")
        if call.at - handle.dispatched_at > self.ack_deadline:
            handle.rejected.append((404, 10062))
            return _error(404, 10062, "Unknown interaction")
        body = call.json if isinstance(call.json, dict) else {}
        rtype = body.get("type")
        data = body.get("data") or {}
        allowed = {
            APPLICATION_COMMAND: {CHANNEL_MESSAGE_WITH_SOURCE, DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE, MODAL},
            MESSAGE_COMPONENT: {CHANNEL_MESSAGE_WITH_SOURCE, DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE,
                                DEFERRED_UPDATE_MESSAGE, UPDATE_MESSAGE, MODAL},
            AUTOCOMPLETE: {APPLICATION_COMMAND_AUTOCOMPLETE_RESULT},
            MODAL_SUBMIT: {CHANNEL_MESSAGE_WITH_SOURCE, DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE,
                           DEFERRED_UPDATE_MESSAGE, UPDATE_MESSAGE},
            PING: {PONG},
        }.get(handle.type, set())
        if rtype not in allowed:
            return _invalid_form({("type",): ("INTERACTION_RESPONSE_TYPE_INVALID",
                                              f"Callback type {rtype} is not valid for interaction type "
                                              f"{handle.type}.")})
        message: FakeMessage | None = None
        if rtype == CHANNEL_MESSAGE_WITH_SOURCE:
            created = self._create(handle.channel_id, data, call.files, source="callback", handle=handle,
                                   flags=int(data.get("flags") or 0) & INTERACTION_FLAGS)
            if isinstance(created, web.Response):
                return created
            message = created
            handle.original_id = message.id
        elif rtype == DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE:
            flags = int(data.get("flags") or 0) & EPHEMERAL
            message = self._new_message(handle.channel_id, source="defer", handle=handle, flags=flags | LOADING)
            handle.original_id = message.id
            handle.deferred_flags = flags
        elif rtype in (DEFERRED_UPDATE_MESSAGE, UPDATE_MESSAGE):
            target = self.messages.get(int(handle.payload.get("message", {}).get("id", 0)))
            if target is None:
                return _error(404, 10008, "Unknown Message")
            if rtype == UPDATE_MESSAGE:
                problem = self._edit(target, data, call.files)
                if problem is not None:
                    return problem
            message = target
            handle.original_id = target.id
        elif rtype == APPLICATION_COMMAND_AUTOCOMPLETE_RESULT:
            choices = data.get("choices")
            problem = _check_choices(choices)
            if problem is not None:
                return problem
        handle.response = Callback(rtype, data, call.files, call.at, message)
        await self._notify()
        interaction: dict[str, Any] = {"id": str(handle.id), "type": handle.type}
        resource: dict[str, Any] = {"type": rtype}
        if message is not None:
            interaction.update(response_message_id=str(message.id),
                               response_message_loading=rtype == DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE,
                               response_message_ephemeral=message.ephemeral)
            resource["message"] = message.data
        return {"interaction": interaction, "resource": resource}

    def _webhook_handle(self, call: Call, app_id: str, token: str) -> FakeInteraction | web.Response:
        handle = self._by_token.get(token)
        if handle is None or int(app_id) != APP_ID:
            return _error(404, 10015, "Unknown Webhook")
        if call.at - handle.dispatched_at > self.token_ttl:
            return _error(401, 50027, "Invalid Webhook Token")
        if handle.response is None or handle.response.type == APPLICATION_COMMAND_AUTOCOMPLETE_RESULT:
            return _error(404, 10015, "Unknown Webhook")
        return handle

    async def _api_followup(self, call: Call, app_id: str, token: str) -> Any:
        handle = self._webhook_handle(call, app_id, token)
        if isinstance(handle, web.Response):
            return handle
        payload = call.json if isinstance(call.json, dict) else {}
        own_flags = int(payload.get("flags") or 0) & INTERACTION_FLAGS
        original = handle.original
        if handle.deferred_flags is not None and original is not None and not original.deleted:
            # The first follow-up after a type-5 defer fills the deferred message and takes its ephemeral flag
            # (once the deferred message is deleted, a follow-up is a new message with its own flags).
            problem = self._validate(payload, call.files, edit=False)
            if problem is not None:
                return problem
            self._apply(original, payload, call.files, edit=False)
            original.data["flags"] = (own_flags & ~EPHEMERAL) | handle.deferred_flags
            handle.deferred_flags = None
            message = original
        else:
            created = self._create(handle.channel_id, payload, call.files, source="followup", handle=handle,
                                   flags=own_flags)
            if isinstance(created, web.Response):
                return created
            message = created
        handle.followups.append(message)
        if call.query.get("wait", "").lower() in ("1", "true"):
            return message.data
        return web.Response(status=204)

    async def _api_webhook_message(self, call: Call, app_id: str, token: str, message_id: str) -> Any:
        handle = self._webhook_handle(call, app_id, token)
        if isinstance(handle, web.Response):
            return handle
        target_id = handle.original_id if message_id == "@original" else int(message_id)
        message = None if target_id is None else self.messages.get(target_id)
        if message is None or message.deleted or message not in handle.messages:
            return _error(404, 10008, "Unknown Message")
        if call.method == "GET":
            return message.data
        if call.method == "DELETE":
            message.deleted = True
            return web.Response(status=204)
        payload = call.json if isinstance(call.json, dict) else {}
        if handle.deferred_flags is not None and message.id == handle.original_id:
            problem = self._validate(payload, call.files, edit=False)
            if problem is not None:
                return problem
            self._apply(message, payload, call.files, edit=False)
            message.data["flags"] = handle.deferred_flags
            handle.deferred_flags = None
            return message.data
        problem = self._edit(message, payload, call.files)
        return problem if problem is not None else message.data

    # ------------------------------------------------------------ REST: channels

    def _known_channel(self, channel_id: int) -> bool:
        return channel_id in self.dm_channels.values() or self.channel_guild(channel_id) is not None

    async def _api_channel(self, call: Call, channel_id: str) -> Any:
        if not self._known_channel(int(channel_id)):
            return _error(404, 10003, "Unknown Channel")
        return self._channel_payload(int(channel_id))

    async def _api_typing(self, call: Call, channel_id: str) -> Any:
        return web.Response(status=204)

    async def _api_create_dm(self, call: Call) -> Any:
        body = call.json if isinstance(call.json, dict) else {}
        try:
            user_id = int(body["recipient_id"])
        except (KeyError, TypeError, ValueError):
            return _invalid_form({("recipient_id",): ("BASE_TYPE_REQUIRED", "This field is required")})
        return self._channel_payload(self._dm_channel(user_id))

    async def _api_send(self, call: Call, channel_id: str) -> Any:
        cid = int(channel_id)
        payload = dict(call.json) if isinstance(call.json, dict) else {}
        dm_user = next((u for u, c in self.dm_channels.items() if c == cid), None)
        guild = self.channel_guild(cid)
        if dm_user is not None:
            if dm_user in self.blocked_dms:
                return _error(403, 50007, "Cannot send messages to this user")
        elif guild is not None:
            perms = guild.permissions_in(BOT_ID, cid)
            if not perms & VIEW_CHANNEL:
                return _error(403, 50001, "Missing Access")
            if not perms & SEND_MESSAGES or (call.files and not perms & ATTACH_FILES):
                return _error(403, 50013, "Missing Permissions")
            if not perms & EMBED_LINKS:
                payload.pop("embeds", None)  # Discord drops a bot's embeds where it lacks Embed Links
        elif self.strict_channels:
            return _error(404, 10003, "Unknown Channel")
        created = self._create(cid, payload, call.files, source="channel", handle=None,
                               flags=int(payload.get("flags") or 0) & CHANNEL_FLAGS)
        return created if isinstance(created, web.Response) else created.data

    async def _api_message(self, call: Call, channel_id: str, message_id: str) -> Any:
        message = self.messages.get(int(message_id))
        if message is None or message.deleted or message.channel_id != int(channel_id) or message.ephemeral:
            return _error(404, 10008, "Unknown Message")
        if call.method == "GET":
            return message.data
        if call.method == "DELETE":
            message.deleted = True
            return web.Response(status=204)
        payload = call.json if isinstance(call.json, dict) else {}
        problem = self._edit(message, payload, call.files)
        return problem if problem is not None else message.data

    # ------------------------------------------------------------ messages

    def _new_message(self, channel_id: int, *, source: str, handle: FakeInteraction | None,
                     flags: int) -> FakeMessage:
        message_id = self._snowflake()
        data: dict[str, Any] = {
            "id": str(message_id), "type": 0, "channel_id": str(channel_id),
            "author": {k: v for k, v in BOT_USER.items() if k not in ("email", "verified", "mfa_enabled", "locale")},
            "content": "", "timestamp": _now_iso(), "edited_timestamp": None, "tts": False,
            "mention_everyone": False, "mentions": [], "mention_roles": [], "attachments": [], "embeds": [],
            "components": [], "pinned": False, "flags": flags,
        }
        if handle is not None:
            if handle.type == APPLICATION_COMMAND and source != "followup":
                data["type"] = 20  # CHAT_INPUT_COMMAND
            user = handle.payload.get("user") or handle.payload["member"]["user"]
            metadata: dict[str, Any] = {"id": str(handle.id), "type": handle.type, "user": user,
                                        "authorizing_integration_owners": handle.payload.get(
                                            "authorizing_integration_owners", {})}
            if source == "followup" and handle.original_id is not None:
                metadata["original_response_message_id"] = str(handle.original_id)
            data.update(webhook_id=str(APP_ID), application_id=str(APP_ID), interaction_metadata=metadata)
        message = FakeMessage(data, [], source, None if handle is None else handle.id)
        self.messages[message_id] = message
        return message

    def _create(self, channel_id: int, payload: dict[str, Any], uploads: list[Upload], *, source: str,
                handle: FakeInteraction | None, flags: int) -> FakeMessage | web.Response:
        problem = self._validate(payload, uploads, edit=False)
        if problem is not None:
            return problem
        message = self._new_message(channel_id, source=source, handle=handle, flags=flags)
        self._apply(message, payload, uploads, edit=False)
        return message

    def _edit(self, message: FakeMessage, payload: dict[str, Any], uploads: list[Upload]) -> web.Response | None:
        problem = self._validate(payload, uploads, edit=True)
        if problem is not None:
            return problem
        self._apply(message, payload, uploads, edit=True)
        if "flags" in payload and payload["flags"] is not None:
            keep = message.flags & (EPHEMERAL | IS_COMPONENTS_V2)
            message.data["flags"] = keep | (int(payload["flags"]) & SUPPRESS_EMBEDS)
        return None

    def _validate(self, payload: dict[str, Any], uploads: list[Upload], *, edit: bool) -> web.Response | None:
        errors: dict[tuple[str, ...], tuple[str, str]] = {}
        content = payload.get("content")
        if content is not None and len(str(content)) > 2000:
            errors[("content",)] = ("BASE_TYPE_MAX_LENGTH", "Must be 2000 or fewer in length.")
        embeds = payload.get("embeds") or []
        errors.update(_check_embeds(embeds))
        if not int(payload.get("flags") or 0) & IS_COMPONENTS_V2:
            errors.update(_check_components(payload.get("components") or []))
        if errors:
            return _invalid_form(errors)
        for upload in uploads:
            if len(upload.data) > self.attachment_size_limit:
                return _error(413, 40005, "Request entity too large")
        has_body = content or embeds or uploads or payload.get("components") or payload.get("sticker_ids") \
            or payload.get("poll")
        if not edit and not has_body:
            return _error(400, 50006, "Cannot send an empty message")
        return None

    def _apply(self, message: FakeMessage, payload: dict[str, Any], uploads: list[Upload], *, edit: bool) -> None:
        data = message.data
        message.payloads.append(payload)
        for key, empty in (("content", ""), ("embeds", []), ("components", [])):
            if key in payload:
                data[key] = empty if payload[key] is None else json.loads(json.dumps(payload[key]))
        for key in ("tts", "nonce", "poll", "message_reference", "allowed_mentions"):
            if payload.get(key) is not None:
                data[key] = payload[key]
        if "message_reference" in data:
            data["message_reference"] = {"type": 0, "channel_id": data["channel_id"], **data["message_reference"]}
        _mentions(data, payload.get("allowed_mentions"))
        by_index: dict[int, Upload] = {}
        for position, upload in enumerate(uploads):
            index = re.fullmatch(r"files\[(\d+)\]", upload.field)
            by_index[int(index.group(1)) if index else position] = upload
        old = {stored.attachment_id: stored for stored in message.files}
        listed = payload.get("attachments")
        files: list[StoredFile] = []
        if listed is not None:
            for attachment in listed:
                ref = int(attachment["id"])
                if ref in old:
                    files.append(old[ref])
                elif ref in by_index:
                    files.append(self._store(by_index.pop(ref), attachment))
            files.extend(self._store(upload, {}) for upload in by_index.values())
        else:
            files = (list(message.files) if edit else []) + [self._store(u, {}) for u in uploads]
        message.files = files
        data["attachments"] = [self._attachment_payload(message, stored) for stored in files]
        by_name = {a["filename"]: a for a in data["attachments"]}
        for embed in data["embeds"]:
            embed.setdefault("type", "rich")
            for key in ("image", "thumbnail"):
                url = (embed.get(key) or {}).get("url") or ""
                if url.startswith("attachment://") and url[len("attachment://"):] in by_name:
                    attachment = by_name[url[len("attachment://"):]]
                    embed[key] = {"url": attachment["url"], "proxy_url": attachment["proxy_url"],
                                  **{k: attachment[k] for k in ("width", "height") if k in attachment}}
        if edit:
            data["edited_timestamp"] = _now_iso()

    def _store(self, upload: Upload, attachment: dict[str, Any]) -> StoredFile:
        return StoredFile(self._snowflake(), attachment.get("filename") or upload.filename,
                          upload.content_type, upload.data, attachment.get("description"))

    def _attachment_payload(self, message: FakeMessage, stored: StoredFile) -> dict[str, Any]:
        url = f"{self.base_url}/attachments/{message.channel_id}/{stored.attachment_id}/{stored.filename}"
        out: dict[str, Any] = {"id": str(stored.attachment_id), "filename": stored.filename, "size": len(stored.data),
                               "url": url, "proxy_url": url, "content_type": stored.content_type}
        if stored.description:
            out["description"] = stored.description
        size = _png_size(stored.data)
        if size is not None:
            out["width"], out["height"] = size
        if message.ephemeral:
            out["ephemeral"] = True
        return out


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


def _option_type(value: Any) -> int:
    if isinstance(value, bool):
        return 5
    if isinstance(value, int):
        return 4
    if isinstance(value, float):
        return 10
    return 3


def _options(options: dict[str, Any] | list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    if options is None:
        return []
    if isinstance(options, list):
        return [dict(o) for o in options]
    return [{"name": k, "type": _option_type(v), "value": v} for k, v in options.items()]


def _mentions(data: dict[str, Any], allowed: dict[str, Any] | None) -> None:
    """Who the message's content pings, as Discord decides it: the mentions written in the content, limited by
    `allowed_mentions` (absent: everything written pings)."""
    content = str(data.get("content") or "")
    parse = set(allowed.get("parse", [])) if allowed is not None else {"everyone", "roles", "users"}
    roles = re.findall(r"<@&(\d+)>", content)
    users = re.findall(r"<@!?(\d+)>", content)
    data["mention_everyone"] = "everyone" in parse and ("@everyone" in content or "@here" in content)
    allowed_roles = {str(r) for r in (allowed or {}).get("roles", [])}
    data["mention_roles"] = [r for r in roles if "roles" in parse or r in allowed_roles]
    allowed_users = {str(u) for u in (allowed or {}).get("users", [])}
    data["mentions"] = [{"id": u} for u in users if "users" in parse or u in allowed_users]
    data.pop("allowed_mentions", None)


def _walk_components(components: Iterable[dict[str, Any]]) -> Iterable[dict[str, Any]]:
    for component in components:
        yield component
        yield from _walk_components(component.get("components") or [])
        if isinstance(component.get("accessory"), dict):
            yield component["accessory"]


def _png_size(data: bytes) -> tuple[int, int] | None:
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return width, height
    return None


def _check_embeds(embeds: list[dict[str, Any]]) -> dict[tuple[str, ...], tuple[str, str]]:
    errors: dict[tuple[str, ...], tuple[str, str]] = {}
    if len(embeds) > 10:
        errors[("embeds",)] = ("BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
        return errors
    total = 0
    limits = {"title": 256, "description": 4096}
    for i, embed in enumerate(embeds):
        at = ("embeds", str(i))
        for key, limit in limits.items():
            text = embed.get(key) or ""
            total += len(text)
            if len(text) > limit:
                errors[(*at, key)] = ("BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")
        for key, sub, limit in (("footer", "text", 2048), ("author", "name", 256)):
            text = (embed.get(key) or {}).get(sub) or ""
            total += len(text)
            if len(text) > limit:
                errors[(*at, key, sub)] = ("BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")
        fields = embed.get("fields") or []
        if len(fields) > 25:
            errors[(*at, "fields")] = ("BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
        for j, embed_field in enumerate(fields):
            for key, limit in (("name", 256), ("value", 1024)):
                text = str(embed_field.get(key) or "")
                total += len(text)
                if not text:
                    errors[(*at, "fields", str(j), key)] = ("BASE_TYPE_REQUIRED", "This field is required")
                elif len(text) > limit:
                    errors[(*at, "fields", str(j), key)] = ("BASE_TYPE_MAX_LENGTH",
                                                            f"Must be {limit} or fewer in length.")
    if total > 6000:
        errors[("embeds",)] = ("MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000")
    return errors


def _check_components(rows: list[dict[str, Any]]) -> dict[tuple[str, ...], tuple[str, str]]:
    errors: dict[tuple[str, ...], tuple[str, str]] = {}
    if len(rows) > 5:
        errors[("components",)] = ("BASE_TYPE_MAX_LENGTH", "Must be 5 or fewer in length.")
        return errors
    seen: set[str] = set()
    for i, row in enumerate(rows):
        at = ("components", str(i))
        if row.get("type") != 1:
            errors[(*at, "type")] = ("UNION_TYPE_CHOICES", "Top-level components must be action rows.")
            continue
        children = row.get("components") or []
        if not children or len(children) > 5:
            errors[(*at, "components")] = ("BASE_TYPE_BAD_LENGTH", "Must be between 1 and 5 in length.")
        for j, child in enumerate(children):
            where = (*at, "components", str(j))
            custom_id = child.get("custom_id")
            if child.get("type") == 2 and child.get("style") not in (5, 6) and not custom_id:
                errors[(*where, "custom_id")] = ("BASE_TYPE_REQUIRED", "This field is required")
            if custom_id is not None:
                if len(custom_id) > 100:
                    errors[(*where, "custom_id")] = ("BASE_TYPE_MAX_LENGTH", "Must be 100 or fewer in length.")
                if custom_id in seen:
                    errors[(*where, "custom_id")] = ("COMPONENT_CUSTOM_ID_DUPLICATED",
                                                     "Component custom id cannot be duplicated")
                seen.add(custom_id)
            if len(child.get("label") or "") > 80:
                errors[(*where, "label")] = ("BASE_TYPE_MAX_LENGTH", "Must be 80 or fewer in length.")
            if len(child.get("options") or []) > 25:
                errors[(*where, "options")] = ("BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    return errors


def _check_commands(commands: list[Any]) -> dict[tuple[str, ...], tuple[str, str]]:
    errors: dict[tuple[str, ...], tuple[str, str]] = {}
    seen: set[tuple[str, int]] = set()
    if sum(1 for c in commands if isinstance(c, dict) and c.get("type", 1) == 1) > 100:
        errors[()] = ("BASE_TYPE_MAX_LENGTH", "Must be 100 or fewer in length.")
    for i, command in enumerate(commands):
        if not isinstance(command, dict):
            errors[(str(i),)] = ("DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
            continue
        name, ctype = str(command.get("name") or ""), command.get("type", 1)
        if ctype == 1 and (not _COMMAND_NAME.match(name) or name != name.lower()):
            errors[(str(i), "name")] = ("APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
        elif not 1 <= len(name) <= 32:
            errors[(str(i), "name")] = ("BASE_TYPE_BAD_LENGTH", "Must be between 1 and 32 in length.")
        description = command.get("description") or ""
        if ctype == 1 and not 1 <= len(description) <= 100:
            errors[(str(i), "description")] = ("BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
        if (name, ctype) in seen:
            errors[(str(i), "name")] = ("APPLICATION_COMMANDS_DUPLICATE_NAME",
                                        "Application command names must be unique")
        seen.add((name, ctype))
        errors.update(_check_options(command.get("options") or [], (str(i), "options")))
    return errors


def _check_options(options: list[dict[str, Any]], at: tuple[str, ...]) -> dict[tuple[str, ...], tuple[str, str]]:
    errors: dict[tuple[str, ...], tuple[str, str]] = {}
    if len(options) > 25:
        errors[at] = ("BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    optional_seen = False
    for j, option in enumerate(options):
        where = (*at, str(j))
        name = str(option.get("name") or "")
        if not _COMMAND_NAME.match(name) or name != name.lower():
            errors[(*where, "name")] = ("APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
        if not 1 <= len(option.get("description") or "") <= 100:
            errors[(*where, "description")] = ("BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
        if len(option.get("choices") or []) > 25:
            errors[(*where, "choices")] = ("BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
        if option.get("type") in (1, 2):
            errors.update(_check_options(option.get("options") or [], (*where, "options")))
        elif option.get("required"):
            if optional_seen:
                errors[(*where, "required")] = ("APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                                                "Required options must be placed before non-required options")
        else:
            optional_seen = True
    return errors


def _check_choices(choices: Any) -> web.Response | None:
    if not isinstance(choices, list):
        return _invalid_form({("data", "choices"): ("BASE_TYPE_REQUIRED", "This field is required")})
    errors: dict[tuple[str, ...], tuple[str, str]] = {}
    if len(choices) > 25:
        errors[("data", "choices")] = ("BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    for i, choice in enumerate(choices):
        if not 1 <= len(str(choice.get("name") or "")) <= 100:
            errors[("data", "choices", str(i), "name")] = ("BASE_TYPE_BAD_LENGTH",
                                                           "Must be between 1 and 100 in length.")
    return _invalid_form(errors) if errors else None


async def _read_body(request: web.Request) -> tuple[Any, list[Upload]]:
    """The JSON body (or multipart payload_json) and the uploaded files. Reads multipart as a stream, so
    client_max_size's cap on `request.post()` does not apply."""
    if request.content_type.startswith("multipart/"):
        payload: Any = None
        uploads: list[Upload] = []
        reader = await request.multipart()
        while True:
            part = await reader.next()
            if part is None:
                break
            if not isinstance(part, BodyPartReader):
                continue
            raw = bytes(await part.read(decode=False))
            if part.name == "payload_json":
                payload = json.loads(raw)
            elif part.filename is not None:
                uploads.append(Upload(part.name or "", part.filename, part.headers.get("Content-Type"), raw))
        return payload, uploads
    raw = await request.read()
    if not raw:
        return None, []
    return json.loads(raw), []


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    # Exactly "application/json": discord.py compares the header verbatim (aiohttp would add "; charset=utf-8").
    return web.Response(body=json.dumps(data).encode(), status=status,
                        headers={"Content-Type": "application/json", **(headers or {})})


def _error(status: int, code: int, message: str, errors: dict[str, Any] | None = None) -> web.Response:
    body: dict[str, Any] = {"message": message, "code": code}
    if errors:
        body["errors"] = errors
    return _json(body, status)


def _invalid_form(errors: dict[tuple[str, ...], tuple[str, str]]) -> web.Response:
    tree: dict[str, Any] = {}
    for path, (code, message) in errors.items():
        node = tree
        for key in path:
            node = node.setdefault(key, {})
        node.setdefault("_errors", []).append({"code": code, "message": message})
    return _error(400, 50035, "Invalid Form Body", tree)
