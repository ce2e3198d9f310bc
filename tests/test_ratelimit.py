"""The shared limiter never lets more messages through than the platform allows in any window."""

from __future__ import annotations

import asyncio
import time

from bot.notifier import PlatformLimits
from bot.ratelimit import PlatformLimiter


def _max_in_window(stamps: list[float], window: float) -> int:
    stamps = sorted(stamps)
    best, lo = 0, 0
    for hi, t in enumerate(stamps):
        while t - stamps[lo] >= window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


async def test_global_limit_has_no_burst():
    limiter = PlatformLimiter(PlatformLimits(per_second=200, per_chat_per_second=1000))
    stamps: list[float] = []

    async def send(i: int) -> None:
        async with limiter.slot(f"chat{i}"):
            stamps.append(time.monotonic())

    await asyncio.gather(*(send(i) for i in range(120)))
    assert len(stamps) == 120
    # a leaky bucket of capacity one: at most rate*window + 1 in any window
    assert _max_in_window(stamps, 0.25) <= 200 * 0.25 + 1


async def test_per_chat_limit_and_pause():
    limiter = PlatformLimiter(PlatformLimits(per_second=1000, per_chat_per_second=20))
    stamps: list[float] = []

    async def send() -> None:
        async with limiter.slot("one-chat"):
            stamps.append(time.monotonic())

    limiter.pause(0.2, chat_id="one-chat")
    start = time.monotonic()
    await asyncio.gather(*(send() for _ in range(6)))
    assert min(stamps) - start >= 0.19  # nothing went out during the pause
    assert _max_in_window(stamps, 0.1) <= 3
