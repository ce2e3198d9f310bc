"""What command handlers may use: settings, market data, analysis, charts and (once opened) the store."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.analysis import PairAnalyzer
from bot.config import MarketDataMode, Settings
from bot.market.data import MarketData, SnapshotMarketData

if TYPE_CHECKING:
    from bot.render.charts import ChartRenderer


@dataclass
class Services:
    settings: Settings
    market: MarketData
    analysis: PairAnalyzer
    charts: ChartRenderer | None = None
    store: Any = None  # bot.store.Store once opened; commands that need it say so when it is missing
    alerts: Any = None  # the alert engine, once the app has started it (status, history, preview)


def build_market_data(settings: Settings, store: Any = None) -> MarketData:
    """`snapshot`: the bundled snapshot, never the network. `auto` and `live`: live sources over the price
    cache in the store. Without a store, `auto` answers from the snapshot judged by the real clock (replies
    say how old it is) and `live` refuses to pretend."""
    if settings.market_data is MarketDataMode.SNAPSHOT:
        return SnapshotMarketData(settings.market_data)
    if store is None:
        if settings.market_data is MarketDataMode.LIVE:
            raise RuntimeError("MARKET_DATA=live needs the store (DATABASE_URL): live prices are cached there")
        return SnapshotMarketData(settings.market_data)
    from bot.market.cache import PriceCache
    from bot.market.live import LiveMarketData
    from bot.market.sources import build_sources

    return LiveMarketData(
        settings.market_data,
        PriceCache(store.db),
        build_sources(settings),
        budget_seconds=settings.market_budget_seconds,
        cooldown_seconds=settings.source_cooldown_seconds,
    )


def build_services(settings: Settings, store: Any = None) -> Services:
    from bot.render.charts import ChartRenderer

    market = build_market_data(settings, store)
    return Services(settings, market, PairAnalyzer(market), ChartRenderer(), store)
