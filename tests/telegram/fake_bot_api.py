"""A local stand-in for the Telegram Bot API (aiohttp.web on 127.0.0.1, a free port).

The real python-telegram-bot client talks to it over HTTP: `POST /bot<token>/<method>`, form-encoded or
multipart. It serves queued updates through getUpdates (long poll, capped short), answers the methods the bot
uses with plausible objects, records every call (method, params, files, time) and can be told to fail a method
(optionally for one chat) with a 429, 403, 400 (e.g. migrated) or 5xx, or to answer it late.

With `enforce_limits`, it answers 429 as Telegram does to a bot that sends more than 30 messages in any second,
or more than one a second to one chat (`too_many` counts them). Telegram's own limits are not exact; the
fake measures them on arrival times with 100 ms of slack: on a busy two-core machine a request can reach the
fake that much later than the one sent after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

TOKEN = "123456:TEST-fake-token-AbCdEfGhIjKlMnOpQrStUv"
BOT_USER = {
    "id": 123456,
    "is_bot": True,
    "first_name": "Decoupler",
    "username": "DecouplerTestBot",
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}
JSON_FIELDS = frozenset({
    "reply_markup", "commands", "media", "allowed_updates", "reply_parameters", "link_preview_options", "scope",
    "entities", "caption_entities",
})
_ADMIN_FIELDS = (
    "can_be_edited", "is_anonymous", "can_manage_chat", "can_delete_messages", "can_manage_video_chats",
    "can_restrict_members", "can_promote_members", "can_change_info", "can_invite_users", "can_post_stories",
    "can_edit_stories", "can_delete_stories",
)
MESSAGE_METHODS = frozenset({"sendMessage", "sendPhoto", "editMessageText", "editMessageMedia"})
LIMIT_SLACK = 0.1  # seconds
_RESTRICTED_FIELDS = (
    "can_change_info", "can_invite_users", "can_pin_messages", "can_send_messages", "can_send_polls",
    "can_send_other_messages", "can_add_web_page_previews", "can_manage_topics", "can_send_audios",
    "can_send_documents", "can_send_photos", "can_send_videos", "can_send_video_notes", "can_send_voice_notes",
    "can_edit_tag", "can_react_to_messages",
)


def chat_member(user: dict[str, Any], status: str) -> dict[str, Any]:
    """A ChatMember object with the fields its status requires."""
    member: dict[str, Any] = {"status": status, "user": user}
    if status == "administrator":
        member.update(dict.fromkeys(_ADMIN_FIELDS, False), can_manage_chat=True)
    elif status == "creator":
        member["is_anonymous"] = False
    elif status == "restricted":
        member.update(dict.fromkeys(_RESTRICTED_FIELDS, False), is_member=True, until_date=0)
    elif status == "kicked":
        member["until_date"] = 0
    return member


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    files: dict[str, bytes]
    at: float  # time.monotonic() on arrival
    status: int = 200
    result: Any = None  # what the fake answered (the sent Message, for sends)

    @property
    def chat_id(self) -> str | None:
        value = self.params.get("chat_id")
        return None if value is None else str(value)


@dataclass
class Failure:
    method: str
    status: int
    description: str
    parameters: dict[str, Any] | None = None
    chat_id: str | None = None
    times: int | None = 1  # None: every time

    def matches(self, method: str, chat_id: str | None) -> bool:
        return self.method == method and (self.chat_id is None or self.chat_id == chat_id) and self.times != 0


@dataclass
class FakeBotAPI:
    token: str = TOKEN
    long_poll_cap: float = 0.5  # seconds getUpdates waits for an update before answering []
    calls: list[Call] = field(default_factory=list)
    served_at: dict[int, float] = field(default_factory=dict)  # update_id -> when getUpdates handed it out
    members: dict[tuple[str, str], str] = field(default_factory=dict)  # (chat, user) -> status
    chats: dict[str, dict[str, Any]] = field(default_factory=dict)
    messages: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    enforce_limits: bool = False
    per_second: int = 30  # Telegram's messages per second per token, when enforce_limits
    too_many: int = 0  # 429s answered for going over the limits

    def __post_init__(self) -> None:
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1000)
        self._file_ids = itertools.count(1)
        self._failures: list[Failure] = []
        self._delays: dict[str, list[float]] = {}
        self._accepted: list[float] = []
        self._last_by_chat: dict[str, float] = {}
        self._changed = asyncio.Condition()
        self._tasks: set[asyncio.Task[None]] = set()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # ------------------------------------------------------------ server

    async def start(self) -> FakeBotAPI:
        app = web.Application(client_max_size=50 * 1024 * 1024)
        self._route(app)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    def _route(self, app: web.Application) -> None:
        app.router.add_post("/bot{token}/{method}", self._handle)

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeBotAPI:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    # ------------------------------------------------------------ test controls

    def queue(self, update: dict[str, Any]) -> int:
        """Serve `update` through getUpdates (an update_id is assigned if it has none)."""
        update.setdefault("update_id", next(self._update_ids))
        self._learn_chats(update)
        self._updates.append(update)
        task = asyncio.get_running_loop().create_task(self._notify())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return update["update_id"]

    def learn(self, update: dict[str, Any]) -> dict[str, Any]:
        """Remember the chats of an update driven straight into the application (no getUpdates)."""
        self._learn_chats(update)
        return update

    def fail(self, method: str, status: int, description: str, *, chat_id: str | int | None = None,
             times: int | None = 1, parameters: dict[str, Any] | None = None) -> None:
        chat = None if chat_id is None else str(chat_id)
        self._failures.append(Failure(method, status, description, parameters, chat, times))

    def fail_flood(self, method: str, retry_after: int, **kw: Any) -> None:
        self.fail(method, 429, f"Too Many Requests: retry after {retry_after}",
                  parameters={"retry_after": retry_after}, **kw)

    def fail_blocked(self, method: str, **kw: Any) -> None:
        self.fail(method, 403, "Forbidden: bot was blocked by the user", **kw)

    def fail_migrated(self, method: str, chat_id: str | int, new_chat_id: int, **kw: Any) -> None:
        self.fail(method, 400, "Bad Request: group chat was upgraded to a supergroup chat",
                  parameters={"migrate_to_chat_id": new_chat_id}, chat_id=chat_id, **kw)

    def fail_server(self, method: str, status: int = 500, **kw: Any) -> None:
        self.fail(method, status, "Internal Server Error", **kw)

    def slow(self, method: str, seconds: float, times: int = 1) -> None:
        """Answer the next `times` calls of `method` only after `seconds`."""
        self._delays.setdefault(method, []).extend([seconds] * times)

    def set_member(self, chat_id: str | int, user_id: str | int, status: str) -> None:
        self.members[(str(chat_id), str(user_id))] = status

    def sent(self, method: str | None = None, chat_id: str | int | None = None) -> list[Call]:
        return [c for c in self.calls
                if (method is None or c.method == method) and (chat_id is None or c.chat_id == str(chat_id))]

    async def wait_for(self, method: str, *, count: int = 1, timeout: float = 20.0, **match: Any) -> list[Call]:
        """Wait until `count` calls of `method` whose params include `match` have arrived."""
        def found() -> list[Call]:
            return [c for c in self.calls if c.method == method
                    and all(str(c.params.get(k)) == str(v) for k, v in match.items())]

        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: len(found()) >= count), timeout)
        return found()

    # ------------------------------------------------------------ HTTP

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        method = request.match_info["method"]
        params, files = await _read_params(request)
        call = Call(method, params, files, time.monotonic())
        self.calls.append(call)
        await self._notify()
        if self.enforce_limits and method in MESSAGE_METHODS and self._over_limit(call):
            self.too_many += 1
            call.status = 429
            return _error(429, "Too Many Requests: retry after 1", {"retry_after": 1})
        delays = self._delays.get(method)
        if delays:
            await asyncio.sleep(delays.pop(0))
        for failure in self._failures:
            if failure.matches(method, call.chat_id):
                if failure.times is not None:
                    failure.times -= 1
                call.status = failure.status
                return _error(failure.status, failure.description, failure.parameters)
        handler = getattr(self, f"_api_{method}", None)
        if handler is None:
            return _error(404, "Not Found: method not found")
        result = await handler(params, files)
        if isinstance(result, web.Response):
            call.status = result.status
            return result
        call.result = result
        return web.json_response({"ok": True, "result": result})

    def _over_limit(self, call: Call) -> bool:
        now, chat = call.at, call.chat_id or ""
        recent = [t for t in self._accepted if t > now - (1.0 - LIMIT_SLACK)]
        self._accepted = recent
        if len(recent) >= self.per_second or now - self._last_by_chat.get(chat, -10.0) < 1.0 - LIMIT_SLACK:
            return True
        self._accepted.append(now)
        self._last_by_chat[chat] = now
        return False

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # ------------------------------------------------------------ methods

    async def _api_getMe(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        return BOT_USER

    async def _api_deleteWebhook(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        return True

    async def _api_setWebhook(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        return True

    async def _api_setMyCommands(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        return True

    async def _api_sendChatAction(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        return True

    async def _api_answerCallbackQuery(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        return True

    async def _api_getUpdates(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        offset = int(params.get("offset") or 0)
        self._updates = [u for u in self._updates if u["update_id"] >= offset]
        wait = min(float(params.get("timeout") or 0), self.long_poll_cap)
        if not self._updates and wait > 0:
            async with self._changed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait_for(lambda: bool(self._updates)), wait)
        batch = self._updates[: int(params.get("limit") or 100)]
        now = time.monotonic()
        for update in batch:
            self.served_at.setdefault(update["update_id"], now)
        return batch

    async def _api_getChatMember(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        chat_id, user_id = str(params["chat_id"]), str(params["user_id"])
        status = self.members.get((chat_id, user_id), "member")
        return chat_member({"id": int(user_id), "is_bot": False, "first_name": "U"}, status)

    async def _api_sendMessage(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        if not str(params.get("text", "")).strip():
            return _error(400, "Bad Request: message text is empty")
        return self._new_message(params, text=params["text"])

    async def _api_sendPhoto(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        if "photo" in files:
            file_id = self._store_file(files["photo"])
        elif params.get("photo") in self.files:
            file_id = params["photo"]
        else:
            return _error(400, "Bad Request: wrong file identifier/HTTP URL specified")
        return self._new_message(params, photo=_photo_sizes(file_id), caption=params.get("caption"))

    async def _api_editMessageText(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        message = self.messages.get((str(params.get("chat_id")), int(params.get("message_id", 0))))
        if message is None or "text" not in message:
            return _error(400, "Bad Request: message to edit not found")
        if message["text"] == params["text"] and message.get("reply_markup") == params.get("reply_markup"):
            return _error(400, "Bad Request: message is not modified: specified new message content and reply "
                               "markup are exactly the same as a current content and reply markup of the message")
        message["text"] = params["text"]
        _set_markup(message, params)
        return message

    async def _api_editMessageMedia(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        message = self.messages.get((str(params.get("chat_id")), int(params.get("message_id", 0))))
        if message is None or "photo" not in message:
            return _error(400, "Bad Request: message to edit not found")
        media = params.get("media") or {}
        ref = str(media.get("media", ""))
        if ref.startswith("attach://") and ref[len("attach://"):] in files:
            file_id = self._store_file(files[ref[len("attach://"):]])
        elif ref in self.files:
            file_id = ref
        else:
            return _error(400, "Bad Request: wrong file identifier/HTTP URL specified")
        message["photo"] = _photo_sizes(file_id)
        message["caption"] = media.get("caption")
        _set_markup(message, params)
        return message

    # ------------------------------------------------------------ helpers

    def _store_file(self, data: bytes) -> str:
        file_id = f"photo-{next(self._file_ids)}"
        self.files[file_id] = data
        self.files[f"{file_id}-thumb"] = data
        return file_id

    def _chat(self, chat_id: str) -> dict[str, Any]:
        known = self.chats.get(chat_id)
        if known is not None:
            return known
        if chat_id.startswith("-"):
            return {"id": int(chat_id), "type": "supergroup", "title": "Some group"}
        return {"id": int(chat_id), "type": "private", "first_name": "Someone"}

    def _new_message(self, params: dict[str, Any], **content: Any) -> dict[str, Any]:
        chat_id = str(params["chat_id"])
        message = {"message_id": next(self._message_ids), "date": int(time.time()), "chat": self._chat(chat_id),
                   "from": BOT_USER, **{k: v for k, v in content.items() if v is not None}}
        _set_markup(message, params)
        self.messages[(chat_id, message["message_id"])] = message
        return message

    def _learn_chats(self, update: dict[str, Any]) -> None:
        for key in ("message", "channel_post", "my_chat_member"):
            if key in update:
                chat = update[key]["chat"]
                self.chats[str(chat["id"])] = chat
        if "callback_query" in update and "message" in update["callback_query"]:
            chat = update["callback_query"]["message"]["chat"]
            self.chats[str(chat["id"])] = chat


def _photo_sizes(file_id: str) -> list[dict[str, Any]]:
    return [
        {"file_id": f"{file_id}-thumb", "file_unique_id": f"u{file_id}t", "width": 90, "height": 60},
        {"file_id": file_id, "file_unique_id": f"u{file_id}", "width": 1200, "height": 800},
    ]


def _set_markup(message: dict[str, Any], params: dict[str, Any]) -> None:
    if params.get("reply_markup"):
        message["reply_markup"] = params["reply_markup"]
    else:
        message.pop("reply_markup", None)


async def _read_params(request: web.Request) -> tuple[dict[str, Any], dict[str, bytes]]:
    params: dict[str, Any] = {}
    files: dict[str, bytes] = {}
    if request.content_type == "application/json":
        params = await request.json()
        return params, files
    form = await request.post()
    for name, value in form.items():
        if isinstance(value, web.FileField):
            files[name] = value.file.read()
        elif name in JSON_FIELDS and isinstance(value, str):
            try:
                params[name] = json.loads(value)
            except ValueError:
                params[name] = value
        else:
            params[name] = value
    return params, files


def _error(status: int, description: str, parameters: dict[str, Any] | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=status)
