"""`services.alerts`: the engine, the outbox worker and the scheduler of a running bot, plus the reads that
commands need (/status, /history, /preview)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd

from bot.alerts.content import AlertContent, event_of
from bot.alerts.engine import AlertEngine, RunReport
from bot.alerts.preview import Preview, preview
from bot.analysis import PairAnalyzer
from bot.delivery import DeliveryWorker
from bot.notifier import Notifier
from bot.ratelimit import PlatformLimiter
from bot.render import text
from bot.scheduler import AlertScheduler
from bot.store.alerts_repo import AlertsRepo, InstanceKey

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


class AlertService:
    def __init__(
        self,
        store: Any,
        analyzer: PairAnalyzer,
        charts: Any = None,
        *,
        delay: timedelta = timedelta(minutes=20),
        lease: timedelta = timedelta(seconds=120),
    ) -> None:
        self.store = store
        self.analyzer = analyzer
        self.repo = AlertsRepo.for_store(store)
        self.engine = AlertEngine(store, analyzer, repo=self.repo)
        self.content = AlertContent(analyzer, charts)
        self.delay = delay
        self.lease = lease
        self.worker: DeliveryWorker | None = None
        self.scheduler: AlertScheduler | None = None
        self._worker_task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------ running

    def worker_for(self, notifiers: Mapping[str, Notifier], limiters: Mapping[str, PlatformLimiter]) -> DeliveryWorker:
        return DeliveryWorker(self.store, notifiers, limiters, content=self.content, repo=self.repo, lease=self.lease)

    async def evaluate(self, until: date | None = None) -> RunReport:
        report = await self.engine.run(until=until)
        if self.worker is not None and report.pending:
            self.worker.kick()
        return report

    def start(self, notifiers: Mapping[str, Notifier], limiters: Mapping[str, PlatformLimiter]) -> None:
        """Start delivering through `notifiers` and evaluating on schedule (on the running loop)."""
        self.worker = self.worker_for(notifiers, limiters)
        self._worker_task = asyncio.create_task(self.worker.run(), name="alert-delivery")
        self.scheduler = AlertScheduler(self.evaluate, delay=self.delay)
        self.scheduler.start()
        log.info("alerts: delivering on %s", ", ".join(sorted(notifiers)) or "no platform")

    async def stop(self) -> None:
        if self.scheduler is not None:
            self.scheduler.stop()
            self.scheduler = None
        if self._worker_task is not None:
            self._worker_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker_task
            self._worker_task = None

    # ------------------------------------------------------------ reads for commands

    async def status_lines(self) -> list[str]:
        """Last evaluated session per calendar, sessions refused for stale data, the outbox."""
        evaluations = await self.repo.evaluations(limit=50)
        last: dict[str, Any] = {}
        for row in evaluations:  # newest session first
            if row.status == "evaluated" and row.calendar not in last:
                last[row.calendar] = row
        evaluated = [(r.calendar, pd.Timestamp(r.session), r.instances, r.alerts, r.updated_at)
                     for r in sorted(last.values(), key=lambda r: r.calendar, reverse=True)]
        waiting = [(r.calendar, pd.Timestamp(r.session), r.detail) for r in evaluations
                   if r.status == "stale" and (r.calendar not in last or r.session > last[r.calendar].session)]
        counts = await self.repo.delivery_counts(utcnow())
        return text.evaluation_status_lines(evaluated, waiting, counts.due, counts.held)

    async def history_text(self, chat: Any, limit: int = 10) -> str:
        entries = await self.repo.history(chat.id, limit)
        now = utcnow()
        rows = []
        for entry in entries:
            event, params = event_of(entry.alert)
            status = text.history_status(entry.status, entry.not_before, entry.sent_at, entry.error, now,
                                         chat.timezone)
            rows.append((event, params, status))
        return text.history_text(rows, limit)

    async def preview(self, wanted: list[tuple[InstanceKey, frozenset[str]]]) -> Preview:
        await self.analyzer.market.refresh(_assets(wanted))
        return await asyncio.to_thread(preview, self.analyzer, wanted)


def _assets(wanted: list[tuple[InstanceKey, frozenset[str]]]) -> list[Any]:
    from bot.assets import find_asset

    found = {find_asset(s) for key, _ in wanted for s in (key.asset, key.benchmark)}
    return sorted((a for a in found if a is not None), key=lambda a: a.symbol)
