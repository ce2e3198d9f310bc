"""Telegram chats in our terms: the ChatContext of an update, "is this user an admin here?" (getChatMember,
cached briefly), and keeping the store's chat rows in step (seen, blocked or removed, back, migrated)."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from telegram import Chat, ChatMemberUpdated, User
from telegram.constants import ChatMemberStatus, ChatType
from telegram.error import TelegramError

from handlers.registry import AdminCheck, ChatContext
from handlers.telegram_send import TelegramSender

log = logging.getLogger(__name__)
PLATFORM = "telegram"
KINDS = {
    ChatType.PRIVATE: "private", ChatType.GROUP: "group", ChatType.SUPERGROUP: "group", ChatType.CHANNEL: "channel"
}
ADMIN_STATUSES = frozenset({ChatMemberStatus.OWNER, ChatMemberStatus.ADMINISTRATOR})
MAX_CACHED = 20_000


def chat_kind(chat: Chat) -> str:
    return KINDS.get(chat.type, "group")  # type: ignore[call-overload]


def chat_context(chat: Chat, user: User | None, is_admin: AdminCheck) -> ChatContext:
    return ChatContext(
        platform=PLATFORM,
        chat_id=str(chat.id),
        user_id=str(user.id) if user else None,
        chat_kind=chat_kind(chat),
        title=chat.title,  # None in private chats: a person's name is not ours to keep
        is_admin=is_admin,
    )


class AdminCache:
    """(chat, user) -> is admin, for `ttl` seconds; bounded."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic):
        self.ttl = ttl
        self._clock = clock
        self._entries: OrderedDict[tuple[int, int], tuple[float, bool]] = OrderedDict()

    def get(self, key: tuple[int, int]) -> bool | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] <= self._clock():
            self._entries.pop(key, None)
            return None
        return entry[1]

    def put(self, key: tuple[int, int], value: bool) -> None:
        self._entries[key] = (self._clock() + self.ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > MAX_CACHED:
            self._entries.popitem(last=False)


class AdminChecker:
    def __init__(self, sender: TelegramSender, cache: AdminCache):
        self.sender = sender
        self.cache = cache

    def check_for(self, chat: Chat, user: User | None, sender_chat: Chat | None) -> AdminCheck:
        """The lazy admin check a command runs only if it needs it."""

        async def is_admin() -> bool:
            if chat.type == ChatType.PRIVATE:
                return True
            # Anonymous group admins post as the group itself; in a channel only admins can post at all.
            if sender_chat is not None and sender_chat.id == chat.id:
                return True
            if user is None:
                return False
            return await self.is_admin(chat.id, user.id)

        return is_admin

    async def is_admin(self, chat_id: int, user_id: int) -> bool:
        key = (chat_id, user_id)
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        try:
            member = await self.sender.call(
                chat_id, lambda: self.sender.bot.get_chat_member(chat_id, user_id), method="getChatMember"
            )
        except TelegramError as exc:
            log.warning("getChatMember failed in chat %s: %s; treating the user as not an admin", chat_id, exc)
            return False
        except Exception:
            log.exception("getChatMember answer unreadable in chat %s; treating the user as not an admin", chat_id)
            return False
        answer = member.status in ADMIN_STATUSES
        self.cache.put(key, answer)
        return answer


class ChatBook:
    """The store's view of Telegram chats. Every method is a no-op without a store and never raises:
    bookkeeping must not stop a reply."""

    def __init__(self, store: Any):
        self.store = store

    async def seen(self, chat: ChatContext) -> None:
        if self.store is None:
            return
        try:
            await self.store.upsert_chat(PLATFORM, chat.chat_id, chat.chat_kind, chat.title)
        except Exception:
            log.exception("could not record telegram chat %s", chat.chat_id)

    async def membership(self, change: ChatMemberUpdated) -> None:
        """The bot was added, promoted, removed, blocked or unblocked in `change.chat`."""
        if self.store is None:
            return
        chat, member = change.chat, change.new_chat_member
        chat_id = str(chat.id)
        present = member.status in (ChatMemberStatus.MEMBER, *ADMIN_STATUSES) or (
            member.status == ChatMemberStatus.RESTRICTED and getattr(member, "is_member", False)
        )
        try:
            if present:
                await self.store.upsert_chat(PLATFORM, chat_id, chat_kind(chat), chat.title)
                if await self.store.reactivate(PLATFORM, chat_id):
                    log.info("telegram chat %s is back (%s)", chat_id, member.status)
                return
            reason = "blocked the bot" if chat.type == ChatType.PRIVATE else f"bot {member.status}"
            if await self.store.mark_inactive(PLATFORM, chat_id, reason):
                log.info("telegram chat %s inactive: %s", chat_id, reason)
        except Exception:
            log.exception("could not record a membership change in telegram chat %s", chat_id)

    async def migrated(self, old_id: str, new_id: str) -> None:
        if self.store is None:
            return
        try:
            await self.store.migrate_chat(PLATFORM, str(old_id), str(new_id))
            log.info("telegram chat %s moved to %s", old_id, new_id)
        except Exception:
            log.exception("could not move telegram chat %s to %s", old_id, new_id)

    async def gone(self, chat_id: str, reason: str) -> None:
        if self.store is None:
            return
        try:
            await self.store.mark_inactive(PLATFORM, str(chat_id), reason)
        except Exception:
            log.exception("could not mark telegram chat %s inactive", chat_id)
