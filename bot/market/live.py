"""Live market data: prices served from memory, kept up to date from the exchanges and Yahoo through the
price cache, with a fallback chain and a time budget.

Fallback chain per asset: live source → the next source in its chain (other exchange) → the cached bars →
the bundled snapshot. `LegData.source` says which: `live` when every series of the asset reached a live
source in this process (or nothing new could exist since it did), else `cache` when stored bars came from
a live source earlier, else `snapshot`. Freshness is judged by `leg_freshness` against `now()`.

`refresh()` waits at most MARKET_BUDGET_SECONDS for the sources; fetches still running then carry on in
the background (the next question gets their bars) and the answer uses what is stored. With
MARKET_DATA=live nothing falls back: a leg whose live fetch failed raises NoData with the reasons.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pandas as pd

from bot.assets import Asset, find_asset, is_custom, register_asset, unregister_asset
from bot.clock import as_utc
from bot.config import MarketDataMode
from bot.market import calendars, snapshot
from bot.market.align import LegPrices
from bot.market.cache import SNAPSHOT, PriceCache, StoredBar
from bot.market.data import AssetStatus, LegData, SeriesLine
from bot.market.errors import NoData
from bot.market.sources.base import DAILY, HOURLY, STEP, intervals_of, naive_utc
from bot.market.sources.checks import next_bar_due
from bot.market.sources.cooldown import Cooldowns
from bot.market.sources.factory import SourceSet
from bot.market.sources.lookup import AssetRejected, lookup_asset
from bot.market.sources.updater import SeriesUpdater, UpdateResult

log = logging.getLogger(__name__)

LIVE, CACHE = "live", "cache"
Clock = Callable[[], pd.Timestamp]


def real_clock() -> pd.Timestamp:
    return pd.Timestamp.now(tz="UTC")


class BundledSnapshot:
    """The bundled snapshot as the price cache stores bars (hourly by open time, naive UTC)."""

    def bars(self, asset: Asset, interval: str) -> pd.Series | None:
        if not asset.bundled or not snapshot.has_series(asset.symbol, interval):
            return None
        if interval == DAILY:
            return snapshot.daily_closes(asset.symbol)
        hourly = snapshot.hourly_closes(asset.symbol)
        return pd.Series(hourly.to_numpy(), index=(hourly.index - STEP[HOURLY]).tz_localize(None), name=asset.symbol)


@dataclass
class _Series:
    closes: pd.Series  # naive UTC timestamp -> close, as stored
    origin: str | None  # source of the newest stored bar: binance, yahoo, snapshot, …
    ok: bool = False
    error: str | None = None


@dataclass
class _Leg:
    asset: Asset
    series: dict[str, _Series]
    label: str = SNAPSHOT
    version: int = 0
    data: LegData | None = None


class LiveMarketData:
    def __init__(
        self,
        mode: MarketDataMode,
        cache: PriceCache,
        sources: SourceSet,
        *,
        budget_seconds: float,
        cooldown_seconds: float,
        clock: Clock | None = None,
        bundled: BundledSnapshot | None = None,
        max_custom_assets: int = 20,
    ):
        if mode is MarketDataMode.SNAPSHOT:
            raise ValueError("MARKET_DATA=snapshot uses SnapshotMarketData, which never touches the network")
        self.mode = mode
        self.cache = cache
        self.sources = sources
        self.budget_seconds = budget_seconds
        self.max_custom_assets = max_custom_assets  # MAX_CUSTOM_ASSETS: each costs a fetch and a /scan column
        self._clock = clock or real_clock
        self._bundled = bundled or BundledSnapshot()
        self.updater = SeriesUpdater(cache, sources, Cooldowns(cooldown_seconds), self._clock)
        self._legs: dict[str, _Leg] = {}
        self._load_locks: dict[str, asyncio.Lock] = {}
        self._running: dict[tuple[str, str], asyncio.Task[UpdateResult | None]] = {}
        self._started = False

    # ---------------------------------------------------------------- MarketData

    def now(self) -> pd.Timestamp:
        return self._clock()

    def leg(self, asset: Asset) -> LegData:
        leg = self._legs.get(asset.symbol)
        if self.mode is MarketDataMode.LIVE and (leg is None or leg.label != LIVE):
            running = list(self._running.items())  # leg() runs in worker threads; refresh() changes this dict
            fetching = [key[1] for key, task in running if key[0] == asset.symbol and not task.done()]
            if fetching:
                reason = f"its {', '.join(fetching)} bars took longer than {self.budget_seconds:g} s to arrive"
            else:
                reason = _errors_of(leg) if leg is not None else "it has not been fetched yet"
            raise NoData(
                f"no live prices for {asset.symbol}: {reason}. MARKET_DATA=live does not fall back to cached "
                "or bundled prices (MARKET_DATA=auto does)"
            )
        if leg is not None and leg.data is not None:
            return leg.data
        if leg is None:
            bundled = self._bundled_leg(asset)
            if bundled is not None:
                return bundled
        reason = _errors_of(leg) if leg is not None else "no stored or bundled history"
        raise NoData(f"no prices for {asset.symbol} yet ({reason})")

    async def refresh(self, assets: list[Asset]) -> None:
        """Load what is stored, then ask the sources for what is missing, for at most the time budget.
        Never raises: problems end up in the legs' source labels, the log and source_status."""
        try:
            await self.start()
            unique = list({a.symbol: a for a in assets}.values())
            await asyncio.gather(*(self._load(a) for a in unique))
            await self._update(unique, self.budget_seconds)
        except Exception:
            log.exception("market data refresh failed; answering from what is in memory")

    async def close(self) -> None:
        """Stop fetches still running and close the sources' HTTP sessions."""
        running = list(self._running.values())
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        self._running.clear()
        await self.sources.close()

    # ---------------------------------------------------------------- start-up and user-added assets

    async def start(self) -> None:
        """Register the assets users added in earlier runs (custom_assets), once per process."""
        if self._started:
            return
        self._started = True
        for asset in await self.cache.custom_assets():
            try:
                register_asset(asset)
            except ValueError as exc:
                log.warning("custom asset %s not loaded: %s", asset.symbol, exc)

    async def add_asset(self, text: str, kind: str | None, added_by: str | None) -> Asset:
        """Validate a ticker against the sources' own symbol lists (or a test fetch), remember it, and
        fetch its history within the time budget. Raises AssetRejected with a reason to show."""
        await self.start()
        added = len(await self.cache.custom_assets())
        if added >= self.max_custom_assets:  # before any source is asked
            raise AssetRejected(f"the list of added tickers is full ({added} of MAX_CUSTOM_ASSETS="
                                f"{self.max_custom_assets})")
        asset = await lookup_asset(text, kind, self.sources)
        if not await self.cache.save_custom_asset(asset, added_by):
            raise AssetRejected(f"{asset.symbol} was added already")
        register_asset(asset)
        log.info("asset %s added (%s) by %s", asset.symbol, asset.kind.value, added_by or "?")
        await self.refresh([asset])
        return asset

    async def remove_asset(self, text: str) -> Asset:
        """Forget a ticker users added (built-in ones stay); AssetRejected with a reason to show."""
        await self.start()
        asset = find_asset(text)
        if asset is None or not is_custom(asset):
            name, what = (asset.symbol, "built in") if asset else (text[:20], "not a ticker anyone added")
            raise AssetRejected(f"{name} is {what}; only added tickers can be removed")
        await self.cache.delete_custom_asset(asset.symbol)
        unregister_asset(asset.symbol)  # other processes forget it at their next start
        log.info("asset %s removed", asset.symbol)
        return asset

    # ---------------------------------------------------------------- status

    async def status(self, assets: Iterable[Asset]) -> list[AssetStatus]:
        """Per asset and series: newest stored bar, where it came from, whether it is behind, last error."""
        labels = {symbol: leg.label for symbol, leg in self._legs.items()}
        return await series_status(self.cache, assets, self._clock(), labels)

    # ---------------------------------------------------------------- internals

    def _bundled_leg(self, asset: Asset) -> LegData | None:
        daily = self._bundled.bars(asset, DAILY)
        if daily is None or daily.empty:
            return None
        hourly = self._bundled.bars(asset, HOURLY) if asset.is_crypto else None
        return LegData(_leg_prices(asset, {DAILY: daily, HOURLY: hourly}), SNAPSHOT, 0)

    async def _load(self, asset: Asset) -> None:
        """Into memory from the cache, once per process; a cold cache is first seeded from the snapshot."""
        if asset.symbol in self._legs:
            return
        async with self._load_locks.setdefault(asset.symbol, asyncio.Lock()):
            if asset.symbol in self._legs:
                return
            series = {}
            for interval in intervals_of(asset):
                last = await seed_from_snapshot(self.cache, asset, interval, self._bundled)
                closes = await self.cache.closes(asset.symbol, interval)
                series[interval] = _Series(closes, None if last is None else last.source)
            leg = _Leg(asset, series)
            self._legs[asset.symbol] = leg
            self._publish(leg)

    async def _update(self, assets: list[Asset], budget: float | None) -> None:
        tasks = [self._task(a, interval) for a in assets for interval in intervals_of(a)]
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=budget)
        for task in pending:
            log.warning("%s: still fetching after the %g s budget; answering from what is stored meanwhile",
                        task.get_name(), budget)
        for asset in assets:
            leg = self._legs.get(asset.symbol)
            if leg is not None:
                self._publish(leg)

    def _task(self, asset: Asset, interval: str) -> asyncio.Task[UpdateResult | None]:
        key = (asset.symbol, interval)
        running = self._running.get(key)
        if running is not None and not running.done():
            return running  # a fetch that outlived an earlier budget: wait for it rather than start another
        task = asyncio.create_task(self._update_series(asset, interval), name=f"{asset.symbol} {interval}")
        self._running[key] = task

        def forget(done: asyncio.Task[UpdateResult | None]) -> None:
            if self._running.get(key) is done:
                self._running.pop(key, None)

        task.add_done_callback(forget)
        return task

    async def _update_series(self, asset: Asset, interval: str) -> UpdateResult | None:
        leg = self._legs[asset.symbol]
        state = leg.series[interval]
        try:
            result = await self.updater.update(asset, interval)
        except Exception as exc:
            log.exception("%s %s: update failed", asset.symbol, interval)
            state.ok, state.error = False, f"internal error ({type(exc).__name__})"
            self._publish(leg)
            return None
        if result.changed:
            state.closes = await self._reload(asset.symbol, interval, state.closes, result)
        elif result.stored_last is not None and (state.closes.empty or state.closes.index[-1] < result.stored_last):
            state.closes = await self.cache.closes(asset.symbol, interval)  # e.g. `backfill` ran meanwhile
        state.ok, state.error = result.ok, result.error
        if result.source is not None:
            state.origin = result.source
        self._publish(leg)
        return result

    async def _reload(self, symbol: str, interval: str, old: pd.Series, result: UpdateResult) -> pd.Series:
        """The series after an update: only the rewritten tail is read back, unless history was re-based."""
        if result.rescaled or result.first_ts is None or old.empty:
            return await self.cache.closes(symbol, interval)
        tail = await self.cache.closes(symbol, interval, since=result.first_ts)
        return pd.concat([old[old.index < result.first_ts], tail])

    def _publish(self, leg: _Leg) -> None:
        """Recompute the leg's label and prices; a new version whenever either changed."""
        label = _label(leg)
        daily = leg.series[DAILY].closes
        if daily.empty:
            leg.label, leg.data = label, None
            return
        prices = _leg_prices(leg.asset, {k: s.closes for k, s in leg.series.items()})
        old = leg.data
        same_prices = old is not None and _same(old.prices, prices)
        if old is not None and same_prices and old.source == label:
            return
        if label != leg.label or old is None:
            _log_label(leg, label)
        leg.label = label
        leg.version += 1
        leg.data = LegData(old.prices if (old is not None and same_prices) else prices, label, leg.version)


def _label(leg: _Leg) -> str:
    if all(s.ok for s in leg.series.values()):
        return LIVE
    if all(s.origin in (SNAPSHOT, None) for s in leg.series.values()):
        return SNAPSHOT
    return CACHE


def _log_label(leg: _Leg, label: str) -> None:
    symbol = leg.asset.symbol
    last = leg.series[DAILY].closes.index[-1]
    if label == LIVE:
        log.info("%s: live prices (last daily bar %s)", symbol, f"{last:%Y-%m-%d}")
    elif any(s.error for s in leg.series.values()):
        log.warning("%s: no live source answered (%s); using the %s (last daily bar %s)", symbol,
                    _errors_of(leg), "cache" if label == CACHE else "bundled snapshot", f"{last:%Y-%m-%d}")


def _errors_of(leg: _Leg | None) -> str:
    if leg is None:
        return "not loaded"
    errors = [f"{interval}: {s.error}" for interval, s in leg.series.items() if s.error]
    return "; ".join(errors) or "no live source answered yet"


def _leg_prices(asset: Asset, closes: dict[str, pd.Series | None]) -> LegPrices:
    daily = closes[DAILY]
    assert daily is not None
    daily = pd.Series(daily.to_numpy(float), index=pd.DatetimeIndex(daily.index, name="date"), name=asset.symbol)
    hourly = closes.get(HOURLY)
    hourly_by_end = None
    if asset.is_crypto and hourly is not None and len(hourly):
        ends = (pd.DatetimeIndex(hourly.index) + STEP[HOURLY]).tz_localize("UTC")
        hourly_by_end = pd.Series(hourly.to_numpy(float), index=ends, name=asset.symbol)
    return LegPrices(asset.symbol, asset.is_crypto, daily, hourly_by_end)


def _same(a: LegPrices, b: LegPrices) -> bool:
    if not a.daily.equals(b.daily):
        return False
    if a.hourly is None or b.hourly is None:
        return a.hourly is None and b.hourly is None
    return a.hourly.equals(b.hourly)




async def seed_from_snapshot(
    cache: PriceCache, asset: Asset, interval: str, bundled: BundledSnapshot
) -> StoredBar | None:
    """A series with nothing stored starts from the bundled snapshot; returns the newest stored bar."""
    last = await cache.last_bar(asset.symbol, interval)
    if last is not None:
        return last
    bars = bundled.bars(asset, interval)
    if bars is None or bars.empty:
        return None
    count = await cache.seed(asset.symbol, interval, bars)
    log.info("%s %s: cold cache seeded with %d bars from the bundled snapshot", asset.symbol, interval, count)
    return await cache.last_bar(asset.symbol, interval)


async def series_status(
    cache: PriceCache, assets: Iterable[Asset], now: pd.Timestamp, labels: dict[str, str] | None = None
) -> list[AssetStatus]:
    now = naive_utc(now)
    recorded = {(s.asset, s.interval): s for s in await cache.statuses()}
    out = []
    for asset in assets:
        lines = []
        for interval in intervals_of(asset):
            last = await cache.last_bar(asset.symbol, interval)
            row = recorded.get((asset.symbol, interval))
            lines.append(SeriesLine(
                interval,
                None if last is None else last.ts,
                None if last is None else last.source,
                None if last is None else bar_end(asset, interval, last.ts),
                last is None or next_bar_due(asset, interval, last.ts, now),
                None if row is None else row.last_error,
                None if row is None else as_utc(row.last_error_at),
                None if row is None else as_utc(row.last_success_at),
            ))
        out.append(AssetStatus(asset.symbol, (labels or {}).get(asset.symbol), lines))
    return out


def bar_end(asset: Asset, interval: str, ts: pd.Timestamp) -> pd.Timestamp:
    """When a stored bar's price was set (naive UTC): candle end, or the session's official close."""
    if interval == DAILY and asset.calendar is not None:
        closes = calendars.session_closes(asset.calendar)
        if ts in closes.index:
            return naive_utc(closes[ts])
    return ts + STEP[interval]

