"""Builders shared by the store and command tests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import handlers.commands  # noqa: F401  (registers the commands under test)
from bot.config import Settings, load_settings
from bot.ports.reply import Reply
from bot.ports.services import Services
from bot.store import Store, open_store
from handlers.registry import COMMANDS, ChatContext, Request
from tests.helpers import make_services


@dataclass(frozen=True)
class Database:
    """Where one test's store lives; `open()` gives another, independent engine onto the same data."""

    backend: str
    url: str
    schema: str | None = None

    async def open(self, *, migrate: bool = True) -> Store:
        return await open_store(self.url, migrate=migrate, schema=self.schema)


def make_settings() -> Settings:
    return load_settings(default_pair="ETH:RUT", default_window="90d", database_url="sqlite://",
                         market_data="snapshot")


def services_for(store: Store) -> Services:
    return make_services(make_settings(), store=store)


def admin_check(answer: bool) -> Callable[[], Awaitable[bool]]:
    async def is_admin() -> bool:
        return answer

    return is_admin


def private_chat(chat_id: str = "1001") -> ChatContext:
    return ChatContext(platform="telegram", chat_id=chat_id, user_id=chat_id, chat_kind="private")


def group_chat(*, admin: bool, chat_id: str = "-100777", kind: str = "group") -> ChatContext:
    return ChatContext(
        platform="telegram", chat_id=chat_id, user_id="55", chat_kind=kind, title="Desk", is_admin=admin_check(admin)
    )


async def run_command(store: Store, name: str, text: str = "", chat: ChatContext | None = None) -> Reply:
    """Call a handler through the command table, the way the dispatcher does after parsing."""
    request = Request(services=services_for(store), args=text.split(), chat=chat or private_chat())
    return await COMMANDS[name].handler(request)
