"""The equity source down for a whole day, then back: the scheduled runs refuse the session while its data is
stale and retry at a bounded pace; once the source answers again the missed session is evaluated once, its
alerts fire once per rule instance, and each subscribed chat gets one message per fired alert — no flood.

Live market data (LiveMarketData with the real ccxt and yfinance clients) against the local fake exchanges and
Yahoo (tests/market/fakes.py), on a test clock. The alert scheduler (bot/alerts/scheduler.py) plans its jobs in
a paused APScheduler; `Timeline` fires them in order at their planned times on that clock, as APScheduler
would, and drains the outbox after each run, as the kicked delivery worker would.

The prices after the bundled snapshot are the fakes' seeded random walk; on Tuesday 2026-04-28 the rules fire a
regime change and a divergence for ETH:RUT over 90 days and a divergence over 30 days (the test checks this
against a replay of the same data, so it says so if the data or the rules change)."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime

import pandas as pd
import pytest
from apscheduler.job import Job
from apscheduler.triggers.date import DateTrigger

from bot.alerts.delivery import DeliveryWorker
from bot.alerts.engine import AlertEngine, RunReport
from bot.alerts.replay import replay
from bot.alerts.rules import RuleParams
from bot.alerts.scheduler import AFTER_CLOSE, AFTER_MIDNIGHT, CATCH_UP, DEFAULT_RETRY, RETRY, AlertScheduler
from bot.alerts.service import AlertService
from bot.analysis.analyzer import PairAnalyzer
from bot.render.alert_messages import AlertContent
from bot.render.alert_text import evaluation_status_lines
from bot.store import Store
from tests.alerts.support import RecordingNotifier, add_chats
from tests.market.conftest import (
    TrimmedSnapshot,
    fake_sources,
    make_live,
    market_settings,
    yfinance_state,  # noqa: F401  (autouse fixture: yfinance's caches per test)
)
from tests.market.fake_base import Failure, TestClock
from tests.market.fakes import Fakes, start_fakes, stop_fakes

pytestmark = [
    pytest.mark.reliability,  # a day of scheduler runs against live-data fakes: `make test-reliability`
    # yfinance 1.7 calls DataFrame methods with inplace=True, which pandas 3.1 deprecates: not ours to fix
    pytest.mark.filterwarnings("ignore:The inplace keyword"),
]

START = "2026-04-27 20:30"  # Monday, after the NYSE close (20:00 UTC in summer time)
OUTAGE = ("2026-04-28 19:00", "2026-04-29 19:00")  # Yahoo down from before Tuesday's close, for 24 hours
END = "2026-04-29 21:00"  # after Wednesday's close run
MISSED = date(2026, 4, 28)
INSTANCES = {90: RuleParams("ETH", "RUT", 90), 30: RuleParams("ETH", "RUT", 30)}


@dataclass
class Run:
    at: pd.Timestamp
    job: str
    report: RunReport | None  # None: the run raised


@dataclass
class Timeline:
    """Fires the jobs an AlertScheduler planned (it runs paused) at their planned times on the test clock,
    earliest first, as APScheduler would; after each, `after_each` (the delivery worker's drain)."""

    scheduler: AlertScheduler
    clock: TestClock
    reports: list[RunReport]  # what the scheduler's run function returned, in order
    after_each: Callable[[], Awaitable[object]]
    runs: list[Run] = field(default_factory=list)
    started: pd.Timestamp | None = None
    _cron_fired: dict[str, datetime] = field(default_factory=dict)

    def _when(self, job: Job) -> datetime | None:
        if isinstance(job.trigger, DateTrigger):
            return job.trigger.run_date
        after = self._cron_fired.get(job.id)
        start = after + pd.Timedelta(microseconds=1) if after is not None else self.started
        return job.trigger.get_next_fire_time(None, start)

    async def run_until(self, end: str) -> None:
        until = pd.Timestamp(end, tz="UTC")
        while True:
            planned = [(when, job.id, job) for job in self.scheduler.scheduler.get_jobs()
                       if (when := self._when(job)) is not None]
            if not planned or min(planned)[0] > until:
                break
            when, _, job = min(planned)
            self.clock.now = pd.Timestamp(when)
            trigger = job.trigger
            before = len(self.reports)
            await job.func(*job.args)  # AlertScheduler._run: failures are its to handle
            self.runs.append(Run(self.clock.now, job.id, self.reports[-1] if len(self.reports) > before else None))
            if isinstance(trigger, DateTrigger):  # done, unless the run planned it again
                current = self.scheduler.scheduler.get_job(job.id)
                if current is not None and current.trigger is trigger:
                    current.remove()
            else:
                self._cron_fired[job.id] = when
            await self.after_each()
        self.clock.now = until

    def between(self, start: str, end: str) -> list[Run]:
        low, high = pd.Timestamp(start, tz="UTC"), pd.Timestamp(end, tz="UTC")
        return [run for run in self.runs if low <= run.at < high]


@pytest.fixture
async def outage_fakes() -> AsyncIterator[Fakes]:
    started = await start_fakes(TestClock(START))
    try:
        yield started
    finally:
        await stop_fakes(started)


async def test_a_day_without_equity_prices_then_one_catch_up_and_no_flood(store: Store, outage_fakes: Fakes):
    fakes, clock = outage_fakes, outage_fakes.clock
    long_chats = await add_chats(store, 2, pair=("ETH", "RUT"), window_days=90, prefix="long")
    short_chats = await add_chats(store, 2, pair=("ETH", "RUT"), window_days=30, prefix="short")
    settings = market_settings()
    live = make_live(store, fake_sources(fakes, settings), clock, settings, bundled=TrimmedSnapshot("2025-01-01"))
    analyzer = PairAnalyzer(live)

    def now() -> datetime:
        return clock.now.to_pydatetime()

    service = AlertService(store, analyzer, AlertContent())  # alert texts without charts
    service.engine = AlertEngine(store, analyzer, repo=service.repo, clock=now)
    notifier = RecordingNotifier("fake")
    worker = DeliveryWorker(store, {"fake": notifier}, service.messages, repo=service.repo, clock=now)
    reports: list[RunReport] = []

    async def evaluate() -> RunReport:  # what AlertService.start_scheduler gives the scheduler, and a record
        report = await service.evaluate()
        reports.append(report)
        return report

    scheduler = AlertScheduler(evaluate, delay=service.delay, clock=now)
    timeline = Timeline(scheduler, clock, reports, worker.drain, started=clock.now)
    try:
        scheduler.start(paused=True)  # plans the catch-up run (now), the after-close run and the UTC-day run
        # Monday: the catch-up evaluates Monday's session (the new instances warm up on the history)
        await timeline.run_until(OUTAGE[0])
        assert [(r.job, r.report.sessions if r.report else None) for r in timeline.runs] == [
            (CATCH_UP, {"XNYS": pd.Timestamp("2026-04-27")}), (AFTER_MIDNIGHT, {})]  # Tuesday 00:20: up to date
        sent_before = len(notifier.sent)

        # Tuesday 19:00 to Wednesday 19:00: Yahoo answers nothing at all
        fakes.yahoo.failure = Failure(status=503, body="Service Unavailable", everything=True)
        await timeline.run_until(OUTAGE[1])
        down = timeline.between(*OUTAGE)
        assert [r.job for r in down[:2]] == [AFTER_CLOSE, RETRY]  # Tuesday 20:20, then every half hour
        assert AFTER_MIDNIGHT in [r.job for r in down]
        for run in down:  # every scheduled run refused the session: nothing from stale data
            assert run.report is not None, f"the {run.job} run at {run.at} failed"
            assert run.report.evaluated == 0 and run.report.alerts == 0, run
            assert sorted((r.pair, r.session.date()) for r in run.report.refused) == [("ETH:RUT", MISSED)] * 2
            assert all("RUT data ends 2026-04-27" in r.reason for r in run.report.refused), run.report.refused
        gaps = [b.at - a.at for a, b in itertools.pairwise(down) if b.job == RETRY]
        assert gaps and all(gap == pd.Timedelta(DEFAULT_RETRY) for gap in gaps), gaps  # paced, not spinning
        assert len(down) <= pd.Timedelta(days=1) / pd.Timedelta(DEFAULT_RETRY) + 2
        assert scheduler.failed_runs == 0 and RETRY in scheduler.next_runs()
        assert await service.repo.alerts(since=MISSED) == []
        assert len(notifier.sent) == sent_before
        waiting = evaluation_status_lines(await service.status())
        assert any(line.startswith("Alerts waiting for data: NYSE session 2026-04-28") for line in waiting), waiting

        # Wednesday 19:00: Yahoo is back; the next retry evaluates Tuesday, Wednesday's close run Wednesday
        fakes.yahoo.failure = None
        await timeline.run_until(END)
        back = timeline.between(OUTAGE[1], END)
        assert [(r.job, r.report.sessions) for r in back if r.report] == [
            (RETRY, {"XNYS": pd.Timestamp(MISSED)}), (AFTER_CLOSE, {"XNYS": pd.Timestamp("2026-04-29")})]
        assert back[0].at - pd.Timestamp(OUTAGE[1], tz="UTC") <= pd.Timedelta(DEFAULT_RETRY)
        assert (back[0].report.evaluated, back[0].report.refused) == (2, [])
        evaluated_missed = [r for r in timeline.runs if r.report and r.report.sessions.get("XNYS") == pd.Timestamp(
            MISSED)]
        assert len(evaluated_missed) == 1  # one catch-up evaluation
        assert RETRY not in scheduler.next_runs()
    finally:
        await scheduler.stop()
        await live.close()

    # The missed session's alerts: once per rule instance, exactly what the rules fire on that data
    stored = await service.repo.alerts(since=MISSED, until=MISSED)
    by_window = {w: [(a.kind, a.as_of) for a in stored if a.key.window_days == w] for w in INSTANCES}
    expected = {w: [(e.kind, e.as_of.date()) for e in replay(analyzer, params, pd.Timestamp(MISSED),
                                                              pd.Timestamp(MISSED))]
                for w, params in INSTANCES.items()}
    assert by_window == expected
    assert by_window[90] and by_window[30], f"no alert fires on {MISSED} any more: pick another session"

    # Each chat: one message per alert its rule instance fired that day; nothing older (no burst), no repeat
    after = notifier.sent[sent_before:]
    received = Counter((chat_id, reply.data["alert_id"]) for chat_id, reply, _ in after)
    assert set(received.values()) == {1}
    subscribers = {90: [c.chat_id for c in long_chats], 30: [c.chat_id for c in short_chats]}
    wanted = {(chat, a.id) for a in stored for chat in subscribers[a.key.window_days]}
    newer = {a.id for a in await service.repo.alerts(since=date(2026, 4, 29))}
    assert {pair for pair in received if pair[1] not in newer} == wanted
    deliveries = [d for d in await service.repo.deliveries() if d["alert_id"] in {a.id for a in stored}]
    assert sorted(d["status"] for d in deliveries) == ["sent"] * len(wanted)
