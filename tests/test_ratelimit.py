"""The shared limiter never lets more messages through than the platform allows, and serves people first.

These check what the limiter guarantees (counts in windows of its own release times, order); how close to
the limit it gets is measured by bench/fanout.py, not asserted here."""

from __future__ import annotations

import asyncio
import itertools
import time

from bot.sending.ratelimit import PlatformLimiter, PlatformLimits, Priority


def _max_in_window(stamps: list[float], window: float) -> int:
    stamps = sorted(stamps)
    best, lo = 0, 0
    for hi, t in enumerate(stamps):
        while t - stamps[lo] >= window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


async def test_never_more_than_the_limit_in_any_second():
    limiter = PlatformLimiter(PlatformLimits(per_second=200, per_chat_per_second=1000))
    stamps: list[float] = []

    async def send(i: int) -> None:
        async with limiter.slot(f"chat{i}"):
            stamps.append(time.monotonic())

    await asyncio.gather(*(send(i) for i in range(450)))
    assert len(stamps) == 450
    assert _max_in_window(stamps, 1.0) <= 200


async def test_per_chat_spacing_and_pause():
    limiter = PlatformLimiter(PlatformLimits(per_second=1000, per_chat_per_second=20))
    stamps: list[float] = []

    async def send() -> None:
        async with limiter.slot("one-chat"):
            stamps.append(time.monotonic())

    limiter.pause(0.2, chat_id="one-chat")
    start = time.monotonic()
    await asyncio.gather(*(send() for _ in range(6)))
    assert min(stamps) >= start + 0.2  # nothing went out during the pause
    assert all(b - a >= 1 / 20 for a, b in itertools.pairwise(stamps))  # one chat: 1/rate apart


async def test_a_reply_goes_before_queued_alert_fan_out():
    limiter = PlatformLimiter(PlatformLimits(per_second=50, per_chat_per_second=1000))
    order: list[str] = []

    async def send(chat: str, priority: Priority) -> None:
        async with limiter.slot(chat, priority=priority):
            order.append(chat)

    limiter.pause(0.1)  # everything waits, so the fan-out queues up first
    alerts = [asyncio.create_task(send(f"alert{i}", Priority.ALERT)) for i in range(20)]
    await asyncio.sleep(0)
    await send("person", Priority.REPLY)
    await asyncio.gather(*alerts)
    assert order[0] == "person"  # served at the next free slot, not after the 20 queued alerts
    assert order[1:] == [f"alert{i}" for i in range(20)]  # the fan-out keeps its order


async def test_room_for_a_courtesy_call_only_when_nothing_would_wait():
    now = [100.0]
    limiter = PlatformLimiter(PlatformLimits(per_second=2, per_chat_per_second=1000), clock=lambda: now[0])
    assert limiter.has_room()
    for chat in ("a", "b"):  # after an idle spell, the second's two slots are free at once
        async with limiter.slot(chat):
            pass
    assert not limiter.has_room()  # the next slot is half a second away
    now[0] += 0.5
    assert not limiter.has_room()  # and the two of this second fill it (until 1 s and a margin later)
    now[0] += 0.6
    assert limiter.has_room()
    limiter.pause(3)
    assert not limiter.has_room()  # a retry_after for everything
    now[0] += 3
    assert limiter.has_room()
