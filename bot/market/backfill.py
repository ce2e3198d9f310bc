"""What `python -m bot backfill` and `python -m bot doctor` do (bot/cli/market.py reads their arguments).

backfill: a cold cache is seeded from the bundled snapshot, then each series is fetched from its sources —
only what is missing, or everything from --since on — with a progress bar per series. It has no time
budget, and asks ccxt for two delayed retries per request (the bot itself uses none).
doctor: per asset and series, the source of the newest bar, that bar, its age, and the last error.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

from bot.assets import Asset, all_assets, find_asset, register_asset

if TYPE_CHECKING:  # ccxt, yfinance and pandas load only when a command runs, not for every `python -m bot`
    import pandas as pd

    from bot.market.cache import PriceCache
    from bot.market.live import BundledSnapshot
    from bot.market.sources import SourceSet
    from bot.market.sources.updater import UpdateResult



async def resolve_assets(cache: PriceCache, symbols: list[str] | None, err: TextIO = sys.stderr) -> list[Asset] | None:
    """The named assets (user-added ones included), or every known asset; None after printing an error."""
    for asset in await cache.custom_assets():
        with contextlib.suppress(ValueError):
            register_asset(asset)
    if not symbols:
        return list(all_assets())
    found = [find_asset(s) for s in symbols]
    unknown = [s for s, a in zip(symbols, found, strict=True) if a is None]
    if unknown:
        known = ", ".join(a.symbol for a in all_assets())
        print(f"decoupler: unknown ticker {unknown[0][:16]}; known: {known}", file=err)
        return None
    return list({a.symbol: a for a in found if a is not None}.values())


async def backfill(
    cache: PriceCache,
    sources: SourceSet,
    assets: list[Asset],
    since: dt.date | None,
    *,
    clock: Callable[[], pd.Timestamp],
    cooldown_seconds: float = 0,
    bundled: BundledSnapshot | None = None,
    out: TextIO = sys.stdout,
    progress_file: TextIO | None = None,
) -> list[UpdateResult]:
    """Each series of each asset in turn; a source that fails is skipped for the following ones."""
    import pandas as pd
    from tqdm import tqdm

    from bot.market.live import BundledSnapshot, seed_from_snapshot
    from bot.market.sources import intervals_of
    from bot.market.sources.base import naive_utc
    from bot.market.sources.cooldown import Cooldowns
    from bot.market.sources.updater import SeriesUpdater

    updater = SeriesUpdater(cache, sources, Cooldowns(cooldown_seconds), clock)
    bundled = bundled or BundledSnapshot()
    start = None if since is None else pd.Timestamp(since)
    results = []
    for asset in assets:
        for interval in intervals_of(asset):
            last = await seed_from_snapshot(cache, asset, interval, bundled)
            expected = _expected_bars(interval, start, last.ts if last else None, naive_utc(clock()))
            with tqdm(total=expected, desc=f"{asset.symbol} {interval}", unit=" bars", leave=False,
                      file=progress_file or sys.stderr, dynamic_ncols=True) as bar:
                result = await updater.update(asset, interval, since=start, progress=bar.update)
            results.append(result)
            print(_summary(result, last.ts if last else None), file=out)
    return results


def _expected_bars(interval: str, since: pd.Timestamp | None, last: pd.Timestamp | None, now: pd.Timestamp) -> int:
    """About how many bars the progress bar will count (a trading calendar makes daily equities fewer)."""
    from bot.market.sources.base import STEP
    from bot.market.sources.updater import FIRST_FETCH_SPAN

    start = since if since is not None else last if last is not None else now - FIRST_FETCH_SPAN[interval]
    return max(int((now - start) / STEP[interval]), 1)


def _summary(result: UpdateResult, previous_last: pd.Timestamp | None) -> str:
    name = f"{result.symbol} {result.interval}"
    if not result.ok:
        return f"{name}: failed — {result.error}"
    if not result.requested:
        return f"{name}: up to date (last bar {previous_last}), nothing to fetch"
    fallback = f" (after: {'; '.join(result.errors)})" if result.errors else ""
    return f"{name}: {result.new_bars:,} new bars from {result.source}{fallback}"
