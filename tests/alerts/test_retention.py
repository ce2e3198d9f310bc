"""Retention: the leader's daily housekeeping deletes old alerts, their deliveries and evaluation notes — never a
delivery still pending — and keeps prices."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, insert, select, update

from bot.alerts.engine import RunReport
from bot.alerts.scheduler import HOUSEKEEPING, AlertScheduler
from bot.store import Store
from bot.store.alert_records import InstanceKey
from bot.store.alerts_repo import AlertsRepo
from bot.store.models import AlertMediaRow, AlertRow, DeliveryRow, EvaluationRow, PriceBarRow
from bot.store.retention import Pruned, RetentionRepo
from tests.alerts.support import ETH_RUT_90D, add_chats, at, fire

OLD, NEW = at("2025-01-10 21:20"), at("2026-01-16 21:20")
BTC_SPY_90D = InstanceKey("BTC", "SPY", 90, ETH_RUT_90D.thresholds)


async def _count(store: Store, table: type) -> int:
    async with store.engine.connect() as connection:
        return (await connection.execute(select(func.count()).select_from(table))).scalar_one()


async def test_prune_deletes_what_is_older_and_done_and_keeps_pending_and_prices(store: Store):
    chats = await add_chats(store, 2)
    await add_chats(store, 1, pair=("BTC", "SPY"), prefix="btc")
    repo = AlertsRepo.for_store(store)
    await fire(repo, [("regime", date(2025, 1, 10))], now=OLD)  # old, delivered: goes
    await fire(repo, [("divergence", date(2025, 1, 10))], now=OLD, key=BTC_SPY_90D)  # old, still pending: stays
    await fire(repo, [("regime", date(2026, 1, 16))], now=NEW)  # recent: stays
    async with store.engine.begin() as connection:
        old_eth = (await connection.execute(select(AlertRow.id).where(AlertRow.created_at < NEW)
                                            .order_by(AlertRow.id))).scalars().first()
        await connection.execute(update(DeliveryRow).where(DeliveryRow.alert_id == old_eth)
                                 .values(status="sent", sent_at=OLD))
        await connection.execute(insert(AlertMediaRow).values(alert_id=old_eth, platform="telegram", handle="f1"))
        await connection.execute(insert(EvaluationRow), [
            {"calendar": "XNYS", "session": date(2025, 1, 10), "status": "evaluated"},
            {"calendar": "XNYS", "session": date(2026, 1, 16), "status": "evaluated"},
        ])
        await connection.execute(insert(PriceBarRow).values(asset="ETH", interval="1d", ts=datetime(2024, 1, 2),
                                                            close=2300.0, source="test"))
    assert (await _count(store, AlertRow), await _count(store, DeliveryRow)) == (3, 2 + 1 + 2)

    pruned = await RetentionRepo(store.db).prune(NEW - timedelta(days=30))

    assert pruned == Pruned(alerts=1, deliveries=len(chats), evaluations=1)
    assert await _count(store, AlertRow) == 2
    assert await _count(store, DeliveryRow) == 1 + 2
    assert await _count(store, AlertMediaRow) == 0
    assert await _count(store, EvaluationRow) == 1
    assert await _count(store, PriceBarRow) == 1
    assert await RetentionRepo(store.db).prune(NEW - timedelta(days=30)) == Pruned()  # nothing more


async def test_housekeeping_runs_at_start_and_daily_and_its_failure_is_only_logged():
    runs: list[str] = []
    ran = asyncio.Event()

    async def evaluate() -> RunReport:
        return RunReport()

    async def housekeeping() -> None:
        runs.append("pruned")
        ran.set()
        raise RuntimeError("database went away")  # logged; tomorrow's run tries again

    scheduler = AlertScheduler(evaluate, housekeeping=housekeeping, clock=lambda: datetime.now(UTC))
    scheduler.start()
    try:
        await asyncio.wait_for(ran.wait(), 10)
        job = scheduler.scheduler.get_job(HOUSEKEEPING)
        assert job is not None and str(job.trigger) == "cron[hour='4', minute='10']"
        assert job.next_run_time > datetime.now(UTC)
    finally:
        await scheduler.stop()
    assert runs == ["pruned"]
