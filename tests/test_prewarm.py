"""Prewarm: the charts people ask for most are in the cache before anyone asks."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.alerts.kinds import DEFAULT_KINDS
from bot.app import App
from bot.config import load_settings
from bot.server.prewarm import keep_warm, prewarm_once, watched
from handlers.commands import dispatch


def _app(tmp_path: Path) -> App:
    return App(load_settings(market_data="snapshot", database_url=f"sqlite:///{tmp_path}/p.sqlite3"))


async def test_the_default_pair_at_each_button_window_and_every_subscription_are_prewarmed(tmp_path: Path):
    app = _app(tmp_path)
    try:
        chat = await app.store.upsert_chat("telegram", "5", "private", "Trader")
        await app.store.subscribe(chat, "BTC", "SPY", window_days=60, kinds=DEFAULT_KINDS)
        await app.store.subscribe(chat, "ETH", "RUT", window_days=90, kinds=DEFAULT_KINDS)  # already watched
        items = [(w.asset.symbol, w.benchmark.symbol, w.window.label) for w in await watched(app.services)]
        assert items == [("ETH", "RUT", "30d"), ("ETH", "RUT", "90d"), ("ETH", "RUT", "1y"), ("BTC", "SPY", "60d")]
        assert await prewarm_once(app.services) == 4
        assert await prewarm_once(app.services) == 0  # nothing new: every chart is a cache hit
        charts = app.services.charts
        hits, misses = charts.hits, charts.misses
        for text in ("/corr 90d", "/corr 30d", "/chart 1y", "/corr 60d BTC SPY"):
            reply = await dispatch(app.services, text)
            assert reply.ok and reply.chart is not None, text
        assert (charts.hits - hits, charts.misses - misses) == (4, 0)
        assert charts.pool is None  # not a server: one-off renders stay in this process
    finally:
        await app.close()


async def test_keep_warm_runs_at_once_and_stops_when_asked(tmp_path: Path):
    app = _app(tmp_path)
    stopping = asyncio.Event()
    try:
        task = asyncio.create_task(keep_warm(app.services, stopping, every=3600))
        for _ in range(600):
            if app.services.charts.prewarmed == 3:
                break
            await asyncio.sleep(0.05)
        assert app.services.charts.prewarmed == 3
        stopping.set()
        await asyncio.wait_for(task, 10)
    finally:
        await app.close()


async def test_a_users_first_request_after_start_is_answered_before_prewarms_batch(tmp_path: Path):
    """Right after a deploy prewarm and the first users compete for the same cores; prewarm yields: it starts no
    chart while a command is being answered."""
    app = _app(tmp_path)
    stopping = asyncio.Event()
    try:
        warming = asyncio.create_task(keep_warm(app.services, stopping, every=3600))
        reply = await dispatch(app.services, "/corr 60d BTC SPY")  # a cache miss, asked as the server starts
        prewarmed_before_the_answer = app.services.charts.prewarmed
        for _ in range(600):
            if app.services.charts.prewarmed == 3:
                break
            await asyncio.sleep(0.05)
        stopping.set()
        await asyncio.wait_for(warming, 10)
    finally:
        await app.close()
    assert reply.ok and reply.chart is not None
    assert prewarmed_before_the_answer == 0  # today: prewarm's charts were drawn first
    assert app.services.charts.prewarmed == 3  # and the batch still went on afterwards
