"""When the alert engine runs: APScheduler 3 on the bot's event loop.

- at start-up, once: catch-up (sessions missed while the bot was down come from the store);
- `delay` after each NYSE close, from the exchange calendar (early closes, holidays): a DateTrigger for the
  next close, set again after every run — not a fixed cron;
- `delay` after 00:00 UTC every day, for crypto–crypto pairs;
- when a run had to refuse stale data, or a rule instance failed, once more `retry` later (the data may have
  arrived, the fault passed);
- when a run failed (the database or a source down), again after 1, 2, 4 … minutes up to an hour, until
  one succeeds (the next regular run resets it).

Every run evaluates whatever is due on every calendar, so a run that was missed or came early does no
harm; coalesce=True and max_instances=1 keep runs from piling up. What has been evaluated lives in the
store, so no persistent job store is needed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from tenacity import wait_exponential

from bot.alerts.engine import RunReport
from bot.alerts.market_sessions import next_run
from bot.clock import utcnow
from bot.ports.notifier import backoff_seconds

log = logging.getLogger(__name__)

EXCHANGE_CALENDAR = "XNYS"
DEFAULT_RETRY = timedelta(minutes=30)
FAILED_RUN_BACKOFF = wait_exponential(multiplier=60, max=3600)  # seconds before retrying a failed run
MISFIRE_GRACE_SECONDS = 6 * 3600
JOB_DEFAULTS = {"coalesce": True, "max_instances": 1, "misfire_grace_time": MISFIRE_GRACE_SECONDS}
CATCH_UP, AFTER_CLOSE, AFTER_MIDNIGHT, RETRY = "alerts-catch-up", "alerts-after-close", "alerts-utc-day", "alerts-retry"
HOUSEKEEPING = "housekeeping"  # daily, and once at start: retention (the leader alone runs it, like the rest)
HOUSEKEEPING_AT = {"hour": 4, "minute": 10}  # UTC: between the US close runs and the crypto day's

RunAlerts = Callable[[], Awaitable[RunReport]]
Housekeeping = Callable[[], Awaitable[object]]



class AlertScheduler:
    def __init__(
        self,
        run_alerts: RunAlerts,
        *,
        delay: timedelta = timedelta(minutes=20),
        retry: timedelta = DEFAULT_RETRY,
        calendar: str = EXCHANGE_CALENDAR,
        clock: Callable[[], datetime] = utcnow,
        housekeeping: Housekeeping | None = None,
    ) -> None:
        self._run_alerts = run_alerts
        self._housekeeping = housekeeping
        self.delay = delay
        self.retry = retry
        self.calendar = calendar
        self._clock = clock
        self.scheduler = AsyncIOScheduler(timezone=UTC, job_defaults=JOB_DEFAULTS)
        self.failed_runs = 0  # in a row; reset by a run that succeeds
        self._running: set[asyncio.Task[None]] = set()

    def start(self, *, catch_up: bool = True, paused: bool = False) -> None:
        """Start on the running event loop (call from async code); `paused`: plan the jobs, run none."""
        self.scheduler.start(paused=paused)
        if catch_up:
            self.scheduler.add_job(self._run, DateTrigger(run_date=self._clock(), timezone=UTC), args=[CATCH_UP],
                                   id=CATCH_UP, replace_existing=True)
        self._schedule_after_close()
        minutes = int(self.delay.total_seconds() // 60)
        self.scheduler.add_job(self._run, CronTrigger(hour=0, minute=minutes, timezone=UTC), args=[AFTER_MIDNIGHT],
                               id=AFTER_MIDNIGHT, replace_existing=True)
        if self._housekeeping is not None:
            self.scheduler.add_job(self._keep_house, CronTrigger(**HOUSEKEEPING_AT, timezone=UTC), id=HOUSEKEEPING,
                                   next_run_time=self._clock() if catch_up else None, replace_existing=True)

    async def stop(self) -> None:
        """Plan nothing more, and end a run under way (its work is transactional: it is redone next time)."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        for task in list(self._running):
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)

    def next_runs(self) -> dict[str, datetime]:
        return {job.id: job.next_run_time for job in self.scheduler.get_jobs() if job.next_run_time is not None}

    def _schedule_after_close(self) -> None:
        when = next_run(self.calendar, self._clock(), self.delay)
        self.scheduler.add_job(self._run, DateTrigger(run_date=when, timezone=UTC), args=[AFTER_CLOSE],
                               id=AFTER_CLOSE, replace_existing=True)
        log.info("alerts: next run after the %s close at %s", self.calendar, f"{when:%Y-%m-%d %H:%M} UTC")

    async def _run(self, reason: str) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._running.add(task)
        try:
            await self._run_once(reason)
        except asyncio.CancelledError:
            if self.scheduler.running:
                raise
            log.debug("alerts: the %s run was stopped with the bot", reason)  # stop(): not a failure
        finally:
            self._running.discard(task)

    async def _run_once(self, reason: str) -> None:
        try:
            report = await self._run_alerts()
        except Exception:
            self.failed_runs += 1
            wait = timedelta(seconds=backoff_seconds(FAILED_RUN_BACKOFF, self.failed_runs))
            log.exception("alerts: the %s run failed (%d in a row); trying again in %s", reason, self.failed_runs,
                          wait)
            self._plan_retry(self._clock() + wait)
            report = None
        else:
            self.failed_runs = 0
        finally:
            if reason == AFTER_CLOSE:
                self._schedule_after_close()
        if report is not None and (report.refused or report.failed):
            when = self._clock() + self.retry
            self._plan_retry(when)
            log.info("alerts: %d rule instances wait for data and %d failed; trying again at %s",
                     len(report.refused), len(report.failed), f"{when:%H:%M} UTC")

    async def _keep_house(self) -> None:
        assert self._housekeeping is not None
        try:
            await self._housekeeping()
        except Exception:  # tomorrow's run tries again; nothing depends on it today
            log.exception("housekeeping failed")

    def _plan_retry(self, when: datetime) -> None:
        if self.scheduler.running:
            self.scheduler.add_job(self._run, DateTrigger(run_date=when, timezone=UTC), args=[RETRY], id=RETRY,
                                   replace_existing=True)

