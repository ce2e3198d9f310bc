"""Telegram chats in our terms: the ChatContext of an update, "is this user an admin here?" (getChatMember,
cached briefly), and what a my_chat_member update means for the chat (bot present or gone)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from cachetools import TTLCache
from telegram import Chat, ChatMemberRestricted, ChatMemberUpdated, User
from telegram.constants import ChatMemberStatus, ChatType
from telegram.error import TelegramError

from handlers.chats import ChatBook
from handlers.registry import AdminCheck, ChatContext
from handlers.telegram.send import TelegramSender

log = logging.getLogger(__name__)
PLATFORM = "telegram"
KINDS: dict[str, str] = {
    ChatType.PRIVATE: "private", ChatType.GROUP: "group", ChatType.SUPERGROUP: "group", ChatType.CHANNEL: "channel"
}
ADMIN_STATUSES = frozenset({ChatMemberStatus.OWNER, ChatMemberStatus.ADMINISTRATOR})
MAX_CACHED = 20_000


def chat_kind(chat: Chat) -> str:
    return KINDS.get(str(chat.type), "group")


def chat_context(chat: Chat, user: User | None, is_admin: AdminCheck) -> ChatContext:
    return ChatContext(
        platform=PLATFORM,
        chat_id=str(chat.id),
        user_id=str(user.id) if user else None,
        chat_kind=chat_kind(chat),
        title=chat.title,  # None in private chats: a person's name is not ours to keep
        is_admin=is_admin,
    )


class AdminCache(TTLCache[tuple[int, int], bool]):
    """(chat, user) -> is admin, for `ttl` seconds; bounded."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic, maxsize: int = MAX_CACHED):
        super().__init__(maxsize=maxsize, ttl=ttl, timer=clock)


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
        cached: bool | None = self.cache.get(key)
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
        if self.cache.ttl > 0:
            self.cache[key] = answer
        return answer


async def membership_changed(chats: ChatBook, change: ChatMemberUpdated) -> None:
    """The bot was added, promoted, removed, blocked or unblocked in `change.chat`."""
    chat, member = change.chat, change.new_chat_member
    present = member.status in (ChatMemberStatus.MEMBER, *ADMIN_STATUSES) or (
        isinstance(member, ChatMemberRestricted) and member.is_member
    )
    if present:
        await chats.present(str(chat.id), chat_kind(chat), chat.title, str(member.status))
        return
    await chats.gone(str(chat.id), "blocked the bot" if chat.type == ChatType.PRIVATE else f"bot {member.status}")
