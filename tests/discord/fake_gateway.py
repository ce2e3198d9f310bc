"""The fake Discord's gateway: the socket discord.py connects to (HELLO, IDENTIFY and READY with every guild's
GUILD_CREATE, RESUME, heartbeats, member chunks), and the events tests send over it, interactions above all
(`interaction`, `command`, `autocomplete`, `press`)."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from aiohttp import WSMsgType, web

from tests.discord.fake_constants import (
    APP_ID,
    APPLICATION_COMMAND,
    AUTOCOMPLETE,
    BOT_ID,
    BOT_USER,
    CONTEXT_BOT_DM,
    CONTEXT_GUILD,
    DEFAULT_APP_PERMISSIONS,
    MESSAGE_COMPONENT,
    USER_ID,
    user_payload,
)
from tests.discord.fake_model import FakeModel
from tests.discord.fake_records import FakeGuild, FakeInteraction, FakeMessage, Frame, GatewayConn


class GatewayMixin(FakeModel):
    """FakeDiscord's gateway (/gw) and the gateway events tests dispatch."""

    @property
    def connected(self) -> bool:
        """A client has identified (or resumed) and is connected."""
        return self._session is not None and self._session.ready

    @property
    def intents(self) -> int | None:
        return None if self.identify is None else self.identify.get("intents")

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
        conn = GatewayConn(ws, dict(request.query))
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

    async def _on_frame(self, conn: GatewayConn, frame: dict[str, Any]) -> None:
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

    async def _identify(self, conn: GatewayConn, d: dict[str, Any]) -> None:
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

    async def _resume(self, conn: GatewayConn, d: dict[str, Any]) -> None:
        if d.get("token") != self.token or d.get("session_id") != self.session_id:
            await self._send(conn, {"op": 9, "d": False, "s": None, "t": None})
            return
        self.resumes += 1
        self._session = conn
        await self._dispatch_on(conn, "RESUMED", {"_trace": ["fake-discord"]})
        conn.ready = True
        await self._notify()

    async def _members_chunk(self, conn: GatewayConn, d: dict[str, Any]) -> None:
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

    async def _dispatch_on(self, conn: GatewayConn, event: str, data: dict[str, Any]) -> int:
        self._seq += 1
        await self._send(conn, {"op": 0, "t": event, "s": self._seq, "d": data})
        return self._seq

    async def _send(self, conn: GatewayConn, frame: dict[str, Any]) -> None:
        async with conn.lock:
            await conn.ws.send_str(json.dumps(frame))
        self.frames.append(Frame("out", frame["op"], frame.get("t"), frame["d"], time.monotonic()))


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
