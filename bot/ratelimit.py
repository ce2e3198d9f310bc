"""Sending limits as a property of the sender: one limiter per platform, shared by replies and alerts.

Every limit is a leaky bucket of capacity one (aiolimiter), so messages are spaced evenly and no burst can
exceed the documented rate in any window: 30 a second overall on Telegram means one every 1/30 s.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiolimiter import AsyncLimiter
from cachetools import LRUCache

from bot.notifier import PlatformLimits

TELEGRAM_LIMITS = PlatformLimits(per_second=30, per_chat_per_second=1, per_group_per_minute=20)
MAX_TRACKED_CHATS = 20_000
# A 429 does not say whose limit was hit. One chat's: pause that chat. When this many different chats get one
# within `BOT_LIMIT_WINDOW` seconds, it is the bot's own limit: pause everything.
BOT_LIMIT_CHATS, BOT_LIMIT_WINDOW = 3, 1.0


def _spaced(rate_per_second: float) -> AsyncLimiter:
    return AsyncLimiter(1, 1.0 / rate_per_second)


class PlatformLimiter:
    def __init__(self, limits: PlatformLimits):
        self.limits = limits
        self._global = _spaced(limits.per_second)
        self._chats: LRUCache[str, AsyncLimiter] = LRUCache(MAX_TRACKED_CHATS)
        self._paused_until = 0.0
        self._chat_paused_until: dict[str, float] = {}
        self._recent_429: deque[tuple[float, str, float]] = deque()  # (when, chat, retry_after)

    def _chat_limiter(self, chat_id: str, is_group: bool) -> AsyncLimiter:
        limiter = self._chats.get(chat_id)
        if limiter is None:
            rate = self.limits.per_chat_per_second
            if is_group and self.limits.per_group_per_minute:
                rate = min(rate, self.limits.per_group_per_minute / 60.0)
            limiter = _spaced(rate)
            self._chats[chat_id] = limiter
        return limiter

    def pause(self, seconds: float, chat_id: str | None = None) -> None:
        """Honour a platform's retry_after: for one chat, or for everything."""
        until = time.monotonic() + seconds
        if chat_id is None:
            self._paused_until = max(self._paused_until, until)
        else:
            self._chat_paused_until[chat_id] = max(self._chat_paused_until.get(chat_id, 0.0), until)

    def throttled(self, chat_id: str, seconds: float) -> None:
        """A 429 answered a message to `chat_id`: pause that chat; if 429s came for several different chats
        within a second, the bot's own limit was hit, so pause everything for the longest retry_after."""
        now = time.monotonic()
        self.pause(seconds, chat_id)
        recent = self._recent_429
        recent.append((now, chat_id, seconds))
        while recent and recent[0][0] < now - BOT_LIMIT_WINDOW:
            recent.popleft()
        if len({chat for _, chat, _ in recent}) >= BOT_LIMIT_CHATS:
            self.pause(max(wait for *_, wait in recent))

    @property
    def paused_for(self) -> float:
        """Seconds the whole platform is still paused (0 when it is not)."""
        return max(self._paused_until - time.monotonic(), 0.0)

    async def _wait_pauses(self, chat_id: str) -> None:
        while True:
            wait = max(self._paused_until, self._chat_paused_until.get(chat_id, 0.0)) - time.monotonic()
            if wait <= 0:
                self._chat_paused_until.pop(chat_id, None)
                return
            await asyncio.sleep(wait)

    @asynccontextmanager
    async def slot(self, chat_id: str, is_group: bool = False) -> AsyncIterator[None]:
        """Wait until a message to `chat_id` may go out, under every limit at once."""
        await self._wait_pauses(chat_id)
        await self._chat_limiter(chat_id, is_group).acquire()
        await self._global.acquire()
        yield
