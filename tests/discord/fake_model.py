"""The state of the fake Discord (its settings, what it recorded, its model of guilds, users, channels and messages)
and that model rendered as the API's objects (users, members, roles, channels, guilds, the application). The base
of FakeDiscord's parts (tests/discord/fake_gateway.py, fake_rest.py, fake_callbacks.py, fake_messages.py)."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from tests.discord.fake_constants import (
    API_PATH,
    APP_ID,
    ATTACHMENT_SIZE_LIMIT,
    BOT_ID,
    BOT_USER,
    DISCORD_EPOCH_MS,
    HEARTBEAT_INTERVAL_MS,
    OWNER_ID,
    OWNER_USER,
    TOKEN,
    user_payload,
)
from tests.discord.fake_records import (
    Call,
    FakeGuild,
    FakeInteraction,
    FakeMessage,
    Frame,
    GatewayConn,
    InjectedDelay,
    InjectedFailure,
)


class FakeModel:
    """FakeDiscord's settings and state; see FakeDiscord (tests/discord/fake_discord.py) for the whole."""

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
        self._failures: list[InjectedFailure] = []
        self._delays: list[InjectedDelay] = []
        self._conns: list[GatewayConn] = []
        self._session: GatewayConn | None = None
        self._changed = asyncio.Condition()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        return f"{self.base_url}{API_PATH}"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gw"

    def add_user(self, user_id: int, username: str | None = None, *, bot: bool = False) -> dict[str, Any]:
        self.users[user_id] = user_payload(user_id, username, bot=bot)
        return self.users[user_id]

    def block_dms(self, user_id: int) -> None:
        """Sends to this user's DM channel fail with 403 50007 "Cannot send messages to this user"."""
        self.blocked_dms.add(user_id)

    def channel_guild(self, channel_id: int) -> FakeGuild | None:
        for guild in self.guilds.values():
            if channel_id in guild.channels:
                return guild
        return None

    async def wait_until(self, predicate: Callable[[], Any], timeout: float = 5.0) -> None:
        """Wait until `predicate()` is true; it is checked whenever the fake records something."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(predicate), timeout)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------ API objects

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
