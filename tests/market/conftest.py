"""Market-data fixtures: local fakes of the exchanges and Yahoo, a temp SQLite store, sources pointed at
the fakes, and a LiveMarketData on a shared test clock. Nothing leaves 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pandas as pd
import pytest
import pytest_asyncio
import yfinance as yf

from bot.assets import all_assets, is_custom, unregister_asset
from bot.config import Settings, load_settings
from bot.market.cache import PriceCache
from bot.market.live import BundledSnapshot, LiveMarketData
from bot.market.sources import SourceSet, build_sources
from bot.market.sources.crypto import make_exchange
from bot.store import Store, open_store
from tests.market.fake_base import TestClock
from tests.market.fake_yahoo import LocalYahooSession, point_exchange_at
from tests.market.fakes import Fakes, start_fakes, stop_fakes

# Wednesday 2026-02-25 12:00 UTC: the last completed NYSE session is Tue 24th; the bundled snapshot ends
# Fri 20th (equities) and Mon 2026-01-19 (crypto hourly), so a cold start has a little to fetch.
DEFAULT_NOW = "2026-02-25 12:00"
# A fake answers in milliseconds; the request timeout stays far above that, so that a busy machine (two xdist
# workers, a chart rendering beside) never turns an ordinary answer into a timeout. Tests about timeouts
# ask for a short one: @pytest.mark.market_timeout(1.0) (see the `settings` fixture).
REQUEST_TIMEOUT_SECONDS = 10.0


class TrimmedSnapshot(BundledSnapshot):
    """The real bundled snapshot from `start` on: a small cold-start seed keeps each test fast."""

    def __init__(self, start: str = "2025-06-01"):
        self.start = pd.Timestamp(start)

    def bars(self, asset, interval):
        bars = super().bars(asset, interval)
        return None if bars is None else bars[bars.index >= self.start]


def market_settings(**overrides: object) -> Settings:
    values: dict[str, object] = {
        "market_data": "auto",
        "database_url": "sqlite://",
        "exchanges": "binance,coinbase,kraken",
        "market_timeout_seconds": REQUEST_TIMEOUT_SECONDS,
        "market_budget_seconds": 20.0,
        "source_cooldown_seconds": 300.0,
    }
    values.update(overrides)
    return load_settings(**values)


# ccxt's rate limiter stays on, with a far shorter interval than the real ones (Kraken 1 s, Coinbase's market
# list 10.6 × 34 ms per call), and no 250 ms pause on close (it lets TLS transports close; the fakes have none).
TEST_RATE_LIMIT_MS = 2


def fake_exchange(name: str, fakes: Fakes, timeout: float, retries: int = 0):
    exchange = make_exchange(name, timeout, retries, rateLimit=TEST_RATE_LIMIT_MS, timeout_on_exit=0)
    return point_exchange_at(exchange, fakes.exchanges[name].base_url)


def fake_sources(fakes: Fakes, settings: Settings, *, retries: int = 0) -> SourceSet:
    exchanges = {name: fake_exchange(name, fakes, settings.market_timeout_seconds, retries) for name in fakes.exchanges}
    session = LocalYahooSession(fakes.yahoo.port, max_timeout=settings.market_timeout_seconds)
    return build_sources(settings, retries=retries, exchanges=exchanges, yahoo_session=session)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # yfinance 1.7 calls DataFrame methods with inplace=True, which pandas 3.1 deprecates: not ours to fix
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.filterwarnings("ignore:The inplace keyword"))


@pytest.fixture
def clock() -> TestClock:
    return TestClock(DEFAULT_NOW)


@pytest.fixture(autouse=True)
def forget_added_assets() -> Iterator[None]:
    """The asset registry is process-wide: assets a test adds must not leak into the next."""
    yield
    for asset in all_assets():
        if is_custom(asset):
            unregister_asset(asset.symbol)


@pytest.fixture(autouse=True)
def yfinance_state(tmp_path: Path) -> None:
    """yfinance keeps process-wide caches: a fresh time-zone/cookie cache folder and no cached answers."""
    yf.set_tz_cache_location(str(tmp_path / "yfinance"))
    yf.cache._TzCacheManager._tz_cache = None
    yf.cache._CookieCacheManager._Cookie_cache = None
    yf.data.YfData.cache_get.cache_clear()
    shared = yf.data.YfData._instances.get(yf.data.YfData)
    if shared is not None:  # the cookie and crumb of an earlier test's fake
        shared._cookie, shared._crumb = None, None


@pytest_asyncio.fixture
async def fakes(clock: TestClock) -> AsyncIterator[Fakes]:
    started = await start_fakes(clock)
    try:
        yield started
    finally:
        await stop_fakes(started)


@pytest_asyncio.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await open_store(f"sqlite:///{tmp_path}/market.sqlite3")
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
def settings(request: pytest.FixtureRequest) -> Settings:
    short = request.node.get_closest_marker("market_timeout")
    return market_settings() if short is None else market_settings(market_timeout_seconds=short.args[0])


@pytest_asyncio.fixture
async def sources(fakes: Fakes, settings: Settings) -> AsyncIterator[SourceSet]:
    made = fake_sources(fakes, settings)
    try:
        yield made
    finally:
        await made.close()


def make_live(
    store: Store, sources: SourceSet, clock: TestClock, settings: Settings, **kwargs: object
) -> LiveMarketData:
    options: dict[str, object] = {
        "budget_seconds": settings.market_budget_seconds,
        "cooldown_seconds": settings.source_cooldown_seconds,
        "clock": clock,
        "bundled": TrimmedSnapshot(),
    }
    options.update(kwargs)
    return LiveMarketData(settings.market_data, PriceCache(store.db), sources, **options)  # type: ignore[arg-type]


@pytest_asyncio.fixture
async def live(store: Store, sources: SourceSet, clock: TestClock, settings: Settings) -> AsyncIterator[LiveMarketData]:
    market = make_live(store, sources, clock, settings)
    try:
        yield market
    finally:
        for task in list(market._running.values()):
            task.cancel()
