"""What a chat receives for alerts: the text (bot.render.text) and the alert's chart.

A pair's alert gets the pair's chart as of the alert's date; the weekly scan digest (a universe-wide kind)
gets the correlation matrix of /matrix at the same window and date (bot/render/heatmap.py).

A chart is rendered once per alert in this process (concurrent senders await the same render) and reused
for every recipient; the delivery worker then passes the platform's media handle on, so it is also
uploaded only once.
"""

from __future__ import annotations

import asyncio
import logging

import pandas as pd
from cachetools import LRUCache

from bot.alerts.kinds import universe_wide
from bot.alerts.replay import AssetResolver, resolve_pair
from bot.alerts.rules import FiredAlert
from bot.analysis.analyzer import PairAnalyzer
from bot.analysis.scan import UniverseScanner
from bot.assets import find_asset
from bot.ports.reply import Reply
from bot.render import alert_text
from bot.render.chart_cache import ChartRenderer
from bot.windows import Window

log = logging.getLogger(__name__)
CACHED_ALERTS = 16


class AlertContent:
    """`bot.alerts.delivery.AlertMessages`: replies for fired alerts, with a chart when it can draw one."""

    def __init__(
        self,
        analyzer: PairAnalyzer | None = None,
        charts: ChartRenderer | None = None,
        *,
        scanner: UniverseScanner | None = None,
        theme: str = "light",
        resolve: AssetResolver = find_asset,
    ) -> None:
        self.analyzer = analyzer
        self.scanner = scanner if scanner is not None or analyzer is None else UniverseScanner(analyzer)
        self.charts = charts
        self.theme = theme
        self._resolve = resolve
        self._renders: LRUCache[int, asyncio.Task[bytes | None]] = LRUCache(CACHED_ALERTS)
        self._replies: LRUCache[int, Reply] = LRUCache(CACHED_ALERTS)
        self.rendered = 0  # charts actually drawn (a figure for tests and benchmarks)

    async def reply(self, alert: FiredAlert) -> Reply:
        """The alert's message (the same object for every recipient: copy it before changing it)."""
        cached = self._replies.get(alert.id)
        if cached is not None:
            return cached
        event, params = alert.event, alert.params
        fields = alert_text.alert_fields(event, params)
        name = (f"{event.kind}-{Window(params.window_days).label}" if universe_wide(event.kind)
                else f"{params.asset}-{params.benchmark}-{event.kind}")
        reply = Reply(
            text=fields["text"],
            chart=await self.chart(alert),
            chart_name=f"{name}-{event.as_of:%Y%m%d}.png",
            data={"alert_id": alert.id, **fields},
        )
        self._replies[alert.id] = reply
        return reply

    async def bundle(self, alerts: list[FiredAlert]) -> Reply:
        """Held alerts of one chat in one message (text only)."""
        return Reply(
            text=alert_text.digest_text([(a.event, a.params) for a in alerts]),
            data={"alerts": [{"alert_id": a.id, **alert_text.alert_fields(a.event, a.params)} for a in alerts]},
        )

    async def chart(self, alert: FiredAlert) -> bytes | None:
        if self.analyzer is None or (self.charts is None and not universe_wide(alert.event.kind)):
            return None
        task = self._renders.get(alert.id)
        if task is None:
            task = asyncio.ensure_future(self._render(alert))
            self._renders[alert.id] = task
        return await asyncio.shield(task)

    async def _render(self, alert: FiredAlert) -> bytes | None:
        if universe_wide(alert.event.kind):
            return await self._matrix(alert)
        assert self.analyzer is not None and self.charts is not None
        params = alert.params
        try:
            asset, benchmark = resolve_pair(params, self._resolve)
            result = await asyncio.to_thread(
                self.analyzer.correlation, asset, benchmark, Window(params.window_days), pd.Timestamp(alert.event.as_of)
            )
            data = await asyncio.to_thread(self.analyzer.chart_data, result)
            png = await self.charts.render_async(data, self.theme)
        except Exception:
            log.exception("alerts: no chart for alert %s (%s)", alert.id, params.pair)
            return None
        self.rendered += 1
        return png

    async def _matrix(self, alert: FiredAlert) -> bytes | None:
        """The /matrix heatmap of the digest's tickers at its window and date (what the engine checked)."""
        from bot.render.heatmap import render_matrix  # matplotlib: only when a digest is drawn

        assert self.scanner is not None
        symbols = alert.event.detail.get("matrix")
        assets = [a for a in map(self._resolve, symbols) if a is not None] if symbols else None
        try:
            matrix = await asyncio.to_thread(self.scanner.matrix, Window(alert.params.window_days), assets,
                                             alert.event.as_of.date())
            png = await asyncio.to_thread(render_matrix, matrix, self.theme)
        except Exception:
            log.exception("alerts: no matrix for alert %s (%s)", alert.id, alert.event.kind)
            return None
        self.rendered += 1
        return png
