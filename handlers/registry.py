"""The command table: one entry per command (name, typed options, help, handler).

`/help`, the usage lines, Telegram's command menu and Discord's slash commands are all generated from
`COMMANDS`. Command modules register with the `@command(...)` decorator; `handlers.commands` imports them.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from bot.ports.reply import Reply

if TYPE_CHECKING:
    from bot.ports.services import Services

log = logging.getLogger(__name__)


class AdminCheck(Protocol):
    async def __call__(self) -> bool: ...


async def not_an_admin() -> bool:
    return False


@dataclass
class ChatContext:
    """Who is asking, as a transport describes it; no platform types cross this line."""

    platform: str = "console"  # console | cli | telegram | discord | webhook
    chat_id: str = "console"
    user_id: str | None = None
    chat_kind: str = "private"  # private | group | channel
    title: str | None = None
    # "Is this user an admin here?", answered by the transport. Denies by default: a transport that forgets
    # to say must not make everyone an admin of a group.
    is_admin: AdminCheck = not_an_admin
    admins: str = "chat admins"  # who may change settings here, in the platform's words
    # Could alerts be delivered here now? False when the transport sees the bot lacks a permission they need:
    # a message from the chat then doesn't bring its paused alerts back.
    deliverable: bool = True

    @property
    def key(self) -> str:
        return f"{self.platform}:{self.chat_id}"


async def is_admin(chat: ChatContext) -> bool:
    """The transport's answer; a check that fails says no (and is logged), it never ends the command."""
    try:
        return bool(await chat.is_admin())
    except Exception:
        log.exception("admin check failed (platform=%s chat=%s); treating the user as not an admin",
                      chat.platform, chat.chat_id)
        return False


# Who runs the bot: the command line always; in a chat, a user the operator listed in OPERATOR_IDS.
OPERATOR_PLATFORMS = frozenset({"console", "cli"})


def is_operator(chat: ChatContext, operator_ids: frozenset[str]) -> bool:
    """One rule for every platform: things that change the bot for everyone (the global ticker list) are for
    operators only; a chat admin runs a chat, not the bot."""
    if chat.platform in OPERATOR_PLATFORMS:
        return True
    return chat.user_id is not None and f"{chat.platform}:{chat.user_id}".lower() in operator_ids


def operators_only(chat: ChatContext, what: str) -> str:
    """The one-line refusal: who may, and the asker's own id for the operator to list."""
    you = f" (you are {chat.platform}:{chat.user_id})" if chat.user_id else ""
    return (f"Only the bot's operators can {what}: the command line (python -m bot ask), or a user listed in "
            f"OPERATOR_IDS{you}.")


@dataclass
class Request:
    services: Services
    args: list[str]
    chat: ChatContext = field(default_factory=ChatContext)
    as_of: date | None = None  # answer as of this date (CLI --as-of); None = latest
    want_chart: bool = True
    theme: str = "light"


Handler = Callable[[Request], Awaitable[Reply]]


class OptionKind(StrEnum):
    WINDOW = "window"  # 30d, 12w, 1y … (suggested, any text accepted and validated)
    ASSET = "asset"  # a ticker from the asset registry
    BENCHMARK = "benchmark"  # a ticker, the second of a pair
    TEXT = "text"
    CHOICE = "choice"  # one of `choices`
    INT = "int"


@dataclass(frozen=True)
class Option:
    """One argument of a command, as slash commands and usage lines show it. Transports with named options
    (Discord) check each value by its kind and join them, in table order, into the command's text; the handler
    parses and validates that text."""

    name: str  # [a-z0-9_], at most 32 characters (Discord's rule)
    kind: OptionKind
    description: str  # at most 100 characters (Discord's rule)
    required: bool = False
    choices: tuple[str, ...] = ()
    placeholder: str | None = None  # what the usage line shows; default: the choices or the name
    keyword: bool = False  # in the command's text as `name=value` (the handler reads it so), not the value alone
    several: bool = False  # CHOICE: more than one of `choices` may be given, comma-separated
    max_value: int | None = None  # INT: the largest value the handler accepts (the smallest is 1)

    @property
    def usage(self) -> str:
        shown = self.placeholder or ("|".join(self.choices) if self.choices else self.name)
        return f"<{shown}>" if self.required else f"[{shown}]"


WINDOW = Option("window", OptionKind.WINDOW, "Window: 30d, 90d, 1y … (30 days to 10 years)")
ASSET = Option("asset", OptionKind.ASSET, "The asset, e.g. ETH or BTC")
BENCHMARK = Option("benchmark", OptionKind.BENCHMARK, "The benchmark, e.g. RUT, SPY or QQQ")
PAIR_OPTIONS = (WINDOW, ASSET, BENCHMARK)


@dataclass(frozen=True)
class Command:
    name: str
    summary: str  # one line, <= 60 chars (Telegram menu and Discord descriptions)
    help: str  # longer explanation with examples
    handler: Handler
    options: tuple[Option, ...] = ()
    admin_only: bool = False  # changes group settings: only chat admins may run it in groups
    chart: bool = False  # answers with a chart: transports show "sending a photo" while it renders
    static: bool = False  # answers from the command table alone: no market data, store or alert service

    @property
    def usage(self) -> str:
        return " ".join([f"/{self.name}", *(option.usage for option in self.options)])


COMMANDS: dict[str, Command] = {}


def command(
    name: str,
    *,
    summary: str,
    help: str,
    options: tuple[Option, ...] = (),
    admin_only: bool = False,
    chart: bool = False,
    static: bool = False,
) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        if name in COMMANDS:
            raise ValueError(f"command /{name} registered twice")
        names = [option.name for option in options]
        if len(set(names)) != len(names):
            raise ValueError(f"command /{name} has two options with the same name")
        COMMANDS[name] = Command(name, summary, help, handler, options, admin_only, chart, static)
        return handler

    return register
