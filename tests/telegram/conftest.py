"""Fixtures for the Telegram transport: a fake Bot API server, a store on a temporary SQLite file, and the real
PTB application wired by `TelegramTransport`, driven with `process_update` (no polling) for speed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from telegram import Update

from bot.app import App
from bot.config import Settings, load_settings
from bot.ports.services import Services
from bot.sending.ratelimit import PlatformLimiter, PlatformLimits
from bot.store import Store, open_store
from handlers.quotas import CommandQuotas, QuotaLimits
from handlers.telegram.transport import TelegramTransport
from tests.telegram import updates
from tests.telegram.fake_bot_api import TOKEN, Call, FakeBotAPI

# Generous limits so tests don't wait on Telegram's real spacing (1 message a second per chat); tests about
# the limiter itself build the transport with TELEGRAM_LIMITS.
FAST_LIMITS = PlatformLimits(per_second=10_000, per_chat_per_second=10_000, per_group_per_minute=600_000)


class FakeClock:
    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def telegram_settings(fake: FakeBotAPI, tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "market_data": "snapshot",
        "database_url": f"sqlite:///{tmp_path}/telegram.sqlite3",
        "telegram_bot_token": TOKEN,
        "telegram_api_base_url": fake.base_url,
        "telegram_webhook_url": None,
        "discord_bot_token": None,
        "default_pair": "ETH:RUT",
        "default_window": "90d",
    }
    values.update(overrides)
    return load_settings(**values)


@pytest.fixture(scope="session")
def shared_services() -> Services:
    """Market data, analysis and chart cache shared by the session (loading the snapshot takes a second)."""
    return App(load_settings(market_data="snapshot", database_url="sqlite://")).services


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as server:
        yield server


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await open_store(f"sqlite:///{tmp_path}/telegram.sqlite3")
    yield opened
    await opened.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def services(fake: FakeBotAPI, tmp_path: Path, store: Store, shared_services: Services) -> Services:
    return services_with(telegram_settings(fake, tmp_path), store, shared_services)


def services_with(settings: Settings, store: Store, shared: Services) -> Services:
    """Services for `settings` and `store` that reuse the session's market data, analysis and chart cache."""
    app = App(settings, store=store, market=shared.market)
    app.analysis, app.charts = shared.analysis, shared.charts
    return app.services


@dataclass
class Harness:
    """The transport's PTB application, initialised (getMe done) but not polling: updates go in directly."""

    transport: TelegramTransport
    fake: FakeBotAPI

    async def process(self, update: dict[str, Any]) -> list[Call]:
        """Feed one update through the real PTB handlers; the Bot API calls it caused."""
        start = len(self.fake.calls)
        self.fake.learn(update)
        await self.transport.app.process_update(Update.de_json(update, self.transport.app.bot))
        return self.fake.calls[start:]

    async def command(self, text: str, chat: dict[str, Any] | None = None, sender: dict[str, Any] | None = updates.ADA,
                      **kw: Any) -> list[Call]:
        return await self.process(updates.command(text, chat, sender, **kw))

    def message(self, call: Call) -> dict[str, Any]:
        """The message the fake returned for a send call, as Telegram shows it in a later update."""
        assert isinstance(call.result, dict), f"{call.method} failed with {call.status}"
        return call.result


def make_transport(services: Services, *, limiter: PlatformLimiter | None = None,
                   quotas: CommandQuotas | None = None, chat_action_delay: float = 0.0,
                   read_timeout: float | None = None) -> TelegramTransport:
    return TelegramTransport(
        services,
        limiter=limiter or PlatformLimiter(FAST_LIMITS),
        quotas=quotas or CommandQuotas(QuotaLimits(commands=10_000, charts=10_000)),
        chat_action_delay=chat_action_delay,
        read_timeout=read_timeout,
    )


@pytest.fixture
async def harness(services: Services, fake: FakeBotAPI) -> AsyncIterator[Harness]:
    transport = make_transport(services)
    async with transport.app:
        yield Harness(transport, fake)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # PTB warns from inside RetryAfter's constructor that retry_after becomes a timedelta one day; the
    # transport already reads either form.
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning"))
