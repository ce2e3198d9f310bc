"""Pair charts behind a bounded LRU cache (cachetools), safe to share between threads and tasks."""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Hashable

import pandas as pd
from cachetools import LRUCache

from bot.analysis import ChartData


class ChartRenderer:
    """Renders pair charts (bot.render.charts) with a bounded LRU cache in front.

    Besides the pair, window, date, theme, source and staleness, the key holds the current correlation,
    its n and the thresholds, so a revised last bar (same date, new price) or other thresholds never
    reuse an old picture. matplotlib is imported with the first render, not before.
    """

    def __init__(self, max_entries: int = 64):
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self._cache: LRUCache[Hashable, bytes] = LRUCache(max_entries)
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def cache_key(data: ChartData, theme: str) -> tuple[Hashable, ...]:
        current = float(data.current) if data.current is not None else math.nan
        return (
            data.asset.symbol,
            data.benchmark.symbol,
            data.window.days,
            pd.Timestamp(data.as_of),
            theme,
            data.source,
            bool(data.stale),
            None if math.isnan(current) else round(current, 9),
            int(data.n_obs),
            data.thresholds,
        )

    def _lookup(self, key: tuple[Hashable, ...]) -> bytes | None:
        with self._lock:
            png = self._cache.get(key)
            if png is None:
                self.misses += 1
                return None
            self.hits += 1
            return png

    def _store(self, key: tuple[Hashable, ...], png: bytes) -> None:
        with self._lock:
            self._cache[key] = png

    def render(self, data: ChartData, theme: str = "light") -> bytes:
        from bot.render.charts import chart_theme, render_pair_chart

        chart_theme(theme)
        key = self.cache_key(data, theme)
        png = self._lookup(key)
        if png is None:
            png = render_pair_chart(data, theme)
            self._store(key, png)
        return png

    async def render_async(self, data: ChartData, theme: str = "light") -> bytes:
        """Cache hits answer on the event loop; misses render in a worker thread."""
        from bot.render.charts import chart_theme, render_pair_chart

        chart_theme(theme)
        key = self.cache_key(data, theme)
        png = self._lookup(key)
        if png is None:
            png = await asyncio.to_thread(render_pair_chart, data, theme)
            self._store(key, png)
        return png

    def __len__(self) -> int:
        with self._lock:
            return len(self._cache)

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()
            self.hits = self.misses = 0
