"""The delivery worker: exclusive claims, platform errors, chart reuse, held alerts, rate limits."""

from __future__ import annotations

import asyncio
import time
from datetime import date, datetime, timedelta

from bot.alerts.delivery import DeliveryWorker
from bot.alerts.holding import release_for
from bot.ports.notifier import (
    CHAT_RETRY,
    ChatGone,
    ChatMoved,
    PermanentError,
    RetryLater,
    RetryPolicy,
    TransientError,
    clamp_retry_after,
)
from bot.render.alert_messages import AlertContent
from bot.sending.ratelimit import PlatformLimiter, PlatformLimits
from bot.store import Store
from bot.store.alerts_repo import AlertsRepo
from bot.store.preferences import parse_quiet_hours
from tests.alerts.support import (
    RateLimitedNotifier,
    RateLimitedServer,
    RecordingNotifier,
    add_chats,
    at,
    fire,
)

FAN_OUT = 90  # chats: three times what Telegram allows in a second

NOW = at("2026-01-16 21:20")


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _worker(store: Store, notifier, clock=None, messages=None, **options) -> DeliveryWorker:
    return DeliveryWorker(store, {notifier.platform: notifier}, messages or AlertContent(), clock=clock or Clock(NOW),
                          **options)


async def _statuses(repo: AlertsRepo) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in await repo.deliveries():
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    return counts


async def test_two_workers_on_two_connections_never_send_the_same_delivery(database):
    stores = [await database.open(migrate=False) for _ in range(2)]
    try:
        await add_chats(stores[0], 120)
        await fire(AlertsRepo.for_store(stores[0]), [("regime", date(2026, 1, 16))], now=NOW)
        notifier = RecordingNotifier()
        # every send waits until both workers have reached a send: both take part, whatever the scheduling
        # (without it one worker may legitimately claim every batch before the other wakes up)
        arrived: set[int] = set()
        both_sending = asyncio.Event()

        def through(worker: int) -> RecordingNotifier:
            own = RecordingNotifier()
            record = notifier.send

            async def send(chat_id, reply, media=None, **options):
                arrived.add(worker)
                if len(arrived) == 2:
                    both_sending.set()
                await asyncio.wait_for(both_sending.wait(), timeout=30)
                return await record(chat_id, reply, media, **options)

            own.send = send  # type: ignore[method-assign]
            return own

        workers = [
            _worker(s, through(n), repo=AlertsRepo.for_store(s), batch=10, concurrency=4)
            for n, s in enumerate(stores)
        ]
        for worker in workers:  # connected before the race starts
            await worker.repo.delivery_counts(NOW)
        reports = await asyncio.gather(*(w.drain() for w in workers))
        statuses = await _statuses(workers[0].repo)
    finally:
        for s in stores:
            await s.close()
    assert sorted(notifier.chats().values()) == [1] * 120
    assert all(r.deliveries_sent > 0 for r in reports), f"both workers took part: {reports}"
    assert statuses == {"sent": 120}


async def test_retry_later_pauses_the_chat_and_reschedules_counting_the_try(store: Store):
    (chat,) = await add_chats(store, 1)
    repo = AlertsRepo.for_store(store)
    await fire(repo, [("regime", date(2026, 1, 16))], now=NOW)
    notifier = RecordingNotifier()
    notifier.failures[chat.chat_id] = [RetryLater(30, chat_only=True)]
    clock = Clock(NOW)
    worker = _worker(store, notifier, clock)
    report = await worker.drain()
    assert report.retry_later == 1 and notifier.sent == []
    (row,) = await repo.deliveries()
    assert (row["status"], row["attempts"], row["not_before"]) == ("pending", 1, NOW + timedelta(seconds=30))
    assert notifier.limiter.chat_paused_for(chat.chat_id) > 25
    assert (await worker.drain()).sent == 0  # not due yet
    clock.now = NOW + timedelta(seconds=31)
    notifier.limiter = PlatformLimiter(notifier.limiter.limits)  # the pause is over (the clock moved on)
    assert (await worker.drain()).sent == 1


async def test_transient_errors_back_off_then_give_up(store: Store):
    chats = await add_chats(store, 2)
    repo = AlertsRepo.for_store(store)
    await fire(repo, [("regime", date(2026, 1, 16))], now=NOW)
    notifier = RecordingNotifier()
    notifier.failures[chats[0].chat_id] = [TransientError("502")] * 2
    notifier.failures[chats[1].chat_id] = [TransientError("timeout")] * 3
    clock = Clock(NOW)
    notifier.retry = RetryPolicy(CHAT_RETRY.backoff, max_attempts=3)
    worker = _worker(store, notifier, clock)
    waits = []
    for _ in range(4):
        await worker.drain()
        pending = [r for r in await repo.deliveries() if r["status"] == "pending"]
        waits += [(r["not_before"] - clock.now).total_seconds() for r in pending]
        clock.now += timedelta(hours=2)
    rows = {r["chat_pk"]: r for r in await repo.deliveries()}
    assert notifier.chats() == {chats[0].chat_id: 1}
    assert (rows[chats[0].id]["status"], rows[chats[0].id]["attempts"]) == ("sent", 2)
    assert (rows[chats[1].id]["status"], rows[chats[1].id]["attempts"]) == ("failed", 3)
    assert "gave up after 3 attempts in 4 h 0 min" in rows[chats[1].id]["error"]
    assert all(10 <= w <= 3600 for w in waits) and len(set(waits)) > 1  # exponential, jittered


async def test_a_gone_chat_is_marked_inactive_and_gets_nothing_more(store: Store):
    chats = await add_chats(store, 2)
    repo = AlertsRepo.for_store(store)
    await fire(repo, [("regime", date(2026, 1, 15)), ("divergence", date(2026, 1, 16))], now=NOW)
    notifier = RecordingNotifier()
    notifier.failures[chats[0].chat_id] = [ChatGone("bot was blocked by the user")]
    report = await _worker(store, notifier, concurrency=1).drain()
    assert report.gone == 1
    gone = await store.get_chat("fake", chats[0].chat_id)
    assert gone is not None and not gone.active and "blocked" in (gone.inactive_reason or "")
    assert [s.pair for s in await store.list_subscriptions(gone)] == ["ETH:RUT"]  # kept
    rows = [r for r in await repo.deliveries() if r["chat_pk"] == chats[0].id]
    assert sorted(r["status"] for r in rows) == ["failed", "skipped"]
    assert notifier.chats() == {chats[1].chat_id: 2}


async def test_a_moved_chat_is_followed_and_the_alert_sent_to_its_new_id(store: Store):
    (chat,) = await add_chats(store, 1, platform="fake", prefix="-100")
    repo = AlertsRepo.for_store(store)
    await fire(repo, [("regime", date(2026, 1, 16))], now=NOW)
    notifier = RecordingNotifier()
    notifier.failures[chat.chat_id] = [ChatMoved("-1009999")]
    report = await _worker(store, notifier).drain()
    assert report.moved == 1 and notifier.chats() == {"-1009999": 1}
    moved = await store.get_chat("fake", "-1009999")
    assert moved is not None and moved.active
    assert await _statuses(repo) == {"sent": 1}


async def test_refused_messages_fail_without_retry(store: Store):
    (chat,) = await add_chats(store, 1)
    repo = AlertsRepo.for_store(store)
    await fire(repo, [("regime", date(2026, 1, 16))], now=NOW)
    notifier = RecordingNotifier()
    notifier.failures[chat.chat_id] = [PermanentError("message is too long")]
    await _worker(store, notifier).drain()
    assert await _statuses(repo) == {"failed": 1}


class CountingCharts:
    def __init__(self) -> None:
        self.calls = 0

    async def render_async(self, data, theme: str = "light") -> bytes:
        self.calls += 1
        await asyncio.sleep(0.01)
        return b"\x89PNG fake chart"


async def test_each_alert_chart_is_rendered_once_and_uploaded_once(store: Store, snapshot_analyzer):
    await add_chats(store, 40)
    repo = AlertsRepo.for_store(store)
    await fire(repo, [("regime", date(2024, 4, 26))], now=NOW)
    charts = CountingCharts()
    notifier = RecordingNotifier(handle="file-id-1")
    worker = _worker(store, notifier, messages=AlertContent(snapshot_analyzer, charts), concurrency=8)
    await worker.drain()
    assert charts.calls == 1 and len(notifier.sent) == 40
    medias = [media for _, _, media in notifier.sent]
    assert medias.count(None) == 1 and medias.count("file-id-1") == 39  # one upload, then the handle
    assert all(reply.chart for _, reply, _ in notifier.sent)
    assert await repo.media_handle((await repo.alerts())[0].id, "fake") == "file-id-1"


async def test_held_alerts_go_out_together_when_quiet_hours_end(store: Store):
    quiet_chat, digest_chat, plain_chat = await add_chats(store, 3)
    await store.set_timezone(quiet_chat, "Europe/Berlin")
    await store.set_quiet_hours(quiet_chat, parse_quiet_hours("22:00-07:00"))
    await store.set_digest(digest_chat, "daily")
    repo = AlertsRepo.for_store(store)
    evening = at("2026-01-16 21:20")  # 22:20 in Berlin: quiet
    await fire(repo, [("regime", date(2026, 1, 16)), ("divergence", date(2026, 1, 16))], now=evening,
               release=release_for)
    notifier = RecordingNotifier()
    clock = Clock(evening)
    worker = _worker(store, notifier, clock)
    await worker.drain()
    assert notifier.chats() == {plain_chat.chat_id: 2}  # only the chat without quiet hours or digest

    clock.now = at("2026-01-17 05:59")
    await worker.drain()
    assert len(notifier.sent) == 2
    clock.now = at("2026-01-17 06:00")  # 07:00 in Berlin
    await worker.drain()
    assert notifier.chats()[quiet_chat.chat_id] == 1  # both alerts, one message
    (_, bundle, _), = [s for s in notifier.sent if s[0] == quiet_chat.chat_id]
    assert bundle.text.startswith("🔔 2 alerts while this chat was quiet")
    assert digest_chat.chat_id not in notifier.chats()
    clock.now = at("2026-01-17 08:00")  # the daily digest (08:00 UTC, the chat's zone)
    await worker.drain()
    assert notifier.chats() == {plain_chat.chat_id: 2, quiet_chat.chat_id: 1, digest_chat.chat_id: 1}
    assert await _statuses(repo) == {"sent": 6}


async def _fan_out_under_limits(database) -> tuple[str, RateLimitedServer, dict[str, int], float]:
    store = await database.open(migrate=False)
    try:
        await add_chats(store, FAN_OUT, platform="telegram")
        repo = AlertsRepo.for_store(store)
        await fire(repo, [("regime", date(2026, 1, 16))], now=NOW)
        limits = PlatformLimits(per_second=30, per_chat_per_second=1)
        server = RateLimitedServer(per_second=30, retry_after=1)
        worker = DeliveryWorker(store, {"telegram": RateLimitedNotifier(server, limits)}, AlertContent(), repo=repo)
        started = time.monotonic()
        await worker.drain_due()
        return database.backend, server, await _statuses(repo), time.monotonic() - started
    finally:
        await store.close()


async def test_a_fan_out_under_telegram_like_limits_loses_and_repeats_nothing(both_databases):
    """Each backend against its own fake platform, both at once: three seconds' worth of the 30/s limit (the
    long fan-outs run in make test-reliability: tests/reliability/test_scale_out.py)."""
    results = await asyncio.gather(*(_fan_out_under_limits(database) for database in both_databases))
    for backend, server, statuses, elapsed in results:
        rate = len(server.times) / (server.times[-1] - server.times[0])
        print(f"\n{FAN_OUT}-chat fan-out at 30/s ({backend}): {rate:.1f} msg/s ({rate / 30:.2f} of the limit), "
              f"{server.too_many} answers 429, {elapsed:.1f} s")
        assert len(server.delivered) == FAN_OUT and set(server.delivered.values()) == {1}
        assert statuses == {"sent": FAN_OUT}


async def test_an_error_of_ours_is_recorded_once_not_retried(store: Store):
    (chat,) = await add_chats(store, 1)
    repo = AlertsRepo.for_store(store)
    await fire(repo, [("regime", date(2026, 1, 16))], now=NOW)
    notifier = RecordingNotifier()
    notifier.failures[chat.chat_id] = [KeyError("a bug")]  # type: ignore[list-item]
    report = await _worker(store, notifier).drain()
    (row,) = await repo.deliveries()
    assert (report.failed, report.errors, report.rescheduled) == (1, 1, 0)
    assert (row["status"], row["attempts"], row["error"]) == ("failed", 1, "internal error: KeyError")


async def test_a_chat_that_comes_back_gets_the_next_alert_from_the_same_worker(store: Store):
    (chat,) = await add_chats(store, 1)
    repo = AlertsRepo.for_store(store)
    notifier = RecordingNotifier()
    worker = _worker(store, notifier)
    await fire(repo, [("regime", date(2026, 1, 15))], now=NOW)
    notifier.failures[chat.chat_id] = [ChatGone("bot was blocked by the user")]
    assert (await worker.drain()).gone == 1
    assert not (await store.get_chat(chat.platform, chat.chat_id)).active
    await store.reactivate(chat.platform, chat.chat_id)  # the user unblocks the bot and writes again
    await fire(repo, [("regime", date(2026, 1, 16))], now=NOW)
    report = await worker.drain()
    assert report.sent == 1 and notifier.chats() == {chat.chat_id: 1}


async def test_a_policy_bounded_by_age_gives_up_and_can_disable_the_chat(store: Store):
    chats = await add_chats(store, 2, platform="hook")
    repo = AlertsRepo.for_store(store)
    await fire(repo, [("regime", date(2026, 1, 16))], now=NOW)
    notifier = RecordingNotifier("hook")
    notifier.retry = RetryPolicy(CHAT_RETRY.backoff, max_age=timedelta(hours=24), disable_on_give_up=True)
    notifier.failures[chats[0].chat_id] = [TransientError("HTTP 404")] * 100
    clock = Clock(NOW)
    worker = _worker(store, notifier, clock)
    tries = 0
    while any(r["status"] == "pending" for r in await repo.deliveries()):
        await worker.drain()
        tries += 1
        clock.now += timedelta(hours=1, minutes=1)  # past every backoff (at most an hour)
    rows = {r["chat_pk"]: r for r in await repo.deliveries()}
    assert rows[chats[1].id]["status"] == "sent"
    assert rows[chats[0].id]["status"] == "failed" and rows[chats[0].id]["attempts"] == tries
    assert tries >= 24 and "gave up after" in rows[chats[0].id]["error"]
    gone = await store.get_chat("hook", chats[0].chat_id)
    assert not gone.active and gone.inactive_reason.startswith("disabled: gave up after")
    assert (await store.get_chat("hook", chats[1].chat_id)).active


def test_retry_after_is_kept_between_a_second_and_an_hour():
    import math

    assert [clamp_retry_after(v) for v in (-5, 0, 0.2, 30, 1e9, math.inf)] == [1, 1, 1, 30, 3600, 3600]
    assert clamp_retry_after(math.nan) == 60
    assert RetryLater(float("1e400")).retry_after == 3600 and RetryLater(-5).retry_after == 1
