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
from bot.market.align import LegPrices, sync_ready
from bot.market.errors import LiveDataNeeded, NoData


@dataclass(frozen=True)
class LegData:
    prices: LegPrices
    source: str  # "live" | "cache" | "snapshot"
    version: int = 0  # changes whenever the prices change: part of every cache key


@dataclass(frozen=True)
class LegFreshness:
    symbol: str
    source: str
    last_bar: pd.Timestamp  # last complete daily bar (date); sync-close crypto: last session it can price
    expected: pd.Timestamp | None  # last completed session of its market by the clock; None = no clock
    stale: bool
    # sync-close crypto leg (docs/methods.md §1.7): the calendar it is judged by, its newest hourly candle end,
    # and its last complete UTC day (how far its data reaches, in the words of a leg that is far behind)
    sync_calendar: str | None = None
    last_candle_end: pd.Timestamp | None = None
    last_day: pd.Timestamp | None = None

    @property
    def data_end(self) -> pd.Timestamp:
        """The date a reply gives as the end of this leg's data."""
        return self.last_day if self.last_day is not None else self.last_bar

    def waits_for_candles(self, session: pd.Timestamp) -> bool:
        """Is `session` pending: the one session this sync-close leg lacks, because its hourly candles have not
        reached that session's close yet? (A leg further behind is simply stale: its data ends earlier.)"""
        if self.sync_calendar is None or self.last_candle_end is None or self.last_bar >= session:
            return False
        sessions = calendars.session_closes(self.sync_calendar).index
        before = sessions[sessions < session]
        return bool(len(before)) and self.last_bar >= before[-1]

    def close_of(self, session: pd.Timestamp) -> pd.Timestamp:
        """The official close (UTC) of `session` in the calendar this leg is judged by."""
        assert self.sync_calendar is not None
        return calendars.session_closes(self.sync_calendar)[session]

    def candles_reason(self, session: pd.Timestamp) -> str:
        """'ETH hourly candles up to the 2025-07-25 20:00 UTC close have not arrived yet (live; the last ends …)'."""
        close = self.close_of(session).tz_convert("UTC")
        last = self.last_candle_end.tz_convert("UTC") if self.last_candle_end is not None else None
        after = f"; the last ends {last:%Y-%m-%d %H:%M} UTC" if last is not None else ""
        return (f"{self.symbol} hourly candles up to the {session:%Y-%m-%d} {close:%H:%M} UTC close have not "
                f"arrived yet ({self.source}{after})")


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
    @property
    def mode(self) -> MarketDataMode: ...

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

    async def remove_asset(self, text: str) -> Asset:
        """Forget a ticker users added; ValueError with a reason to show, LiveDataNeeded without live sources."""
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

    async def remove_asset(self, text: str) -> Asset:
        raise LiveDataNeeded("Only live data has added tickers to remove (MARKET_DATA=auto or live); this bot answers "
                             "from the bundled snapshot only")

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


def sync_calendar(asset: Asset, benchmark: Asset) -> str | None:
    """The calendar of a crypto–equity/index pair, whose crypto leg is priced at that calendar's closes
    (sync-close, docs/methods.md §1.3); None for other pairs."""
    if asset.is_crypto == benchmark.is_crypto:
        return None
    return next((x.calendar for x in (asset, benchmark) if x.calendar), None)


def pair_freshness(
    asset: Asset, leg_a: LegData, benchmark: Asset, leg_b: LegData, now: pd.Timestamp | None
) -> tuple[LegFreshness, LegFreshness]:
    """Both legs of a pair judged as in docs/methods.md §1.7, a sync-close crypto leg by its pair's closes."""
    calendar = sync_calendar(asset, benchmark)
    return leg_freshness(asset, leg_a, now, calendar), leg_freshness(benchmark, leg_b, now, calendar)


def leg_freshness(
    asset: Asset, leg: LegData, now: pd.Timestamp | None, sync_calendar: str | None = None
) -> LegFreshness:
    """Is the leg's last bar behind its market's last completed session (docs/methods.md §1.7)?

    With `sync_calendar` (a crypto leg paired with an equity or index), the crypto leg is judged by the
    sessions of that calendar its hourly candles can price: a session is ready once a candle ending at or
    after its close has arrived (`align.sync_ready`); until then it is pending and the leg is stale.
    """
    hourly = leg.prices.hourly
    if sync_calendar is not None and asset.is_crypto and hourly is not None and len(hourly):
        return _sync_freshness(asset, leg, hourly, now, sync_calendar)
    last = _last_day(leg)
    if now is None:
        return LegFreshness(asset.symbol, leg.source, last, None, False)
    if sync_calendar is not None and asset.is_crypto:
        # no hourly candles: every session takes the UTC daily candle of its date (daily-close, §1.4), so
        # the pair's newest session waits for that day's candle
        expected = calendars.last_completed_session(now, sync_calendar)
    elif asset.calendar:
        expected = calendars.last_completed_session(now, asset.calendar)
    else:
        expected = calendars.last_completed_utc_day(now)
    return LegFreshness(asset.symbol, leg.source, last, expected, bool(last < expected))


def _last_day(leg: LegData) -> pd.Timestamp:
    """The leg's last complete daily bar; for crypto also the last UTC day its hourly candles cover in full."""
    last = leg.prices.daily.index[-1]
    hourly = leg.prices.hourly
    if hourly is not None and len(hourly):
        last_end = hourly.index[-1].tz_convert("UTC").tz_localize(None)
        last = max(last, last_end.normalize() - pd.Timedelta(days=1))
    return last


def _sync_freshness(
    asset: Asset, leg: LegData, hourly: pd.Series, now: pd.Timestamp | None, calendar: str
) -> LegFreshness:
    closes = calendars.session_closes(calendar)
    ready = closes.index[sync_ready(closes, hourly)]
    last_end = pd.DatetimeIndex(hourly.index).max()
    # no session ready at all (hourly history newer than every close): judged by its daily bars
    last = ready[-1] if len(ready) else leg.prices.daily.index[-1]
    expected = None if now is None else calendars.last_completed_session(now, calendar)
    stale = expected is not None and bool(last < expected)
    # how far its prices reach, in whole UTC days of hourly candles: the daily bars do not price these sessions
    last_day = last_end.tz_convert("UTC").tz_localize(None).normalize() - pd.Timedelta(days=1)
    return LegFreshness(asset.symbol, leg.source, last, expected, stale, calendar, last_end, last_day)


def price_time(asset: Asset, leg: LegData) -> pd.Timestamp:
    """When the leg's newest price was set (UTC): the end of its last hourly candle, or its last daily bar's
    session close (crypto: the end of that UTC day)."""
    daily_end = leg.prices.daily.index[-1]
    if asset.calendar:
        closes = calendars.session_closes(asset.calendar)
        daily = pd.Timestamp(closes[daily_end]) if daily_end in closes.index else daily_end + pd.Timedelta(days=1)
    else:
        daily = daily_end + pd.Timedelta(days=1)
    daily = daily.tz_localize("UTC") if daily.tzinfo is None else daily.tz_convert("UTC")
    hourly = leg.prices.hourly
    if hourly is not None and len(hourly):
        last = hourly.index[-1]
        last = last.tz_localize("UTC") if last.tzinfo is None else last.tz_convert("UTC")
        return max(daily, last)
    return daily
