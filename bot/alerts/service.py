"""`services.alerts`: the engine, the outbox worker and the scheduler of a running bot, plus the reads that
commands need (/status, /history, /preview). It returns data; bot/render words it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from datetime import date, timedelta

import pandas as pd

from bot.alerts.delivery import DEFAULT_LEASE, AlertMessages, DeliveryWorker
from bot.alerts.engine import AlertEngine, Failure, RunReport, failures_in
from bot.alerts.payload import fired
from bot.alerts.preview import Preview, preview
from bot.alerts.reports import AlertStatus, EvaluatedSession, FailedEvaluation, HistoryItem, WaitingSession
from bot.alerts.scheduler import AlertScheduler
from bot.analysis.analyzer import PairAnalyzer
from bot.analysis.scan import UniverseScanner
from bot.assets import Asset, find_asset
from bot.clock import utcnow
from bot.ports.notifier import Notifier
from bot.store import Chat, Store
from bot.store.alert_records import Evaluation, InstanceKey
from bot.store.alerts_repo import AlertsRepo
from bot.store.retention import Pruned, RetentionRepo
from bot.telemetry.metrics import Metrics

log = logging.getLogger(__name__)
STOP_GRACE = 3.0  # seconds sends under way get to finish at shutdown



class AlertService:
    def __init__(
        self,
        store: Store,
        analyzer: PairAnalyzer,
        messages: AlertMessages,
        *,
        delay: timedelta = timedelta(minutes=20),
        lease: timedelta = DEFAULT_LEASE,
        metrics: Metrics | None = None,
        retention: timedelta | None = None,
        scanner: UniverseScanner | None = None,
    ) -> None:
        self.store = store
        self.retention = retention
        self.metrics = metrics
        self.analyzer = analyzer
        self.messages = messages
        self.repo = AlertsRepo.for_store(store)
        self.engine = AlertEngine(store, analyzer, repo=self.repo, scanner=scanner)
        self.delay = delay
        self.lease = lease
        self.worker: DeliveryWorker | None = None
        self.scheduler: AlertScheduler | None = None
        self._worker_task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------ running

    def worker_for(self, notifiers: Mapping[str, Notifier]) -> DeliveryWorker:
        return DeliveryWorker(self.store, notifiers, self.messages, repo=self.repo, lease=self.lease,
                              metrics=self.metrics)

    async def evaluate(self, until: date | None = None) -> RunReport:
        report = await self.engine.run(until=until)
        if self.metrics is not None:
            for kind, count in report.fired.items():
                self.metrics.alerts.labels(kind).inc(count)
        if self.worker is not None and report.pending:
            self.worker.kick()
        return report

    def start(self, notifiers: Mapping[str, Notifier], *, scheduling: bool = True) -> None:
        """Start delivering through `notifiers` (every process) and, with `scheduling`, evaluating on schedule
        (the leader only: `start_scheduler` / `stop_scheduler` follow leadership)."""
        self.worker = self.worker_for(notifiers)
        self._worker_task = asyncio.create_task(self.worker.run(), name="alert-delivery")
        log.info("alerts: delivering on %s", ", ".join(sorted(notifiers)) or "no platform")
        if scheduling:
            self.start_scheduler()

    def start_scheduler(self) -> None:
        if self.scheduler is None:
            self.scheduler = AlertScheduler(self.evaluate, delay=self.delay,
                                            housekeeping=self.prune if self.retention else None)
            self.scheduler.start()  # with a catch-up run: sessions missed meanwhile are evaluated once

    async def stop_scheduler(self) -> None:
        if self.scheduler is not None:
            await self.scheduler.stop()
            self.scheduler = None

    async def stop(self, grace: float = STOP_GRACE) -> None:
        """Stop the scheduler; stop delivering: messages under way get `grace` seconds to finish, claimed ones
        not yet sent are given back (not left to their lease)."""
        await self.stop_scheduler()
        if self._worker_task is not None and self.worker is not None:
            self.worker.stop()
            try:
                await asyncio.wait_for(asyncio.shield(self._worker_task), grace)
            except TimeoutError:
                self._worker_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._worker_task
            self._worker_task = None
            given_back = sorted(set(self.worker.given_back))
            if given_back:
                shown = ", ".join(map(str, given_back[:20])) + (", …" if len(given_back) > 20 else "")
                log.info("delivery stopped: gave back %d claimed deliveries not yet sent (%s); another process "
                         "or the next start sends them", len(given_back), shown)
            else:
                log.info("delivery stopped: nothing claimed was left unsent")

    async def prune(self) -> Pruned:
        """Delete alerts, deliveries and evaluation notes older than the retention (never a pending delivery)."""
        assert self.retention is not None
        pruned = await RetentionRepo(self.store.db).prune(utcnow() - self.retention)
        if pruned.alerts or pruned.evaluations:
            log.info("retention: pruned %d alerts, %d deliveries and %d evaluation notes older than %d days",
                     pruned.alerts, pruned.deliveries, pruned.evaluations, self.retention.days)
        return pruned

    # ------------------------------------------------------------ reads for commands

    async def status(self) -> AlertStatus:
        evaluations = await self.repo.evaluations(limit=50)
        last: dict[str, Evaluation] = {}
        for row in evaluations:  # newest session first
            if row.status == "evaluated" and row.calendar not in last:
                last[row.calendar] = row
        evaluated = [EvaluatedSession(r.calendar, pd.Timestamp(r.session), r.instances, r.alerts, r.updated_at)
                     for r in sorted(last.values(), key=lambda r: r.calendar, reverse=True)]
        waiting = []
        failures: list[Failure] = []
        for row in evaluations:
            failed, reasons = failures_in(row.calendar, pd.Timestamp(row.session), row.detail)
            failures += failed
            newer = row.calendar not in last or row.session > last[row.calendar].session
            if row.status == "stale" and newer and (reasons is not None or not failed):
                waiting.append(WaitingSession(row.calendar, pd.Timestamp(row.session), reasons))
        counts = await self.repo.delivery_counts(utcnow())
        return AlertStatus(evaluated, waiting, counts.due, counts.held, await self._unresolved(failures))

    async def _unresolved(self, failures: list[Failure]) -> list[FailedEvaluation]:
        """The newest failure per pair and calendar, while an instance of that pair is not yet evaluated
        through its session (a later run that evaluates it clears it)."""
        if not failures:
            return []
        behind: dict[tuple[str, str], list[date | None]] = {}
        for instance in await self.repo.instances():
            pair = f"{instance.key.asset}:{instance.key.benchmark}"
            behind.setdefault((instance.calendar, pair), []).append(instance.evaluated_through)
        newest: dict[tuple[str, str], Failure] = {}
        for failure in failures:  # newest session first
            newest.setdefault((failure.calendar, failure.pair), failure)
        return [FailedEvaluation(f.calendar, f.session, f.pair, f.error) for key, f in newest.items()
                if any(done is None or pd.Timestamp(done) < f.session for done in behind.get(key, []))]

    async def history(self, chat: Chat, limit: int = 10) -> list[HistoryItem]:
        entries = await self.repo.history(chat.id, limit)
        return [HistoryItem(fired(e.alert), e.status, e.not_before, e.sent_at, e.error) for e in entries]

    async def preview(self, wanted: list[tuple[InstanceKey, frozenset[str]]]) -> Preview:
        await self.analyzer.market.refresh(_assets(wanted))
        return await asyncio.to_thread(preview, self.analyzer, wanted)


def _assets(wanted: list[tuple[InstanceKey, frozenset[str]]]) -> list[Asset]:
    found = {find_asset(s) for key, _ in wanted for s in (key.asset, key.benchmark)}
    return sorted((a for a in found if a is not None), key=lambda a: a.symbol)
