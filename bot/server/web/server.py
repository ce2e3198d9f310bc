"""The bot's own HTTP server (aiohttp, on the bot's event loop), when HTTP_PORT is set:

    /healthz             200 {"status": "ok", …} or 503 {"status": "fail", "reasons": […]}
    /metrics             Prometheus text
    /                    the status page: watched pairs, charts, data freshness, the last 50 alerts
    /pairs/ETH-RUT       one pair: its windows, chart and alert history
    /charts/ETH-RUT.png  the pair's chart at the default window (from the chart cache)

Read-only: nothing a visitor sends changes anything, and every value on a page is escaped (Jinja2 autoescape).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import jinja2
from aiohttp import web

from bot.analysis.errors import AnalysisError
from bot.market.errors import NoData
from bot.ports.services import Services
from bot.server.prewarm import watched_pairs
from bot.server.web import pages
from bot.server.web.health import Health
from bot.telemetry.metrics import CONTENT_TYPE, Metrics

log = logging.getLogger(__name__)
TEMPLATES = Path(__file__).resolve().parent / "templates"
PAGE_TIMEOUT = 20.0  # seconds a page may take (first computations of a pair)

HealthCheck = Callable[[], Awaitable[Health]]


class WebServer:
    def __init__(self, services: Services, metrics: Metrics, health: HealthCheck, *, host: str, port: int):
        self.services = services
        self.metrics = metrics
        self.health = health
        self.host, self.port = host, port
        self.templates = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                                            undefined=jinja2.StrictUndefined)
        self._runner: web.AppRunner | None = None

    def application(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/", self._index)
        app.router.add_get("/pairs/{slug}", self._pair)
        app.router.add_get("/charts/{slug}.png", self._chart)
        return app

    async def start(self) -> None:
        self._runner = web.AppRunner(self.application(), access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        if self.port == 0:  # tests ask for any free port
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # started: it has sockets
        log.info("http: serving /healthz, /metrics and the status page on %s:%d", self.host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ------------------------------------------------------------ routes

    async def _healthz(self, request: web.Request) -> web.Response:
        health = await self.health()
        return web.json_response(health.as_json(), status=200 if health.status == "ok" else 503)

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=self.metrics.render(), headers={"Content-Type": CONTENT_TYPE})

    async def _index(self, request: web.Request) -> web.Response:
        pairs = await watched_pairs(self.services)
        views = await asyncio.wait_for(asyncio.gather(*(pages.pair_view(self.services, a, b) for a, b in pairs)),
                                       PAGE_TIMEOUT)
        return self._page("index.html", pairs=views, windows=self.services.settings.regime_windows,
                          main_window=self.services.settings.default_window,
                          freshness=await pages.freshness(self.services, pairs),
                          alerts=await pages.recent_alerts(self.services, 50))

    async def _pair(self, request: web.Request) -> web.Response:
        pair = pages.pair_from_slug(request.match_info["slug"])
        if pair is None:
            raise web.HTTPNotFound(text="No such pair. Pairs look like /pairs/ETH-RUT.")
        view = await asyncio.wait_for(pages.pair_view(self.services, *pair), PAGE_TIMEOUT)
        alerts = await pages.recent_alerts(self.services, 50, (pair[0].symbol, pair[1].symbol))
        return self._page("pair.html", pair=view, alerts=alerts)

    async def _chart(self, request: web.Request) -> web.Response:
        pair = pages.pair_from_slug(request.match_info["slug"])
        if pair is None:
            raise web.HTTPNotFound(text="No such pair.")
        from bot.windows import parse_window

        analysis = self.services.analysis
        try:
            result = await asyncio.to_thread(analysis.correlation, *pair,
                                             parse_window(self.services.settings.default_window))
            data = await asyncio.to_thread(analysis.chart_data, result)
        except (AnalysisError, NoData) as exc:
            raise web.HTTPNotFound(text=str(exc)) from None
        png = await self.services.charts.render_async(data, "light")
        return web.Response(body=png, content_type="image/png", headers={"Cache-Control": "max-age=300"})

    def _page(self, template: str, **values: object) -> web.Response:
        generated = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
        html = self.templates.get_template(template).render(generated=generated, **values)
        return web.Response(text=html, content_type="text/html")
