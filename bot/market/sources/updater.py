"""Bring one stored series (asset, interval) up to date through its chain of sources.

Incremental: it asks only when a newer complete bar can exist, and from the last stored bar on (that bar
comes back too, so an empty answer is always a failure and the join can be checked). A series with
nothing stored starts FIRST_FETCH_SPAN back. The first source that gives usable bars wins; each failure is
logged, puts the source on cooldown and is kept for source_status.last_error when every source fails.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from bot.assets import Asset
from bot.market.cache import PriceCache, StoredBar
from bot.market.sources.base import DAILY, HOURLY, PriceSource, Progress, Scope, SourceError, naive_utc
from bot.market.sources.checks import BarsRejected, check_bars, complete_bars, next_bar_due
from bot.market.sources.cooldown import Cooldowns
from bot.market.sources.factory import SourceSet

log = logging.getLogger(__name__)

FIRST_FETCH_SPAN = {DAILY: pd.Timedelta(days=3653), HOURLY: pd.Timedelta(days=730)}
# A source that answered but had no new bar yet (it publishes late) is asked again after this long.
REPOLL = pd.Timedelta(seconds=60)
_SAME = 1e-9  # relative difference below which two closes are the same number


@dataclass(frozen=True)
class UpdateResult:
    symbol: str
    interval: str
    ok: bool  # a live source answered with usable bars, or nothing new could exist yet
    requested: bool  # a source was asked
    source: str | None = None  # the source that answered
    new_bars: int = 0
    first_ts: pd.Timestamp | None = None  # earliest timestamp written
    rescaled: bool = False  # stored history was re-based (dividend or split)
    errors: tuple[str, ...] = ()  # one "source: reason" per source that failed or was skipped
    stored_last: pd.Timestamp | None = None  # newest stored bar when nothing was asked (another process's too)

    @property
    def changed(self) -> bool:
        return self.first_ts is not None

    @property
    def error(self) -> str | None:
        return "; ".join(self.errors) if not self.ok and self.errors else None


class SeriesUpdater:
    def __init__(
        self, cache: PriceCache, sources: SourceSet, cooldowns: Cooldowns, clock: Callable[[], pd.Timestamp]
    ):
        self.cache = cache
        self.sources = sources
        self.cooldowns = cooldowns
        self.clock = clock
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._answered_at: dict[tuple[str, str], pd.Timestamp] = {}
        self.on_source_error: Callable[[str], None] = lambda source: None  # the app counts them (metrics)

    async def update(
        self, asset: Asset, interval: str, *, since: pd.Timestamp | None = None, progress: Progress | None = None
    ) -> UpdateResult:
        """Fetch what is missing (or, with `since`, everything from that time on) and store it."""
        key = (asset.symbol, interval)
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            return await self._update(asset, interval, since, progress)

    async def _update(
        self, asset: Asset, interval: str, since: pd.Timestamp | None, progress: Progress | None
    ) -> UpdateResult:
        symbol, now = asset.symbol, naive_utc(self.clock())
        last = await self.cache.last_bar(symbol, interval)
        if since is None:
            if last is not None and not next_bar_due(asset, interval, last.ts, now):
                return UpdateResult(symbol, interval, ok=True, requested=False, stored_last=last.ts)
            answered = self._answered_at.get((symbol, interval))
            if last is not None and answered is not None and now - answered < REPOLL:
                return UpdateResult(symbol, interval, ok=True, requested=False, stored_last=last.ts)
            since = last.ts if last is not None else (now - FIRST_FETCH_SPAN[interval]).normalize()
        chain = self.sources.chain(asset, interval)
        if not chain:
            return UpdateResult(symbol, interval, ok=False, requested=False, errors=("no live source for it",))
        errors: list[str] = []
        requested = False
        for position, source in enumerate(chain):
            block = self.cooldowns.blocked(source.name, symbol, now)
            if block is not None:
                errors.append(f"{source.name}: not asked until {block.until:%H:%M} UTC after: {block.reason}")
                continue
            requested = True
            try:
                result = await self._attempt(source, asset, interval, since, now, last, progress, errors)
            except SourceError as exc:
                self.on_source_error(source.name)
                self.cooldowns.block(exc, symbol, now)
                errors.append(f"{source.name}: {exc.reason}")
                following = chain[position + 1].name if position + 1 < len(chain) else None
                log.warning(
                    "%s %s: %s failed: %s; %s", symbol, interval, source.name, exc.reason,
                    f"trying {following}" if following else "no other live source",
                )
                continue
            self._answered_at[(symbol, interval)] = now
            return result
        error = "; ".join(errors)
        await self.cache.record_error(symbol, interval, error, at=now.tz_localize("UTC").to_pydatetime())
        return UpdateResult(symbol, interval, ok=False, requested=requested, errors=tuple(errors))

    async def _attempt(self, source: PriceSource, asset: Asset, interval: str, *args: Any) -> UpdateResult:
        """One source's try; anything unexpected (a bug, a library surprise) is logged in full and counts as
        that source failing, so the chain goes on."""
        try:
            return await self._fetch_and_store(source, asset, interval, *args)
        except SourceError:
            raise
        except Exception as exc:
            log.exception("%s %s: %s raised", asset.symbol, interval, source.name)
            raise SourceError(source.name, f"unexpected error ({type(exc).__name__})") from exc

    async def _fetch_and_store(
        self,
        source: PriceSource,
        asset: Asset,
        interval: str,
        since: pd.Timestamp,
        now: pd.Timestamp,
        last: StoredBar | None,
        progress: Progress | None,
        earlier_errors: list[str],
    ) -> UpdateResult:
        symbol, at = asset.symbol, now.tz_localize("UTC").to_pydatetime()
        fetched = await source.fetch(asset, interval, since, now, progress)
        bars = complete_bars(fetched.bars, asset, interval, now)
        anchor = await self.cache.bar_at_or_before(symbol, interval, bars.index[0]) if len(bars) else None
        try:
            check_bars(bars, asset, interval, since=since, anchor=None if anchor is None else (anchor.ts, anchor.close))
        except BarsRejected as exc:
            raise SourceError(source.name, str(exc), scope=Scope.SERIES) from exc
        rescaled = False
        if source.adjusted and anchor is not None and anchor.ts == bars.index[0]:
            rescaled = await self._rebase(symbol, interval, anchor, bars, fetched.adjustment_events)
        previous_last = last.ts if last is not None else None
        new_bars = int((bars.index > previous_last).sum()) if previous_last is not None else len(bars)
        unchanged_join = (
            anchor is not None and anchor.ts == bars.index[0] and len(bars) == 1 and not rescaled
            and np.isclose(bars.iloc[0], anchor.close, rtol=_SAME, atol=0)
        )
        await self.cache.write(symbol, interval, bars, source.name, at)
        newest = bars.index[-1] if previous_last is None else max(bars.index[-1], previous_last)
        await self.cache.record_success(
            symbol, interval, source.name, newest, error="; ".join(earlier_errors) or None, at=at
        )
        if new_bars:
            log.info("%s %s: %d new bars from %s, up to %s", symbol, interval, new_bars, source.name, newest)
        return UpdateResult(
            symbol, interval, ok=True, requested=True, source=source.name, new_bars=new_bars,
            first_ts=None if unchanged_join else bars.index[0], rescaled=rescaled, errors=tuple(earlier_errors),
        )

    async def _rebase(
        self, symbol: str, interval: str, anchor: StoredBar, bars: pd.Series, events: tuple[pd.Timestamp, ...]
    ) -> bool:
        """An adjusted source re-bases its whole history at a dividend or split: scale what is stored before
        the join by the same factor, so returns across the join stay true."""
        if not any(event > anchor.ts for event in events):
            return False
        factor = float(bars.iloc[0]) / anchor.close
        if abs(factor - 1.0) <= _SAME:
            return False
        count = await self.cache.rescale(symbol, interval, anchor.ts, factor)
        log.info("%s %s: adjusted history re-based by %.6f on %d stored bars (dividend or split)",
                 symbol, interval, factor, count)
        return True
