"""What a chat receives for stored alerts: the text from `bot.render`, and the alert's chart.

A chart is rendered once per alert in this process (concurrent senders await the same render) and reused
for every recipient; the delivery worker then passes the platform's media handle on, so it is also
uploaded only once.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from typing import TYPE_CHECKING

import pandas as pd

from bot.alerts.payload import event_from_payload, params_of
from bot.alerts.replay import AssetResolver, resolve_pair
from bot.alerts.rules import AlertEvent, RuleParams
from bot.analysis import PairAnalyzer
from bot.assets import find_asset
from bot.render import text
from bot.reply import Reply
from bot.store.alerts_repo import StoredAlert
from bot.windows import Window

if TYPE_CHECKING:
    from bot.render.charts import ChartRenderer

log = logging.getLogger(__name__)
CHART_CACHE = 16


def event_of(alert: StoredAlert) -> tuple[AlertEvent, RuleParams]:
    return event_from_payload(alert.kind, alert.as_of, alert.payload), params_of(alert.key)


class AlertContent:
    def __init__(
        self,
        analyzer: PairAnalyzer | None = None,
        charts: ChartRenderer | None = None,
        *,
        theme: str = "light",
        resolve: AssetResolver = find_asset,
    ) -> None:
        self.analyzer = analyzer
        self.charts = charts
        self.theme = theme
        self._resolve = resolve
        self._renders: OrderedDict[int, asyncio.Task[bytes | None]] = OrderedDict()
        self._replies: OrderedDict[int, Reply] = OrderedDict()
        self.rendered = 0  # charts actually drawn (a figure for tests and benchmarks)

    async def reply(self, alert: StoredAlert) -> Reply:
        """The alert's message (the same object for every recipient: copy it before changing it)."""
        cached = self._replies.get(alert.id)
        if cached is not None:
            return cached
        event, params = event_of(alert)
        fields = text.alert_fields(event, params)
        reply = Reply(
            text=fields["text"],
            chart=await self.chart(alert),
            chart_name=f"{params.asset}-{params.benchmark}-{alert.kind}-{alert.as_of:%Y%m%d}.png",
            data={"alert_id": alert.id, **fields},
        )
        self._replies[alert.id] = reply
        while len(self._replies) > CHART_CACHE:
            self._replies.popitem(last=False)
        return reply

    async def bundle(self, alerts: list[StoredAlert]) -> Reply:
        """Held alerts of one chat in one message (text only)."""
        pairs = [event_of(alert) for alert in alerts]
        return Reply(
            text=text.digest_text(pairs),
            data={"alerts": [{"alert_id": a.id, **text.alert_fields(e, p)} for a, (e, p) in zip(alerts, pairs,
                                                                                                  strict=True)]},
        )

    async def chart(self, alert: StoredAlert) -> bytes | None:
        if self.analyzer is None or self.charts is None:
            return None
        task = self._renders.get(alert.id)
        if task is None:
            task = asyncio.ensure_future(self._render(alert))
            self._renders[alert.id] = task
            while len(self._renders) > CHART_CACHE:
                self._renders.popitem(last=False)
        return await asyncio.shield(task)

    async def _render(self, alert: StoredAlert) -> bytes | None:
        assert self.analyzer is not None and self.charts is not None
        params = params_of(alert.key)
        try:
            asset, benchmark = resolve_pair(params, self._resolve)
            result = await asyncio.to_thread(
                self.analyzer.correlation, asset, benchmark, Window(params.window_days), pd.Timestamp(alert.as_of)
            )
            data = await asyncio.to_thread(self.analyzer.chart_data, result)
            png = await self.charts.render_async(data, self.theme)
        except Exception:
            log.exception("alerts: no chart for alert %s (%s)", alert.id, params.pair)
            return None
        self.rendered += 1
        return png
