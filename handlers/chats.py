"""Keeping the store's chat rows in step with what a transport sees: a chat writes (it exists, and is back
if it was gone), blocks or removes the bot, comes back, moves to a new id. Never raises: bookkeeping must
not stop a reply."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from handlers.registry import ChatContext

if TYPE_CHECKING:
    from bot.store import Store

log = logging.getLogger(__name__)


class ChatBook:
    def __init__(self, store: Store, platform: str):
        self.store = store
        self.platform = platform

    async def seen(self, chat: ChatContext) -> None:
        """A message or button press came from `chat`: it exists, and it can be delivered to again."""
        try:
            row = await self.store.upsert_chat(chat.platform, chat.chat_id, chat.chat_kind, chat.title)
            if not row.active and chat.deliverable and await self.store.reactivate(chat.platform, chat.chat_id):
                log.info("%s chat %s is back", chat.platform, chat.chat_id)
        except Exception:
            log.exception("could not record %s chat %s", chat.platform, chat.chat_id)

    async def present(self, chat_id: str, kind: str, title: str | None, why: str) -> None:
        """The bot was added (or unblocked) in a chat."""
        try:
            await self.store.upsert_chat(self.platform, chat_id, kind, title)
            if await self.store.reactivate(self.platform, chat_id):
                log.info("%s chat %s is back (%s)", self.platform, chat_id, why)
        except Exception:
            log.exception("could not record %s chat %s", self.platform, chat_id)

    async def gone(self, chat_id: str, reason: str) -> None:
        """The bot was blocked or removed, or the chat no longer exists: deliver nothing more there."""
        try:
            if await self.store.mark_inactive(self.platform, str(chat_id), reason):
                log.info("%s chat %s inactive: %s", self.platform, chat_id, reason)
        except Exception:
            log.exception("could not mark %s chat %s inactive", self.platform, chat_id)

    async def moved(self, old_id: str, new_id: str) -> None:
        try:
            await self.store.migrate_chat(self.platform, str(old_id), str(new_id))
            log.info("%s chat %s moved to %s", self.platform, old_id, new_id)
        except Exception:
            log.exception("could not move %s chat %s to %s", self.platform, old_id, new_id)
