"""The bot's own HTTP server (aiohttp, on the bot's event loop), when HTTP_PORT is set:

    /healthz             200 {"status": "ok", …} or 503 {"status": "fail", "reasons": […]}
    /metrics             Prometheus text
    /                    the status page: watched pairs, charts, data freshness, the last 50 alerts
    /pairs/ETH-RUT       one pair: its windows, chart and alert history
    /charts/ETH-RUT.png  the pair's chart at the default window (from the chart cache)
    /style.css           the pages' style (the Content-Security-Policy allows no inline style)

Read-only: nothing a visitor sends changes anything, and every value on a page is escaped (Jinja2 autoescape).
Only watched pairs (the default pair and the subscribed ones) have pages and charts, and their first
computations queue (`COLD_PAGES` at a time, one per pair however many ask), so a crowd of visitors can't make
the process compute — and keep in memory — every combination of assets. With the database down, the pages show
what the market data allows and say what is missing. Headers, timeouts and the connection cap: protection.py.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import jinja2
from aiohttp import web

from bot.analysis.errors import AnalysisError
from bot.assets import Asset, find_asset
from bot.market.errors import NoData
from bot.ports.services import Services
from bot.server.prewarm import watched_pairs
from bot.server.web import pages
from bot.server.web.health import Health
from bot.server.web.protection import BadRequestLog, CappedSite, add_headers
from bot.telemetry.metrics import CONTENT_TYPE, Metrics

log = logging.getLogger(__name__)
TEMPLATES = Path(__file__).resolve().parent / "templates"
PAGE_TIMEOUT = 20.0  # seconds a page may take (first computations of a pair, waiting its turn included)
COLD_PAGES = 1  # pairs computed at once for pages and charts (each is a peak of memory); more wait their turn

HealthCheck = Callable[[], Awaitable[Health]]


class WebServer:
    def __init__(self, services: Services, metrics: Metrics, health: HealthCheck, *, host: str, port: int,
                 timeout: float = 10.0, max_connections: int = 256):
        self.services = services
        self.metrics = metrics
        self.health = health
        self.host, self.port = host, port
        self.timeout = timeout  # seconds a connection has to send a complete request head (and may idle)
        self.max_connections = max_connections
        self.templates = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                                            undefined=jinja2.StrictUndefined)
        self._runner: web.AppRunner | None = None
        self.site: CappedSite | None = None
        self._cold = asyncio.Semaphore(COLD_PAGES)
        # Their own threads: the default executor's would each grow a malloc arena of their own (measured: the
        # peak under 200 cold pages is tens of MB lower on one thread of its own).
        self._computer = ThreadPoolExecutor(COLD_PAGES, thread_name_prefix="pages")
        self._computing: dict[tuple[str, str], asyncio.Task[pages.PairView]] = {}

    def application(self) -> web.Application:
        app = web.Application()
        app.on_response_prepare.append(add_headers)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/", self._index)
        app.router.add_get("/style.css", self._style)
        app.router.add_get("/pairs/{slug}", self._pair)
        app.router.add_get("/charts/{slug}.png", self._chart)
        return app

    async def start(self) -> None:
        self._runner = web.AppRunner(self.application(), access_log=None, handle_signals=False,
                                     keepalive_timeout=self.timeout, logger=BadRequestLog())
        await self._runner.setup()
        self.site = CappedSite(self._runner, self.host, self.port, max_connections=self.max_connections)
        await self.site.start()
        if self.port == 0:  # tests ask for any free port
            self.port = self.site.port
        log.info("http: serving /healthz, /metrics and the status page on %s:%d", self.host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        for task in self._computing.values():
            task.cancel()
        self._computer.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------ routes

    async def _healthz(self, request: web.Request) -> web.Response:
        health = await self.health()
        return web.json_response(health.as_json(), status=503 if health.status == "fail" else 200)

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=self.metrics.render(), headers={"Content-Type": CONTENT_TYPE})

    async def _style(self, request: web.Request) -> web.Response:
        return web.Response(text=(TEMPLATES / "style.css").read_text(encoding="utf-8"), content_type="text/css",
                            headers={"Cache-Control": "max-age=3600"})

    async def _index(self, request: web.Request) -> web.Response:
        pairs, problem = await self._watched_pairs()
        views = await asyncio.gather(*(self._view(a, b) for a, b in pairs))
        alerts, alerts_problem = await pages.from_database(pages.recent_alerts(self.services, 50), [], "alerts")
        return self._page("index.html", pairs=views, windows=self.services.settings.regime_windows,
                          main_window=self.services.settings.default_window,
                          freshness=await pages.freshness(self.services, pairs), alerts=alerts,
                          unavailable=pages.Unavailable(pairs=problem, alerts=alerts_problem))

    async def _pair(self, request: web.Request) -> web.Response:
        pair = await self._watched_pair(request.match_info["slug"])
        view = await self._view(*pair)
        alerts, problem = await pages.from_database(
            pages.recent_alerts(self.services, 50, (pair[0].symbol, pair[1].symbol)), [], "the alert history")
        return self._page("pair.html", pair=view, alerts=alerts, unavailable=pages.Unavailable(alerts=problem))

    async def _chart(self, request: web.Request) -> web.Response:
        pair = await self._watched_pair(request.match_info["slug"])
        from bot.windows import parse_window

        analysis = self.services.analysis
        try:
            async with self._cold:
                loop = asyncio.get_running_loop()
                result = await loop.run_in_executor(self._computer, analysis.correlation, *pair,
                                                    parse_window(self.services.settings.default_window))
                data = await loop.run_in_executor(self._computer, analysis.chart_data, result)
        except (AnalysisError, NoData) as exc:
            raise web.HTTPNotFound(text=str(exc)) from None
        png = await self.services.charts.render_async(data, "light")
        return web.Response(body=png, content_type="image/png", headers={"Cache-Control": "max-age=300"})

    # ------------------------------------------------------------ pairs

    async def _watched_pairs(self) -> tuple[list[tuple[Asset, Asset]], str | None]:
        """The watched pairs; with the database down, the default pair and why the others are missing."""
        first, _, second = self.services.settings.default_pair.partition(":")
        asset, benchmark = find_asset(first), find_asset(second)
        default = [(asset, benchmark)] if asset is not None and benchmark is not None else []
        return await pages.from_database(watched_pairs(self.services), default, "the watched pairs")

    async def _watched_pair(self, slug: str) -> tuple[Asset, Asset]:
        pair = pages.pair_from_slug(slug)
        if pair is None:
            raise web.HTTPNotFound(text="No such pair. Pairs look like /pairs/ETH-RUT.")
        watched, problem = await self._watched_pairs()
        if pair not in watched:
            if problem is not None:
                raise web.HTTPServiceUnavailable(text=f"Only the default pair can be shown right now ({problem}).")
            raise web.HTTPNotFound(text="That pair isn't watched here: the status page (/) lists the watched "
                                        "pairs; the bot's /corr command answers for any pair.")
        return pair

    async def _view(self, asset: Asset, benchmark: Asset) -> pages.PairView:
        """The pair's view, computed once however many ask at the same time, COLD_PAGES pairs at a time."""
        key = (asset.symbol, benchmark.symbol)
        task = self._computing.get(key)
        if task is None:
            task = asyncio.create_task(self._compute(asset, benchmark), name=f"page-{key[0]}-{key[1]}")
            self._computing[key] = task
            task.add_done_callback(lambda _: self._computing.pop(key, None))
        try:
            return await asyncio.wait_for(asyncio.shield(task), PAGE_TIMEOUT)
        except TimeoutError:  # it goes on computing for the next visitor
            raise web.HTTPServiceUnavailable(text="That page is still being computed; try it again in a minute.",
                                             headers={"Retry-After": "60"}) from None

    async def _compute(self, asset: Asset, benchmark: Asset) -> pages.PairView:
        async with self._cold:
            return await pages.pair_view(self.services, asset, benchmark, self._computer)

    def _page(self, template: str, **values: object) -> web.Response:
        generated = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
        html = self.templates.get_template(template).render(generated=generated, **values)
        return web.Response(text=html, content_type="text/html")
