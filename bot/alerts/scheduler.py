"""When the alert engine runs: APScheduler 3 on the bot's event loop.

- at start-up, once: catch-up (sessions missed while the bot was down come from the store);
- `delay` after each NYSE close, from the exchange calendar (early closes, holidays): a DateTrigger for the
  next close, set again after every run — not a fixed cron;
- `delay` after 00:00 UTC every day, for crypto–crypto pairs;
- when a run had to refuse stale data, once more `retry` later (the data may have arrived by then).

Every run evaluates whatever is due on every calendar, so a run that was missed or came early does no
harm; coalesce=True and max_instances=1 keep runs from piling up. What has been evaluated lives in the
store, so no persistent job store is needed.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger

from bot.alerts.engine import RunReport
from bot.alerts.market_sessions import next_run

log = logging.getLogger(__name__)

EXCHANGE_CALENDAR = "XNYS"
DEFAULT_RETRY = timedelta(minutes=30)
MISFIRE_GRACE_SECONDS = 6 * 3600
JOB_DEFAULTS = {"coalesce": True, "max_instances": 1, "misfire_grace_time": MISFIRE_GRACE_SECONDS}
CATCH_UP, AFTER_CLOSE, AFTER_MIDNIGHT, RETRY = "alerts-catch-up", "alerts-after-close", "alerts-utc-day", "alerts-retry"

RunAlerts = Callable[[], Awaitable[RunReport]]


def utcnow() -> datetime:
    return datetime.now(UTC)


class AlertScheduler:
    def __init__(
        self,
        run_alerts: RunAlerts,
        *,
        delay: timedelta = timedelta(minutes=20),
        retry: timedelta = DEFAULT_RETRY,
        calendar: str = EXCHANGE_CALENDAR,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._run_alerts = run_alerts
        self.delay = delay
        self.retry = retry
        self.calendar = calendar
        self._clock = clock
        self.scheduler = AsyncIOScheduler(timezone=UTC, job_defaults=JOB_DEFAULTS)

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

    def stop(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    def next_runs(self) -> dict[str, datetime]:
        return {job.id: job.next_run_time for job in self.scheduler.get_jobs() if job.next_run_time is not None}

    def _schedule_after_close(self) -> None:
        when = next_run(self.calendar, self._clock(), self.delay)
        self.scheduler.add_job(self._run, DateTrigger(run_date=when, timezone=UTC), args=[AFTER_CLOSE],
                               id=AFTER_CLOSE, replace_existing=True)
        log.info("alerts: next run after the %s close at %s", self.calendar, f"{when:%Y-%m-%d %H:%M} UTC")

    async def _run(self, reason: str) -> None:
        try:
            report = await self._run_alerts()
        except Exception:
            log.exception("alerts: the %s run failed", reason)
            report = None
        finally:
            if reason == AFTER_CLOSE:
                self._schedule_after_close()
        if report is not None and report.refused:
            when = self._clock() + self.retry
            self.scheduler.add_job(self._run, DateTrigger(run_date=when, timezone=UTC), args=[RETRY], id=RETRY,
                                   replace_existing=True)
            log.info("alerts: %d rule instances wait for data; trying again at %s", len(report.refused),
                     f"{when:%H:%M} UTC")
