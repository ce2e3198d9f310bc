"""Delivery leases: by the database's clock (a host whose clock runs fast can't take over fresh claims), renewed
by a heartbeat while the claiming process lives, and waited out by `--run-once` when that process has stopped."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import date, timedelta

import pytest

from bot.alerts.delivery import DeliveryWorker
from bot.clock import utcnow
from bot.ports.notifier import SendResult
from bot.ports.reply import Reply
from bot.render.alert_messages import AlertContent
from bot.store import Store
from bot.store.alerts_repo import AlertsRepo
from tests.alerts.support import RecordingNotifier, add_chats, fire

SESSION = date(2026, 1, 16)


async def _fan_out(store: Store, chats: int) -> AlertsRepo:
    repo = AlertsRepo.for_store(store)
    await add_chats(store, chats)
    await fire(repo, [("regime", SESSION)], now=utcnow() - timedelta(minutes=5))
    return repo


async def test_a_host_whose_clock_runs_fast_cannot_take_over_fresh_claims(store: Store) -> None:
    if not store.db.postgres:
        pytest.skip("a SQLite file has one host, whose clock is the database's")
    repo = await _fan_out(store, 5)
    lease = timedelta(seconds=120)
    mine = await repo.claim("fake", uuid.uuid4().hex, utcnow(), lease, 100)
    assert len(mine) == 5
    fast = utcnow() + timedelta(minutes=3)  # another host, 3 minutes ahead
    assert await repo.claim("fake", uuid.uuid4().hex, fast, lease, 100) == []  # today: all 5 taken over


class SlowNotifier(RecordingNotifier):
    """Each send takes `seconds`: several leases, as a paused platform or a slow receiver would."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds

    async def send(self, chat_id: str, reply: Reply, media: str | None = None, *, is_group: bool = False
                   ) -> SendResult:
        await asyncio.sleep(self.seconds)
        return await super().send(chat_id, reply, media, is_group=is_group)


async def test_a_living_process_keeps_its_claims_however_long_its_sends_take(store: Store) -> None:
    await _fan_out(store, 3)
    lease = timedelta(seconds=0.6)
    slow = SlowNotifier(seconds=2.0)  # more than three leases per send
    first = DeliveryWorker(store, {"fake": slow}, AlertContent(), lease=lease, concurrency=3)
    other = RecordingNotifier()
    second = DeliveryWorker(store, {"fake": other}, AlertContent(), lease=lease)
    sending = asyncio.create_task(first.drain())
    await asyncio.sleep(1.2)  # two leases into the sends: without renewal, the claims have run out
    taken = await second.drain()
    report = await sending
    assert taken.deliveries_sent == 0 and other.sent == []  # today: all 3 sent again by the second worker
    assert report.deliveries_sent == 3 and first.claims.renewals > 0


async def test_run_once_waits_out_the_claims_of_a_process_that_stopped(store: Store,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    repo = await _fan_out(store, 4)
    lease = timedelta(seconds=1)
    dead = await repo.claim("fake", uuid.uuid4().hex, utcnow(), lease, 100)  # claimed, then SIGKILLed
    assert len(dead) == 4
    notifier = RecordingNotifier()
    worker = DeliveryWorker(store, {"fake": notifier}, AlertContent(), lease=lease)
    with caplog.at_level(logging.WARNING, logger="bot.alerts.delivery"):
        report = await worker.drain_due()
    assert report.deliveries_sent == 4 and sorted(notifier.chats().values()) == [1] * 4  # today: 0, rc 0
    assert report.claimed_elsewhere == 0
    assert any("claimed by another process; waiting up to 2 s" in r.getMessage() for r in caplog.records)
