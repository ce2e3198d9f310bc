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


def build_market_data(settings: Settings) -> MarketData:
    # Live sources arrive with the Live market data work; until then `auto` uses the snapshot and judges
    # it against the real clock (so replies say how old it is), `live` refuses to pretend.
    if settings.market_data is MarketDataMode.LIVE:
        raise RuntimeError("MARKET_DATA=live needs live sources, which this version does not have yet")
    return SnapshotMarketData(settings.market_data)


def build_services(settings: Settings, store: Any = None) -> Services:
    from bot.render.charts import ChartRenderer

    market = build_market_data(settings)
    return Services(settings, market, PairAnalyzer(market), ChartRenderer(), store)
