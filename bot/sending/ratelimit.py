"""Sending limits as a property of the sender: one limiter per platform, shared by replies and alerts.

- Overall: messages leave at fixed slots 1/N s apart (30 a second on Telegram: one every 1/30 s). A slot is
  scheduled from the previous slot, not from when the event loop happened to wake, so timer rounding costs no
  throughput; and no message leaves while N others left in the last second (and a little), so no 1-second
  window ever holds more than N, whatever the timers do.
- Per chat: one message at a time in the pipeline, at least 1/rate after the chat's previous one (groups:
  Telegram's 20 a minute).
- Priority: when several wait for the next slot, replies to people go before alert fan-out.
- Pauses: a platform's retry_after for one chat, or for everything (`throttled` decides which for 429s that
  don't say).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING

from cachetools import LRUCache

if TYPE_CHECKING:
    from bot.sending.shared_rate import SharedRate


@dataclass(frozen=True)
class PlatformLimits:
    """Documented sending limits of a platform, enforced by `PlatformLimiter` below."""

    per_second: float  # all chats together
    per_chat_per_second: float
    per_group_per_minute: float | None = None


TELEGRAM_LIMITS = PlatformLimits(per_second=30, per_chat_per_second=1, per_group_per_minute=20)
MAX_TRACKED_CHATS = 20_000
# A 429 does not say whose limit was hit. One chat's: pause that chat. When this many different chats get one
# within `BOT_LIMIT_WINDOW` seconds, it is the bot's own limit: pause everything.
BOT_LIMIT_CHATS, BOT_LIMIT_WINDOW = 3, 1.0
# The window check counts a second plus this: a message is stamped when its slot is given, and reaches the
# platform a little later, by a different little for each. Costs about 2% of the limit, at most.
WINDOW_MARGIN = 0.02


class Priority(IntEnum):
    REPLY = 0  # someone is waiting for this answer
    ALERT = 1  # fan-out


class _ChatState:
    __slots__ = ("last", "lock", "paused_until")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.last = -1e9  # when its previous message left
        self.paused_until = 0.0


class PlatformLimiter:
    def __init__(self, limits: PlatformLimits, clock: Callable[[], float] = time.monotonic):
        self.limits = limits
        self._clock = clock
        self._interval = 1.0 / limits.per_second
        self._window = max(1, int(limits.per_second))  # at most this many in any second
        self._sent: deque[float] = deque()  # when the last `_window` messages left
        self._next_slot = 0.0
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []  # (priority, order, waiter)
        self._order = itertools.count()
        self._pump: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._chats: LRUCache[str, _ChatState] = LRUCache(MAX_TRACKED_CHATS)
        self._paused_until = 0.0
        self._recent_429: deque[tuple[float, str, float]] = deque()  # (when, chat, retry_after)
        self.on_429: Callable[[], None] = lambda: None  # the app counts them (decoupler_platform_429_total)
        self.shared: SharedRate | None = None  # REDIS_URL: the rate is shared by every process (the app sets it)

    # ------------------------------------------------------------ pauses

    def pause(self, seconds: float, chat_id: str | None = None) -> None:
        """Honour a platform's retry_after: for one chat, or for everything."""
        until = self._clock() + seconds
        if chat_id is None:
            self._paused_until = max(self._paused_until, until)
        else:
            state = self._chat(chat_id)
            state.paused_until = max(state.paused_until, until)

    def throttled(self, chat_id: str, seconds: float) -> None:
        """A 429 answered a message to `chat_id`: pause that chat; if 429s came for several different chats
        within a second, the bot's own limit was hit, so pause everything for the longest retry_after."""
        now = self._clock()
        self.on_429()
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
        return max(self._paused_until - self._clock(), 0.0)

    def chat_paused_for(self, chat_id: str) -> float:
        state = self._chats.get(chat_id)
        return 0.0 if state is None else max(state.paused_until - self._clock(), 0.0)

    def has_room(self) -> bool:
        """Whether a message could leave now without waiting for the global limit: nobody queued, no pause, and
        a slot free in the current second. A courtesy call (Telegram's "sending a photo…") goes out only then;
        under load it would take the slot of a reply someone is waiting for."""
        now = self._clock()
        if self._waiting or self._paused_until > now or self._next_slot > now:
            return False
        return len(self._sent) < self._window or self._sent[0] + 1.0 + WINDOW_MARGIN <= now

    # ------------------------------------------------------------ slots

    @asynccontextmanager
    async def slot(self, chat_id: str, is_group: bool = False, priority: Priority = Priority.REPLY
                   ) -> AsyncIterator[None]:
        """Wait until a message to `chat_id` may go out, under every limit at once."""
        state = self._chat(chat_id)
        async with state.lock:
            spacing = self._chat_spacing(is_group)
            while (wait := max(state.last + spacing, state.paused_until) - self._clock()) > 0:
                await asyncio.sleep(wait)
            await self._global_turn(priority)
            if self.shared is not None:  # this process's turn; now the slot among all processes
                await self.shared.wait(chat_id, self._interval, spacing)
            state.last = self._clock()
        yield

    def _chat(self, chat_id: str) -> _ChatState:
        state = self._chats.get(chat_id)
        if state is None:
            state = self._chats[chat_id] = _ChatState()
        return state

    def _chat_spacing(self, is_group: bool) -> float:
        rate = self.limits.per_chat_per_second
        if is_group and self.limits.per_group_per_minute:
            rate = min(rate, self.limits.per_group_per_minute / 60.0)
        return 1.0 / rate

    async def _global_turn(self, priority: Priority) -> None:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (int(priority), next(self._order), waiter))
        if self._pump is None or self._pump.done():
            self._pump = asyncio.create_task(self._serve(), name="rate-limiter")
        self._wake.set()
        await waiter

    async def _serve(self) -> None:
        """Hand out slots, best priority first, for as long as anyone waits."""
        while self._waiting:
            now = self._clock()
            slot = max(self._next_slot, self._paused_until)
            if len(self._sent) >= self._window:
                slot = max(slot, self._sent[0] + 1.0 + WINDOW_MARGIN)
            if slot > now:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):  # a better waiter may come meanwhile: look again
                    await asyncio.wait_for(self._wake.wait(), slot - now)
                continue
            _, _, waiter = heapq.heappop(self._waiting)
            if waiter.done():  # its sender was cancelled while waiting
                continue
            waiter.set_result(None)
            self._sent.append(now)
            while len(self._sent) > self._window:
                self._sent.popleft()
            # From the slot, not from when the loop woke (no drift); after an idle spell, from now.
            self._next_slot = max(slot, now - self._interval) + self._interval
