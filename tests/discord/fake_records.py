"""What the fake Discord records and keeps: REST calls, gateway frames, messages and their files, interaction
callbacks, guilds, interactions; and the injected failures and delays and the gateway connections it holds."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Generator, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web

from tests.discord.fake_constants import (
    ADMINISTRATOR,
    ALL_PERMISSIONS,
    BOT_ID,
    DEFAULT_APP_PERMISSIONS,
    EPHEMERAL,
    LOADING,
    OWNER_ID,
)

if TYPE_CHECKING:
    from tests.discord.fake_model import FakeModel


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


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
    joined_at: str = field(default_factory=now_iso)

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

    fake: FakeModel = field(repr=False)
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
class InjectedFailure:
    """A failure `FakeDiscord.fail` injected: the answer to the next `times` calls whose route matches."""

    pattern: re.Pattern[str]
    status: int
    body: dict[str, Any]
    headers: dict[str, str]
    times: int | None  # None: every time


@dataclass
class InjectedDelay:
    """A delay `FakeDiscord.slow` injected."""

    pattern: re.Pattern[str]
    seconds: float
    times: int | None


class GatewayConn:
    """A client's gateway socket."""

    def __init__(self, ws: web.WebSocketResponse, query: dict[str, str]):
        self.ws = ws
        self.query = query
        self.lock = asyncio.Lock()
        self.ready = False


def _walk_components(components: Iterable[dict[str, Any]]) -> Iterable[dict[str, Any]]:
    for component in components:
        yield component
        yield from _walk_components(component.get("components") or [])
        if isinstance(component.get("accessory"), dict):
            yield component["accessory"]
