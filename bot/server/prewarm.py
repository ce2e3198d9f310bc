"""Prewarm: render ahead the charts people will ask for, so the common request is a chart-cache hit.

What is asked most: the default pair at the window buttons (30d, 90d, 1y — `REGIME_WINDOWS`), and each
subscribed pair at its alert window. The server prewarms them at start and then every few minutes; a chart
whose data did not change is a cache hit and costs nothing (the cache key holds the as-of date and the
current correlation), so a pass renders only what a data refresh made new. Renders go through the chart
cache, one at a time, so a user's request always finds a free render worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from bot.analysis.errors import AnalysisError
from bot.assets import Asset, find_asset
from bot.market.errors import NoData
from bot.ports.services import Services
from bot.windows import Window, WindowError, parse_window

log = logging.getLogger(__name__)

PREWARM_EVERY_SECONDS = 300.0
THEMES = ("light",)  # every transport and the status page draw the light theme


@dataclass(frozen=True)
class Watched:
    asset: Asset
    benchmark: Asset
    window: Window


async def watched(services: Services) -> list[Watched]:
    """The default pair at each regime window, then every subscribed pair at its window, each once."""
    settings = services.settings
    wanted: list[tuple[str, str, Window]] = []
    first, second = settings.default_pair.split(":")
    for label in settings.regime_windows:
        with contextlib.suppress(WindowError):
            wanted.append((first, second, parse_window(label)))
    for item in await services.store.active_subscriptions():
        sub = item.subscription
        if not sub.universe_wide:
            with contextlib.suppress(WindowError):
                wanted.append((str(sub.asset), str(sub.benchmark), parse_window(f"{sub.window_days}d")))
    seen: dict[tuple[str, str, int], Watched] = {}
    for a, b, window in wanted:
        asset, benchmark = find_asset(a), find_asset(b)
        if asset is not None and benchmark is not None and asset is not benchmark:
            seen.setdefault((asset.symbol, benchmark.symbol, window.days), Watched(asset, benchmark, window))
    return list(seen.values())


async def watched_pairs(services: Services) -> list[tuple[Asset, Asset]]:
    """The default pair, then every subscribed pair, each once (the status page lists them)."""
    pairs: dict[tuple[str, str], tuple[Asset, Asset]] = {}
    for item in await watched(services):
        pairs.setdefault((item.asset.symbol, item.benchmark.symbol), (item.asset, item.benchmark))
    return list(pairs.values())


async def prewarm_once(services: Services) -> int:
    """Render every watched chart that is not in the cache yet; returns how many were rendered. A pair
    without data is skipped (its command says why when asked)."""
    rendered = 0
    for item in await watched(services):
        await services.market.refresh([item.asset, item.benchmark])
        try:
            result = await asyncio.to_thread(services.analysis.correlation, item.asset, item.benchmark, item.window)
            data = await asyncio.to_thread(services.analysis.chart_data, result)
        except (AnalysisError, NoData):
            continue
        for theme in THEMES:
            before = services.charts.prewarmed
            await services.charts.ensure(data, theme)
            rendered += services.charts.prewarmed - before
    return rendered


async def keep_warm(services: Services, stopping: asyncio.Event, every: float = PREWARM_EVERY_SECONDS) -> None:
    """`prewarm_once` now and every `every` seconds until `stopping` is set; a failed pass is logged, and
    the next one tries again."""
    while not stopping.is_set():
        try:
            rendered = await prewarm_once(services)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("prewarming charts failed; trying again in %.0f s", every)
        else:
            if rendered:
                log.debug("prewarmed %d chart(s)", rendered)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), every)
