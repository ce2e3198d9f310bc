"""The HTTP side of a running bot: /healthz, /metrics, the status page and a pair's page, on the bundled snapshot,
through a real aiohttp server; nothing a visitor or a user sends reaches a page unescaped."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.alerts.kinds import DEFAULT_KINDS
from bot.app import App
from bot.assets import Asset, AssetKind, register_asset, unregister_asset
from bot.config import load_settings
from bot.server.runtime import Runtime
from handlers.console import CONSOLE_CHAT, ConsoleSurface
from handlers.runner import CommandRunner, Incoming
from tests.web_support import serving


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[tuple[App, Runtime, str]]:
    async with serving(tmp_path) as served:
        yield served


async def test_healthz_metrics_and_pages(running, tmp_path: Path) -> None:
    app, _, base = running
    runner = CommandRunner(app.services, "console")
    await runner.message(Incoming("/corr 90d", CONSOLE_CHAT), ConsoleSurface(io.StringIO(), tmp_path / "charts"))
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/healthz") as response:
            health = await response.json()
        assert response.status == 200 and health["status"] == "ok" and health["leader"] is True
        assert health["database"] == "ok" and set(health["data"]) == {"ETH", "RUT"}
        async with http.get(f"{base}/metrics") as response:
            metrics = await response.text()
        assert 'decoupler_commands_total{command="corr",outcome="ok",platform="console"} 1.0' in metrics
        assert "decoupler_reply_seconds_bucket" in metrics and "decoupler_leader 1.0" in metrics
        async with http.get(f"{base}/") as response:
            page = await response.text()
        assert response.status == 200 and response.content_type == "text/html"
        assert "ETH vs RUT" in page and '<td class="num">0.57</td>' in page  # the current 90d correlation
        assert 'src="/charts/ETH-RUT.png"' in page and "Data freshness" in page
        async with http.get(f"{base}/pairs/ETH-RUT") as response:
            pair = await response.text()
        assert (response.status == 200 and "Ether vs small caps" in pair) or "ETH" in pair
        async with http.get(f"{base}/charts/ETH-RUT.png") as response:
            png = await response.read()
        assert response.status == 200 and response.content_type == "image/png" and png.startswith(b"\x89PNG")
        async with http.get(f"{base}/pairs/NOPE-RUT") as response:
            assert response.status == 404


async def test_nothing_reaches_a_page_unescaped(running) -> None:
    app, _, base = running
    hostile = Asset("XSS", "<script>alert('x')</script>", AssetKind.EQUITY, "NYSE", "XNYS", yahoo="XSS")
    register_asset(hostile)
    try:
        chat = await app.store.upsert_chat("telegram", "5", "private", "<img src=x onerror=alert(1)>")
        await app.store.subscribe(chat, "XSS", "RUT", window_days=90, kinds=DEFAULT_KINDS)
        async with aiohttp.ClientSession() as http:
            for path in ("/", "/pairs/XSS-RUT", "/pairs/%3Cscript%3E-RUT"):
                async with http.get(f"{base}{path}") as response:
                    page = await response.text()
                assert "<script>alert" not in page and "onerror=alert" not in page
    finally:
        unregister_asset("XSS")


async def test_a_database_that_is_down_or_a_blocked_loop_fails_the_health_check() -> None:
    broken = App(load_settings(market_data="snapshot", database_url="postgresql://bot:pw@127.0.0.1:1/none"))
    runtime = Runtime(broken, [])
    try:
        health = await runtime.health()
        assert health.status == "fail" and "refused the connection" in health.database
        assert health.as_json()["reasons"] == [health.database] and "pw@" not in str(health.as_json())
        runtime.loop_watch.limit = 0.2  # injectable: the test needn't block the loop for the real 5 s
        runtime.loop_watch.start()
        await asyncio.sleep(0.6)
        time.sleep(1.0)  # the event loop blocked, as a runaway computation would block it
        await asyncio.sleep(0.6)
        lagging = await runtime.health()
        assert any("the event loop fell" in reason for reason in lagging.reasons), lagging.reasons
    finally:
        await runtime.loop_watch.stop()
        await broken.close()


async def test_a_failing_price_source_is_counted_in_metrics(tmp_path: Path) -> None:
    app = App(load_settings(market_data="auto", database_url=f"sqlite:///{tmp_path}/m.sqlite3"))
    try:
        app.market.updater.on_source_error("binance")  # what the updater calls on each failed answer
        app.market.updater.on_source_error("binance")
        app.market.updater.on_source_error("yahoo")
        text = app.metrics.render().decode()
    finally:
        await app.close()
    assert 'decoupler_source_errors_total{source="binance"} 2.0' in text
    assert 'decoupler_source_errors_total{source="yahoo"} 1.0' in text
