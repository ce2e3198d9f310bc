"""Market data as the rest of the bot sees it: prices per leg, their source, and the clock to judge them by.

The bundled snapshot is here; live sources (ccxt, yfinance) and the price cache are in bot/market/live.py
and bot/market/sources, behind the same `MarketData` interface.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import pandas as pd

from bot.assets import Asset
from bot.config import MarketDataMode
from bot.market import calendars, snapshot
from bot.market.align import LegPrices


class NoData(LookupError):
    """No prices for an asset in the current data mode."""


class LiveDataNeeded(NoData):
    """The question needs live sources; this bot answers from the bundled snapshot only."""


@dataclass(frozen=True)
class LegData:
    prices: LegPrices
    source: str  # "live" | "cache" | "snapshot"
    version: int = 0  # changes whenever the prices change: part of every cache key


@dataclass(frozen=True)
class LegFreshness:
    symbol: str
    source: str
    last_bar: pd.Timestamp  # last complete daily bar (date)
    expected: pd.Timestamp | None  # last completed session of its market by the clock; None = no clock
    stale: bool


@dataclass(frozen=True)
class SeriesLine:
    interval: str
    last_bar: pd.Timestamp | None
    origin: str | None  # where the newest stored bar came from
    ended: pd.Timestamp | None  # when that bar's price was set (naive UTC); None: no clock (snapshot)
    behind: bool  # a newer complete bar should exist by now
    last_error: str | None = None
    last_error_at: datetime | None = None
    last_success_at: datetime | None = None


@dataclass(frozen=True)
class AssetStatus:
    symbol: str
    label: str | None  # live / cache / snapshot in this process; None before its first refresh
    series: list[SeriesLine] = field(default_factory=list)


class MarketData(Protocol):
    mode: MarketDataMode

    def leg(self, asset: Asset) -> LegData: ...

    def now(self) -> pd.Timestamp | None:
        """The clock freshness is judged by; None means 'the world ends at the data' (snapshot mode)."""
        ...

    async def refresh(self, assets: list[Asset]) -> None: ...

    async def start(self) -> None:
        """Once per process, before the first command (e.g. register the tickers users added)."""
        ...

    async def close(self) -> None: ...

    async def add_asset(self, text: str, kind: str | None, added_by: str | None) -> Asset:
        """A ticker users asked for; ValueError with a reason to show, LiveDataNeeded without live sources."""
        ...

    async def status(self, assets: Iterable[Asset]) -> list[AssetStatus]: ...


class SnapshotMarketData:
    """The bundled real snapshot. In `snapshot` mode it is never stale; in `auto` mode (no live source
    yet) it is judged against the real clock, so replies say how old it is."""

    def __init__(self, mode: MarketDataMode = MarketDataMode.SNAPSHOT, clock: pd.Timestamp | None = None):
        self.mode = mode
        self._clock = clock

    def leg(self, asset: Asset) -> LegData:
        if not asset.bundled or not snapshot.has_series(asset.symbol, "1d"):
            raise NoData(
                f"{asset.symbol} has no bundled history; it needs live data (MARKET_DATA=auto or live)"
            )
        hourly = snapshot.hourly_closes(asset.symbol) if snapshot.has_series(asset.symbol, "1h") else None
        prices = LegPrices(asset.symbol, asset.is_crypto, snapshot.daily_closes(asset.symbol), hourly)
        return LegData(prices, "snapshot")

    def now(self) -> pd.Timestamp | None:
        if self.mode is MarketDataMode.SNAPSHOT:
            return None
        return self._clock if self._clock is not None else pd.Timestamp.now(tz="UTC")

    async def refresh(self, assets: list[Asset]) -> None:
        return None

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def add_asset(self, text: str, kind: str | None, added_by: str | None) -> Asset:
        raise LiveDataNeeded("Adding tickers needs live data (MARKET_DATA=auto or live); this bot answers from the "
                             "bundled snapshot only")

    async def status(self, assets: Iterable[Asset]) -> list[AssetStatus]:
        rows = []
        for asset in assets:
            try:
                last = self.leg(asset).prices.daily.index[-1]
            except NoData:
                rows.append(AssetStatus(asset.symbol, None))
                continue
            rows.append(AssetStatus(asset.symbol, "snapshot", [SeriesLine("1d", last, "snapshot", None, False)]))
        return rows


def leg_freshness(asset: Asset, leg: LegData, now: pd.Timestamp | None) -> LegFreshness:
    last = leg.prices.daily.index[-1]
    if leg.prices.hourly is not None and len(leg.prices.hourly):
        # the last UTC day the hourly candles cover in full counts as a daily bar
        last_end = leg.prices.hourly.index[-1].tz_convert("UTC").tz_localize(None)
        last = max(last, last_end.normalize() - pd.Timedelta(days=1))
    if now is None:
        return LegFreshness(asset.symbol, leg.source, last, None, False)
    if asset.calendar:
        expected = calendars.last_completed_session(now, asset.calendar)
    else:
        expected = calendars.last_completed_utc_day(now)
    return LegFreshness(asset.symbol, leg.source, last, expected, bool(last < expected))
