"""Several processes share one platform's send rate through Redis (REDIS_URL): two limiters stand in for two
processes, against the Redis server at 127.0.0.1:6379 (required in CI, like PostgreSQL)."""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import uuid

import pytest

from bot.sending.ratelimit import PlatformLimiter, PlatformLimits
from bot.sending.shared_rate import SharedRate

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
async def shared_pair():
    probe = SharedRate(REDIS_URL, "probe")
    try:
        await probe._redis.ping()
    except Exception as exc:
        await probe.close()
        if os.environ.get("REQUIRE_POSTGRES") == "1":  # CI: every service-backed test must run
            pytest.fail(f"Redis at {REDIS_URL} is unreachable ({type(exc).__name__})", pytrace=False)
        pytest.skip(f"Redis at {REDIS_URL} is unreachable")
    await probe.close()
    prefix = f"test:{uuid.uuid4().hex}"
    rates = [SharedRate(REDIS_URL, "telegram", prefix=prefix) for _ in range(2)]
    yield rates
    for rate in rates:
        await rate.close()


async def test_two_processes_reserve_slots_that_never_crowd(shared_pair) -> None:
    """The reservations themselves (by Redis's clock): 1/N s apart across both processes, 1/rate per chat."""
    first, second = shared_pair
    reserved = await asyncio.gather(*(
        (first if i % 2 else second).reserve(f"chat{i % 5}", 1 / 40, 1 / 4) for i in range(60)))
    slots = sorted(slot for slot, _ in reserved)
    assert all(b - a >= 1 / 40 - 1e-6 for a, b in itertools.pairwise(slots))  # never more than 40 a second
    by_chat: dict[int, list[float]] = {}
    for i, (slot, _) in enumerate(reserved):
        by_chat.setdefault(i % 5, []).append(slot)
    for chat_slots in by_chat.values():
        chat_slots.sort()
        assert all(b - a >= 1 / 4 - 1e-6 for a, b in itertools.pairwise(chat_slots))  # 4 a second per chat


async def test_limiters_that_share_redis_send_everything(shared_pair) -> None:
    limits = PlatformLimits(per_second=200, per_chat_per_second=1000)
    limiters = [PlatformLimiter(limits), PlatformLimiter(limits)]
    for limiter, shared in zip(limiters, shared_pair, strict=True):
        limiter.shared = shared
    sent: list[str] = []

    async def send(limiter: PlatformLimiter, chat: str) -> None:
        async with limiter.slot(chat):
            sent.append(chat)

    await asyncio.gather(*(send(limiters[i % 2], f"chat{i}") for i in range(40)))
    assert sorted(sent) == sorted(f"chat{i}" for i in range(40))


async def test_redis_down_leaves_each_process_its_own_rate(caplog: pytest.LogCaptureFixture) -> None:
    limiter = PlatformLimiter(PlatformLimits(per_second=100, per_chat_per_second=100))
    limiter.shared = SharedRate("redis://127.0.0.1:1/0", "telegram")
    sent: list[str] = []
    try:
        with caplog.at_level(logging.WARNING, logger="bot.sending.shared_rate"):
            for i in range(4):  # the shared rate is a refinement, not a dependency: every message still goes
                async with limiter.slot(f"chat{i % 2}"):
                    sent.append(f"chat{i % 2}")
            assert await limiter.shared.reserve("chat0", 1 / 100, 1 / 100) is None  # no slot from Redis
    finally:
        await limiter.shared.close()
    assert sent == ["chat0", "chat1", "chat0", "chat1"]
    warnings = [record.getMessage() for record in caplog.records if record.name == "bot.sending.shared_rate"]
    assert len(warnings) == 1 and "Redis unavailable" in warnings[0]  # said once, not once a message
