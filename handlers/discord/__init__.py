"""The Discord transport: `build_transport(services)` for the server, `open_notifier(services)` to deliver alerts
without it (`python -m bot alerts --run-once`: REST only, no gateway), `sync_commands(services)` for
`python -m bot discord sync`."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from bot.ports.services import Services
from bot.sending.ratelimit import PlatformLimiter
from handlers.discord.client import RateLimitCounter, login, new_client
from handlers.discord.send import DISCORD_LIMITS, DiscordNotifier, mention_role
from handlers.discord.transport import DiscordTransport

__all__ = ["DiscordTransport", "build_transport", "open_notifier", "sync_commands"]


def build_transport(services: Services) -> DiscordTransport:
    return DiscordTransport(services)


@contextlib.asynccontextmanager
async def open_notifier(services: Services) -> AsyncIterator[DiscordNotifier]:
    settings = services.settings
    if settings.discord_bot_token is None:
        raise ValueError("DISCORD_BOT_TOKEN is not set")
    rate_limits = RateLimitCounter()
    client = new_client(settings, rate_limits)
    try:
        await login(client, settings)
        yield DiscordNotifier(client, PlatformLimiter(DISCORD_LIMITS), rate_limits, mention_role(services))
    finally:
        await client.close()


async def sync_commands(services: Services) -> int:
    """Publish the slash commands now (REST only); how many there are."""
    transport = DiscordTransport(services)
    try:
        await login(transport.client, services.settings)
        synced = await transport.sync_commands(force=True)
    finally:
        await transport.client.close()
    return synced or 0
