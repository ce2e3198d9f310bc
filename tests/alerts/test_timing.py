"""When things happen: sessions and runs from the exchange calendar, the scheduler's jobs, quiet hours."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time, timedelta

import pytest

from bot.alerts.engine import Refusal, RunReport
from bot.alerts.holding import release_for
from bot.alerts.market_sessions import UTC_DAYS, next_run
from bot.alerts.scheduler import AFTER_CLOSE, AFTER_MIDNIGHT, CATCH_UP, RETRY, AlertScheduler
from bot.store.alert_records import Recipient
from bot.store.preferences import QuietHours
from tests.alerts.support import at

DELAY = timedelta(minutes=20)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ("2025-01-10 12:00", "2025-01-10 21:20"),  # winter: 16:00 EST = 21:00 UTC
        ("2025-07-02 12:00", "2025-07-02 20:20"),  # summer: 16:00 EDT = 20:00 UTC
        ("2025-07-03 10:00", "2025-07-03 17:20"),  # early close before Independence Day: 13:00 EDT
        ("2025-07-03 17:30", "2025-07-07 20:20"),  # July 4 is a holiday, then the weekend
        ("2024-11-29 12:00", "2024-11-29 18:20"),  # the day after Thanksgiving closes at 13:00 EST
        ("2025-01-10 21:20", "2025-01-13 21:20"),  # exactly at a run: the next one
    ],
)
def test_the_run_after_the_close_follows_the_exchange_calendar(now, expected):
    assert next_run("XNYS", at(now), DELAY) == at(expected)


def test_crypto_runs_after_midnight_utc():
    assert next_run(UTC_DAYS, at("2025-07-03 10:00"), DELAY) == at("2025-07-04 00:20")
    assert next_run(UTC_DAYS, at("2025-07-04 00:10"), DELAY) == at("2025-07-04 00:20")


def _recipient(zone: str, quiet: tuple[time, time] | None, digest: bool = False) -> Recipient:
    return Recipient(1, "telegram", zone, QuietHours(*quiet) if quiet else None, digest, frozenset({"regime"}))


def test_quiet_hours_end_in_the_chat_time_zone_across_daylight_saving():
    night = (time(22, 0), time(7, 0))
    # 22:30 EST on 2025-03-08; clocks go forward overnight, so 07:00 the next morning is EDT (11:00 UTC)
    held = release_for(_recipient("America/New_York", night), at("2025-03-09 03:30"))
    assert held.bundle and held.not_before == at("2025-03-09 11:00")
    awake = release_for(_recipient("America/New_York", night), at("2025-03-09 15:00"))
    assert not awake.bundle and awake.not_before == at("2025-03-09 15:00")
    digest = release_for(_recipient("Asia/Tokyo", None, digest=True), at("2025-03-09 15:00"))  # 00:00 in Tokyo
    assert digest.bundle and digest.not_before == at("2025-03-09 23:00")  # 08:00 JST
    digest_with_quiet = release_for(_recipient("UTC", night, digest=True), at("2025-03-09 12:00"))
    assert digest_with_quiet.not_before == at("2025-03-10 07:00")


class FakeEngine:
    def __init__(self, report: RunReport) -> None:
        self.report = report
        self.runs = 0
        self.ran = asyncio.Event()

    async def __call__(self) -> RunReport:
        self.runs += 1
        self.ran.set()
        return self.report


async def test_the_scheduler_plans_the_close_the_utc_day_and_a_retry_after_stale_data():
    refused = RunReport(refused=[Refusal("XNYS", at("2025-07-02 00:00"), "ETH:RUT", "RUT data ends …")])
    engine = FakeEngine(refused)
    clock = at("2025-07-03 10:00")
    scheduler = AlertScheduler(engine, delay=DELAY, clock=lambda: clock)
    scheduler.start(catch_up=False, paused=True)  # the test runs the jobs itself
    try:
        jobs = {job.id: job for job in scheduler.scheduler.get_jobs()}
        assert jobs[AFTER_CLOSE].trigger.run_date == at("2025-07-03 17:20")
        assert str(jobs[AFTER_MIDNIGHT].trigger) == "cron[hour='0', minute='20']"
        assert all(job.coalesce and job.max_instances == 1 for job in jobs.values())
        clock = at("2025-07-03 17:20")
        await jobs[AFTER_CLOSE].func(*jobs[AFTER_CLOSE].args)  # what the trigger runs
        jobs = {job.id: job for job in scheduler.scheduler.get_jobs()}
        assert engine.runs == 1
        assert jobs[AFTER_CLOSE].trigger.run_date == at("2025-07-07 20:20")  # rescheduled from the calendar
        assert jobs[RETRY].trigger.run_date == at("2025-07-03 17:50")  # stale data: again 30 minutes later
    finally:
        await scheduler.stop()


async def test_the_catch_up_run_happens_at_start():
    engine = FakeEngine(RunReport())
    scheduler = AlertScheduler(engine, delay=DELAY, clock=lambda: datetime.now(UTC))
    scheduler.start()
    try:
        await asyncio.wait_for(engine.ran.wait(), 10)
        assert CATCH_UP not in scheduler.next_runs()
    finally:
        await scheduler.stop()


class FailingEngine:
    """Fails `times` runs (the database is down), then succeeds."""

    def __init__(self, times: int) -> None:
        self.left = times
        self.runs = 0

    async def __call__(self) -> RunReport:
        self.runs += 1
        if self.left:
            self.left -= 1
            raise ConnectionRefusedError("database down")
        return RunReport()


async def test_a_failed_run_is_tried_again_with_backoff_not_the_next_day():
    engine = FailingEngine(times=3)
    clock = at("2025-07-03 17:20")
    scheduler = AlertScheduler(engine, delay=DELAY, clock=lambda: clock)
    scheduler.start(catch_up=False, paused=True)
    try:
        waits = []
        job = scheduler.scheduler.get_job(AFTER_CLOSE)
        await job.func(*job.args)
        for _ in range(3):
            retry = scheduler.scheduler.get_job(RETRY)
            waits.append((retry.trigger.run_date - clock).total_seconds())
            clock = retry.trigger.run_date
            await retry.func(*retry.args)
        assert engine.runs == 4 and scheduler.failed_runs == 0
        assert waits == [60, 120, 240]  # 1, 2, 4 minutes (at most an hour)
        assert scheduler.scheduler.get_job(RETRY).trigger.run_date == clock  # the last one; no new retry planned
    finally:
        await scheduler.stop()


async def test_stopping_ends_a_run_under_way_quietly(caplog):
    started, release = asyncio.Event(), asyncio.Event()

    async def slow_engine() -> RunReport:
        started.set()
        await release.wait()
        return RunReport()

    scheduler = AlertScheduler(slow_engine, delay=DELAY, clock=lambda: datetime.now(UTC))
    scheduler.start()
    await asyncio.wait_for(started.wait(), 10)
    await scheduler.stop()
    await asyncio.sleep(0)
    assert not scheduler._running
    assert "CancelledError" not in caplog.text and "raised an exception" not in caplog.text
