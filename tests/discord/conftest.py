"""Fixtures for the Discord transport: the fake Discord (REST + gateway), a store on a temporary SQLite file,
and the real discord.py client wired by `DiscordTransport`, connected to the fake."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings, load_settings
from bot.ports.services import Services
from bot.sending.ratelimit import PlatformLimiter, PlatformLimits
from bot.store import Store, open_store
from handlers.discord.transport import DiscordTransport
from handlers.quotas import CommandQuotas, QuotaLimits
from tests.discord.fake_constants import TOKEN
from tests.discord.fake_discord import FakeDiscord
from tests.telegram.conftest import services_with, shared_services  # noqa: F401  (fixture)

FAST_LIMITS = PlatformLimits(per_second=10_000, per_chat_per_second=10_000)


def discord_settings(fake: FakeDiscord, tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "market_data": "snapshot",
        "database_url": f"sqlite:///{tmp_path}/discord.sqlite3",
        "discord_bot_token": TOKEN,
        "discord_api_base_url": fake.api_base,
        "discord_gateway_url": fake.gateway_url,
        "telegram_bot_token": None,
        "default_pair": "ETH:RUT",
        "default_window": "90d",
    }
    values.update(overrides)
    return load_settings(**values)


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as server:
        server.add_guild()
        yield server


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await open_store(f"sqlite:///{tmp_path}/discord.sqlite3")
    yield opened
    await opened.close()


@pytest.fixture
def services(fake: FakeDiscord, tmp_path: Path, store: Store, shared_services: Services) -> Services:  # noqa: F811
    return services_with(discord_settings(fake, tmp_path), store, shared_services)


def make_transport(services: Services, *, ack_after: float = 2.0) -> DiscordTransport:
    return DiscordTransport(services, limiter=PlatformLimiter(FAST_LIMITS),
                            quotas=CommandQuotas(QuotaLimits(commands=10_000, charts=10_000)), ack_after=ack_after)


@pytest.fixture
async def transport(services: Services) -> AsyncIterator[DiscordTransport]:
    running = make_transport(services)
    await running.start()
    try:
        yield running
    finally:
        await running.stop()
