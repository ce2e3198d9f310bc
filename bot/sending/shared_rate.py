"""A platform's send rate shared by every process of the bot (REDIS_URL set): Telegram's 30 messages a second is
per token, not per process.

Each message reserves its slot with one Redis round trip: a Lua script, atomic on the server, keeps the next
free slot of the platform and of the chat and hands out max(now, both) by Redis's own clock, so slots are
1/N s apart across all processes (and a chat's are 1/rate apart), with no clock skew between hosts.
"""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger(__name__)

# KEYS: platform key, chat key. ARGV: platform interval (s), chat interval (s), key lifetime (ms).
# Returns "<slot> <wait>": the reserved slot by Redis's clock and the seconds until it, as text (Lua numbers
# would become integers).
RESERVE = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
local platform_next = tonumber(redis.call('GET', KEYS[1]) or '0')
local chat_next = tonumber(redis.call('GET', KEYS[2]) or '0')
local slot = math.max(now, platform_next, chat_next)
redis.call('SET', KEYS[1], string.format('%.6f', slot + tonumber(ARGV[1])), 'PX', ARGV[3])
redis.call('SET', KEYS[2], string.format('%.6f', slot + tonumber(ARGV[2])), 'PX', ARGV[3])
return string.format('%.6f %.6f', slot, slot - now)
"""
KEY_LIFETIME_MS = 120_000
REDIS_TIMEOUT = 2.0


class SharedRate:
    def __init__(self, redis_url: str, platform: str, *, prefix: str = "decoupler:rate") -> None:
        from redis.asyncio import Redis

        self._redis = Redis.from_url(redis_url, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT)
        self._script = self._redis.register_script(RESERVE)
        self.platform = platform
        self.prefix = prefix
        self._warned = False

    async def reserve(self, chat_key: str, interval: float, chat_interval: float) -> tuple[float, float] | None:
        """(slot by Redis's clock, seconds until it) for a message to `chat_key`; None (and a warning, once)
        when Redis can't be reached — the process's own limiter still applies."""
        keys = [f"{self.prefix}:{self.platform}", f"{self.prefix}:{self.platform}:chat:{chat_key}"]
        try:
            answer = await self._script(keys=keys, args=[f"{interval:.6f}", f"{chat_interval:.6f}", KEY_LIFETIME_MS])
        except Exception as exc:
            if not self._warned:
                log.warning("shared send rate: Redis unavailable (%s); each process keeps its own rate",
                            type(exc).__name__)
                self._warned = True
            return None
        self._warned = False
        slot, wait = (float(part) for part in answer.split())
        return slot, max(wait, 0.0)

    async def wait(self, chat_key: str, interval: float, chat_interval: float) -> None:
        reserved = await self.reserve(chat_key, interval, chat_interval)
        if reserved is not None and reserved[1] > 0:
            await asyncio.sleep(reserved[1])

    async def reachable(self) -> bool:
        """One PING within REDIS_TIMEOUT (health checks): False when Redis can't be reached."""
        try:
            return bool(await asyncio.wait_for(self._redis.ping(), REDIS_TIMEOUT))
        except Exception:
            return False

    async def close(self) -> None:
        await self._redis.aclose()
