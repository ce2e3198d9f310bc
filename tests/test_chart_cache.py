"""The chart cache: bounded in bytes, `ensure`/`prewarm` for filling it ahead of requests, one render per key
for concurrent requests (renders faked here, in threads; real renders in worker processes are in
test_chart_pool.py)."""

from __future__ import annotations

import asyncio
import dataclasses
import threading

import pandas as pd
import pytest

from bot.analysis.results import ChartData
from bot.render import charts
from bot.render.chart_cache import DEFAULT_MAX_BYTES, ChartRenderer
from tests.test_charts import synthetic_chart_data


def day(n: int) -> ChartData:
    base = synthetic_chart_data()
    return dataclasses.replace(base, as_of=base.as_of - pd.Timedelta(days=n))


@pytest.fixture
def renders(monkeypatch: pytest.MonkeyPatch) -> list[tuple[pd.Timestamp, str]]:
    """Fake renders of 100 bytes, recorded."""
    calls: list[tuple[pd.Timestamp, str]] = []

    def fake(data: ChartData, theme: str) -> bytes:
        calls.append((data.as_of, theme))
        threading.Event().wait(0.02)  # long enough for concurrent requests to overlap
        return f"{data.as_of:%Y%m%d}{theme:>5}".encode().ljust(100, b".")

    monkeypatch.setattr(charts, "render_pair_chart", fake)
    return calls


def test_the_default_bound_is_in_bytes() -> None:
    renderer = ChartRenderer(workers=0)
    assert renderer.max_bytes == DEFAULT_MAX_BYTES == 24 * 1024 * 1024
    assert renderer.max_entries is None


async def test_the_byte_bound_evicts_the_least_recently_used(renders: list) -> None:
    renderer = ChartRenderer(max_bytes=250, workers=0)  # room for two 100-byte charts
    await renderer.render_async(day(0))
    await renderer.render_async(day(1))
    await renderer.render_async(day(0))  # day 0 is now the most recent
    assert renderer.size_bytes == 200 and len(renderer) == 2
    await renderer.render_async(day(2))  # evicts day 1
    assert renderer.size_bytes == 200 and len(renderer) == 2
    assert renderer.cached(day(0)) and renderer.cached(day(2)) and not renderer.cached(day(1))
    assert len(renders) == 3
    await renderer.render_async(day(1))
    assert len(renders) == 4 and (renderer.hits, renderer.misses) == (1, 4)


async def test_a_chart_larger_than_the_cache_is_served_not_kept(renders: list) -> None:
    renderer = ChartRenderer(max_bytes=50, workers=0)
    png = await renderer.render_async(day(0))
    assert len(png) == 100 and len(renderer) == 0 and renderer.size_bytes == 0


def test_the_sync_path_has_the_same_bound(renders: list) -> None:
    renderer = ChartRenderer(max_bytes=250, workers=0)
    for n in range(4):
        renderer.render(day(n), "dark")
    assert len(renderer) == 2 and renderer.size_bytes == 200
    assert renderer.cached(day(3), "dark") and not renderer.cached(day(0), "dark")


async def test_concurrent_identical_requests_render_once(renders: list) -> None:
    renderer = ChartRenderer(workers=0)
    pngs = await asyncio.gather(*(renderer.render_async(day(0), "dark") for _ in range(5)))
    assert len(set(pngs)) == 1 and len(renders) == 1
    assert (renderer.misses, renderer.shared, renderer.hits) == (1, 4, 0)


async def test_a_failed_render_reaches_every_waiter_and_is_not_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(data: ChartData, theme: str) -> bytes:
        threading.Event().wait(0.02)
        raise RuntimeError("no chart today")

    monkeypatch.setattr(charts, "render_pair_chart", broken)
    renderer = ChartRenderer(workers=0)
    results = await asyncio.gather(*(renderer.render_async(day(0)) for _ in range(3)), return_exceptions=True)
    assert all(isinstance(result, RuntimeError) for result in results)
    assert len(renderer) == 0


async def test_ensure_renders_only_on_a_miss_and_counts_no_request(renders: list) -> None:
    renderer = ChartRenderer(workers=0)
    first = await renderer.ensure(day(0), "light")
    again = await renderer.ensure(day(0), "light")
    assert first == again and len(renders) == 1
    assert (renderer.hits, renderer.misses, renderer.prewarmed) == (0, 0, 1)
    assert await renderer.render_async(day(0), "light") == first
    assert (renderer.hits, renderer.misses) == (1, 0)


async def test_prewarm_fills_the_cache_and_says_how_many_it_drew(renders: list) -> None:
    renderer = ChartRenderer(workers=0)
    await renderer.render_async(day(0), "dark")
    items = [(day(n), theme) for n in range(3) for theme in ("light", "dark")]
    assert await renderer.prewarm(items) == 5
    assert await renderer.prewarm(items) == 0
    assert all(renderer.cached(data, theme) for data, theme in items)
    with pytest.raises(ValueError, match="theme"):
        await renderer.prewarm([(day(0), "sepia")])


def test_close_without_workers_is_harmless() -> None:
    renderer = ChartRenderer(workers=0)
    renderer.close()
    assert renderer.worker_pids() == []
    idle = ChartRenderer()
    idle.close()  # never started
    assert idle.worker_pids() == []
