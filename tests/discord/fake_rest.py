"""The fake Discord's REST API under /api/v10: the routing (every call recorded in `calls`, with the failures and
delays tests inject), start-up, command sync, channels and their messages, and the attachments' URLs. The
interaction callbacks and follow-ups it routes to are tests/discord/fake_callbacks.py."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

from aiohttp import web

from tests.discord.fake_checks import check_commands, error_response, invalid_form, json_response, read_body
from tests.discord.fake_constants import (
    APP_ID,
    ATTACH_FILES,
    BOT_ID,
    BOT_USER,
    CHANNEL_FLAGS,
    EMBED_LINKS,
    SEND_MESSAGES,
    VIEW_CHANNEL,
)
from tests.discord.fake_messages import MessagesMixin
from tests.discord.fake_records import Call, InjectedDelay, InjectedFailure


class RestMixin(MessagesMixin):
    """FakeDiscord's REST routes (the `_api_*` methods named in `_ROUTES`) and the failures and delays tests inject
    into them."""

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
        self._failures.append(InjectedFailure(re.compile(pattern), status, data, headers, times))

    def fail_channel(self, channel_id: int, status: int, **kw: Any) -> None:
        """Fail sends (POST /channels/{id}/messages) to one channel; see `fail`."""
        self.fail(rf"^POST /channels/{channel_id}/messages$", status, **kw)

    def rate_limit(self, pattern: str, retry_after: float = 0.2, **kw: Any) -> None:
        """A 429 Discord-style (with Via) for the matching calls; discord.py sleeps `retry_after` and retries."""
        self.fail(pattern, 429, retry_after=retry_after, **kw)

    def slow(self, pattern: str, seconds: float, times: int | None = 1) -> None:
        """Answer the next `times` matching REST calls only after `seconds`."""
        self._delays.append(InjectedDelay(re.compile(pattern), seconds, times))

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
            body, uploads = await read_body(request)
        except ValueError:
            return error_response(400, 50109, "The request body contains invalid JSON.")
        call = Call(request.method, path, dict(request.query), body, uploads, time.monotonic(),
                    authorized=request.headers.get("Authorization") == f"Bot {self.token}")
        self.calls.append(call)
        await self._notify()
        try:
            response = await self._answer(call)
        except Exception as exc:  # a bug in the fake (or a malformed request): a 400, which discord.py won't retry
            self.crashes.append(exc)
            response = error_response(400, 0, f"fake_discord could not handle {call.route}: {exc!r}")
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
                return error_response(401, 0, "401: Unauthorized")
            await self._maybe_delay(call.route)
            failure = self._take_failure(call.route)
            if failure is not None:
                return json_response(failure.body, failure.status, failure.headers)
            result = await getattr(self, handler_name)(call, **{k: v for k, v in match.groupdict().items()})
            if isinstance(result, web.StreamResponse):
                return result
            call.response = result
            return json_response(result)
        return error_response(404, 0, "404: Not Found")

    async def _maybe_delay(self, route: str) -> None:
        for delay in self._delays:
            if delay.times != 0 and delay.pattern.search(route):
                if delay.times is not None:
                    delay.times -= 1
                await asyncio.sleep(delay.seconds)
                return

    def _take_failure(self, route: str) -> InjectedFailure | None:
        for failure in self._failures:
            if failure.times != 0 and failure.pattern.search(route):
                if failure.times is not None:
                    failure.times -= 1
                return failure
        return None

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
        return user if user is not None else error_response(404, 10013, "Unknown User")

    async def _api_member(self, call: Call, guild_id: str, user_id: str) -> Any:
        guild = self.guilds.get(int(guild_id))
        if guild is None:
            return error_response(404, 10004, "Unknown Guild")
        if int(user_id) != BOT_ID and int(user_id) not in guild.members:
            return error_response(404, 10007, "Unknown Member")
        return self._member_payload(guild, int(user_id))

    # ------------------------------------------------------------ REST: commands

    async def _api_put_commands(self, call: Call, app_id: str, guild_id: str | None = None) -> Any:
        if int(app_id) != APP_ID:
            return error_response(403, 20012, "You are not authorized to perform this action on this application")
        scope = None if guild_id is None else int(guild_id)
        if scope is not None and scope not in self.guilds:
            return error_response(403, 50001, "Missing Access")
        body = call.json
        if not isinstance(body, list):
            return invalid_form({(): ("BASE_TYPE_ARRAY", "Must be an array.")})
        errors = check_commands(body)
        if errors:
            return invalid_form(errors)
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
            return error_response(403, 20012, "You are not authorized to perform this action on this application")
        return self.commands.get(None if guild_id is None else int(guild_id), [])

    # ------------------------------------------------------------ REST: channels

    def _known_channel(self, channel_id: int) -> bool:
        return channel_id in self.dm_channels.values() or self.channel_guild(channel_id) is not None

    async def _api_channel(self, call: Call, channel_id: str) -> Any:
        if not self._known_channel(int(channel_id)):
            return error_response(404, 10003, "Unknown Channel")
        return self._channel_payload(int(channel_id))

    async def _api_typing(self, call: Call, channel_id: str) -> Any:
        return web.Response(status=204)

    async def _api_create_dm(self, call: Call) -> Any:
        body = call.json if isinstance(call.json, dict) else {}
        try:
            user_id = int(body["recipient_id"])
        except (KeyError, TypeError, ValueError):
            return invalid_form({("recipient_id",): ("BASE_TYPE_REQUIRED", "This field is required")})
        return self._channel_payload(self._dm_channel(user_id))

    async def _api_send(self, call: Call, channel_id: str) -> Any:
        cid = int(channel_id)
        payload = dict(call.json) if isinstance(call.json, dict) else {}
        dm_user = next((u for u, c in self.dm_channels.items() if c == cid), None)
        guild = self.channel_guild(cid)
        if dm_user is not None:
            if dm_user in self.blocked_dms:
                return error_response(403, 50007, "Cannot send messages to this user")
        elif guild is not None:
            perms = guild.permissions_in(BOT_ID, cid)
            if not perms & VIEW_CHANNEL:
                return error_response(403, 50001, "Missing Access")
            if not perms & SEND_MESSAGES or (call.files and not perms & ATTACH_FILES):
                return error_response(403, 50013, "Missing Permissions")
            if not perms & EMBED_LINKS:
                payload.pop("embeds", None)  # Discord drops a bot's embeds where it lacks Embed Links
        elif self.strict_channels:
            return error_response(404, 10003, "Unknown Channel")
        created = self._create(cid, payload, call.files, source="channel", handle=None,
                               flags=int(payload.get("flags") or 0) & CHANNEL_FLAGS)
        return created if isinstance(created, web.Response) else created.data

    async def _api_message(self, call: Call, channel_id: str, message_id: str) -> Any:
        message = self.messages.get(int(message_id))
        if message is None or message.deleted or message.channel_id != int(channel_id) or message.ephemeral:
            return error_response(404, 10008, "Unknown Message")
        if call.method == "GET":
            return message.data
        if call.method == "DELETE":
            message.deleted = True
            return web.Response(status=204)
        payload = call.json if isinstance(call.json, dict) else {}
        problem = self._edit(message, payload, call.files)
        return problem if problem is not None else message.data
