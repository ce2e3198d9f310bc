"""Pair charts behind an LRU cache bounded in bytes (cachetools), safe to share between threads and tasks.

`render_async` (what commands and alerts use) answers hits on the event loop and sends misses to the render
workers (bot.render.chart_pool); two requests for the same new chart render it once. `ensure` / `prewarm`
fill the cache ahead of requests. `render` draws in the calling thread (the CLI and tests). Importing this
module imports neither matplotlib nor bot.render.charts: pool renders never need them in this process.
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Hashable, Iterable
from functools import partial

import pandas as pd
from cachetools import LRUCache

from bot.analysis.results import ChartData
from bot.render import chart_pool

THEME_NAMES = ("light", "dark")  # the names of bot.render.charts.THEMES, known here without matplotlib
# about 250 charts of ~95 KB: the windows people share (the buttons, prewarm) with room to spare, while the
# main process stays within its 250 MB when every request is a window no one asked before (bench/telegram_latency.py)
DEFAULT_MAX_BYTES = 24 * 1024 * 1024

Key = tuple[Hashable, ...]


def check_theme(name: str) -> str:
    if name not in THEME_NAMES:
        raise ValueError(f"unknown chart theme {name!r}; use one of: {', '.join(THEME_NAMES)}")
    return name


class ChartRenderer:
    """Renders pair charts (bot.render.charts) with a bounded LRU cache in front.

    Besides the pair, window, date, theme, source and staleness, the key holds the current correlation,
    its n and the thresholds, so a revised last bar (same date, new price) or other thresholds never
    reuse an old picture.

    `max_bytes` bounds the cache by the size of the PNGs; `max_entries`, if given, by their number too.
    `workers` is the number of render processes (default: one per core); 0 renders misses in threads of
    this process instead. Call `close()` (or `await aclose()`) at shutdown to stop the workers.

    Counters: `hits` (answered from the cache), `misses` (rendered for a request), `shared` (a request that
    waited for the same chart another request was rendering), `prewarmed` (rendered by `ensure`/`prewarm`).
    """

    def __init__(self, max_entries: int | None = None, *, max_bytes: int = DEFAULT_MAX_BYTES,
                 workers: int | None = None):
        if max_entries is not None and max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        if max_bytes < 1:
            raise ValueError("max_bytes must be at least 1")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._cache: LRUCache[Hashable, bytes] = LRUCache(max_bytes, getsizeof=len)
        self._lock = threading.Lock()
        self._inflight: dict[Key, asyncio.Task[bytes]] = {}
        self.pool = chart_pool.ChartPool(workers) if workers != 0 else None
        self.hits = 0
        self.misses = 0
        self.shared = 0
        self.prewarmed = 0

    @staticmethod
    def cache_key(data: ChartData, theme: str) -> Key:
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

    # ---- the cache

    def _lookup(self, key: Key, counted: bool = True) -> bytes | None:
        with self._lock:
            png = self._cache.get(key)
            if counted and png is not None:
                self.hits += 1
            return png

    def _store(self, key: Key, png: bytes) -> None:
        with self._lock:
            try:
                self._cache[key] = png
            except ValueError:  # larger than the whole cache: serve it, don't keep it
                return
            while self.max_entries is not None and len(self._cache) > self.max_entries:
                self._cache.popitem()

    def cached(self, data: ChartData, theme: str = "light") -> bool:
        with self._lock:
            return self.cache_key(data, theme) in self._cache

    @property
    def size_bytes(self) -> int:
        with self._lock:
            return int(self._cache.currsize)

    def __len__(self) -> int:
        with self._lock:
            return len(self._cache)

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()
            self.hits = self.misses = self.shared = self.prewarmed = 0

    # ---- rendering

    def render(self, data: ChartData, theme: str = "light") -> bytes:
        """The chart, drawn in the calling thread on a miss (imports matplotlib here)."""
        key = self.cache_key(data, check_theme(theme))
        png = self._lookup(key)
        if png is None:
            with self._lock:
                self.misses += 1
            png = chart_pool.render_here(data, theme)
            self._store(key, png)
        return png

    async def render_async(self, data: ChartData, theme: str = "light") -> bytes:
        """The chart for a request: hits answer on the event loop; a miss renders in a worker process (or
        joins the render of the same chart another request started)."""
        return await self._get(data, theme, counted=True)

    async def ensure(self, data: ChartData, theme: str = "light") -> bytes:
        """The chart, rendered only if it isn't cached, without counting a hit or a miss: for filling the
        cache ahead of requests (e.g. after each data refresh)."""
        return await self._get(data, theme, counted=False)

    async def prewarm(self, items: Iterable[tuple[ChartData, str]]) -> int:
        """`ensure` each (chart data, theme), one at a time so requests keep the other workers; returns how
        many were rendered."""
        before = self.prewarmed
        for data, theme in items:
            await self.ensure(data, theme)
        return self.prewarmed - before

    async def _get(self, data: ChartData, theme: str, counted: bool) -> bytes:
        key = self.cache_key(data, check_theme(theme))
        png = self._lookup(key, counted)
        if png is not None:
            return png
        loop = asyncio.get_running_loop()
        with self._lock:
            task = self._inflight.get(key)
            if task is not None and task.get_loop() is loop and not task.done():
                if counted:
                    self.shared += 1
            else:
                if counted:
                    self.misses += 1
                else:
                    self.prewarmed += 1
                task = loop.create_task(self._render_and_store(key, data, theme))
                self._inflight[key] = task
                task.add_done_callback(partial(self._forget, key))
        # A waiter that is cancelled (a user's timeout) leaves the render to finish for the others and the cache.
        return await asyncio.shield(task)

    def _forget(self, key: Key, task: asyncio.Task[bytes]) -> None:
        with self._lock:
            if self._inflight.get(key) is task:
                del self._inflight[key]
        if not task.cancelled():
            task.exception()  # retrieved here too, so a render that failed after its waiters left isn't logged

    async def _render_and_store(self, key: Key, data: ChartData, theme: str) -> bytes:
        if self.pool is None:
            png = await asyncio.to_thread(chart_pool.render_here, data, theme)
        else:
            png = await self.pool.render(data, theme)
        self._store(key, png)
        return png

    # ---- workers

    async def start_workers(self) -> None:
        """Start the render workers now (a server, at start) rather than with the first chart, which would
        otherwise wait for them."""
        if self.pool is not None and not self.pool.running:
            await asyncio.to_thread(self.pool._start)

    def worker_pids(self) -> list[int]:
        return self.pool.worker_pids() if self.pool is not None else []

    def close(self) -> None:
        """Stop the render workers (blocks until a render in progress finishes; queued ones move to threads).
        The cache stays; a later miss starts the workers again."""
        if self.pool is not None:
            self.pool.close()

    async def aclose(self) -> None:
        """`close()` without blocking the event loop."""
        await asyncio.to_thread(self.close)
