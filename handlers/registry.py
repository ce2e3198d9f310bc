"""The command table: one entry per command (name, argument grammar, help, handler).

`/help`, Telegram's command menu and Discord's slash commands are all generated from `COMMANDS`.
Command modules register with the `@command(...)` decorator; `handlers.commands` imports them all.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Protocol

from bot.reply import Reply

if TYPE_CHECKING:
    from bot.services import Services


class AdminCheck(Protocol):
    async def __call__(self) -> bool: ...


async def _always_admin() -> bool:
    return True


@dataclass
class ChatContext:
    """Who is asking, as a transport describes it; no platform types cross this line."""

    platform: str = "console"  # console | cli | telegram | discord | webhook
    chat_id: str = "console"
    user_id: str | None = None
    chat_kind: str = "private"  # private | group | channel
    title: str | None = None
    is_admin: AdminCheck = _always_admin  # "is this user an admin here?", answered by the transport


@dataclass
class Request:
    services: Services
    args: list[str]
    chat: ChatContext = field(default_factory=ChatContext)
    as_of: date | None = None  # answer as of this date (CLI --as-of); None = latest
    want_chart: bool = True
    theme: str = "light"


Handler = Callable[[Request], Awaitable[Reply]]


@dataclass(frozen=True)
class Command:
    name: str
    args: str  # argument grammar shown in help, e.g. "[window] [asset] [benchmark]"
    summary: str  # one line, <= 60 chars (Telegram menu and Discord descriptions)
    help: str  # longer explanation with examples
    handler: Handler
    admin_only: bool = False  # changes group settings: only chat admins may run it in groups
    slow: bool = False  # renders a chart or does heavy work: transports show progress
    options: tuple[str, ...] = ()  # argument names for slash-command autocomplete, in order

    @property
    def usage(self) -> str:
        return f"/{self.name} {self.args}".strip()


COMMANDS: dict[str, Command] = {}
ALIASES: dict[str, str] = {}


def command(
    name: str,
    args: str = "",
    *,
    summary: str,
    help: str,
    admin_only: bool = False,
    slow: bool = False,
    options: tuple[str, ...] = (),
    aliases: tuple[str, ...] = (),
) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        if name in COMMANDS:
            raise ValueError(f"command /{name} registered twice")
        COMMANDS[name] = Command(name, args, summary, help, handler, admin_only, slow, options)
        for alias in aliases:
            ALIASES[alias] = name
        return handler

    return register
