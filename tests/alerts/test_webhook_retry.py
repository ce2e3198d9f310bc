"""Webhook deliveries through the real DeliveryWorker and WebhookNotifier, against a local receiver: a
receiver's Retry-After read robustly, every failure retried for a day, timeouts, the delivery id header."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import pytest_asyncio
from aiohttp import web

from bot.alerts.delivery import DeliveryWorker, backoff_seconds
from bot.alerts.kinds import DEFAULT_KINDS
from bot.alerts.webhook import TIMEOUT_SECONDS, WEBHOOK_RETRY, WebhookNotifier, retry_after_seconds
from bot.alerts.webhook_bodies import DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature
from bot.ports.notifier import CHAT_RETRY
from bot.render.alert_messages import AlertContent
from bot.store import Chat, Store
from bot.store.alerts_repo import AlertsRepo
from tests.alerts.support import UNLIMITED, at, fire

SECRET = "s3cret-for-tests"
NOW = at("2026-01-16 21:20")


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Answer:
    status: int = 204
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (longer than the notifier's timeout: a timeout)


class Receiver:
    """Answers each path as told (`answers[path]`, 204 otherwise) and records what arrived."""

    def __init__(self) -> None:
        self.answers: dict[str, Answer] = {}
        self.requests: list[dict] = []
        self.base = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = request.headers
        self.requests.append({
            "path": request.path, "delivery": headers.get(DELIVERY_HEADER),
            "signed": verify_signature(SECRET, headers.get(TIMESTAMP_HEADER, ""), body,
                                       headers.get(SIGNATURE_HEADER, "")),
        })
        answer = self.answers.get(request.path, Answer())
        if answer.delay:
            await asyncio.sleep(answer.delay)
        return web.Response(status=answer.status, headers=answer.headers)

    def url(self, path: str) -> str:
        return f"{self.base}{path}"

    def by_path(self, path: str) -> list[dict]:
        return [r for r in self.requests if r["path"] == path]


@pytest_asyncio.fixture
async def receiver() -> AsyncIterator[Receiver]:
    fake = Receiver()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", fake.handle)
    runner = web.AppRunner(app, shutdown_timeout=1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    fake.base = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    try:
        yield fake
    finally:
        await runner.cleanup()


async def _hooks(store: Store, receiver: Receiver, paths: list[str]) -> dict[str, Chat]:
    """One webhook chat per path, each subscribed to ETH:RUT, and one alert for all of them."""
    chats = {}
    for path in paths:
        chat = await store.upsert_chat("webhook", receiver.url(path), "channel")
        await store.subscribe(chat, "ETH", "RUT", window_days=90, kinds=DEFAULT_KINDS)
        chats[path] = chat
    await fire(AlertsRepo.for_store(store), [("regime", date(2026, 1, 16))], now=NOW)
    return chats


def _worker(store: Store, notifier: WebhookNotifier, clock: Clock) -> DeliveryWorker:
    return DeliveryWorker(store, {"webhook": notifier}, AlertContent(), clock=clock)


async def _rows(store: Store, chats: dict[str, Chat]) -> dict[str, dict]:
    by_pk = {r["chat_pk"]: r for r in await AlertsRepo.for_store(store).deliveries()}
    return {path: by_pk[chat.id] for path, chat in chats.items()}


# ---------------------------------------------------------------- 5. Retry-After as a receiver sends it

UNREADABLE = ["nan", "NaN", "-5", "1e400", "1e9", "inf", "-inf", "soon", "", "   ", "0x10", "7 seconds"]


async def test_a_429s_retry_after_is_read_robustly_counted_and_kept_between_a_second_and_an_hour(
        store: Store, receiver: Receiver):
    """Today `nan` and `-5` retried at once (hammering), `1e400` raised OverflowError leaving the delivery
    claimed, `1e9` scheduled a retry for 2058. Now: every try counts, nothing stays claimed, and the wait is
    the receiver's when it is a number of seconds (kept within 1 s..1 h), else 60 s."""
    cases = {f"/rate-limited/{i}": value for i, value in enumerate([*UNREADABLE, "7", "2.5", "0", "86400"])}
    cases["/rate-limited/missing"] = None
    for path, value in cases.items():
        receiver.answers[path] = Answer(429, {} if value is None else {"Retry-After": value})
    chats = await _hooks(store, receiver, list(cases))
    notifier = WebhookNotifier(SECRET, allow_private=True, limits=UNLIMITED)
    try:
        report = await _worker(store, notifier, Clock(NOW)).drain()
    finally:
        await notifier.close()
    assert report.retry_later == len(cases) and report.failed == 0 and report.errors == 0
    rows = await _rows(store, chats)
    waits = {}
    for path, row in rows.items():
        assert (row["status"], row["attempts"], row["claim_token"]) == ("pending", 1, None), (cases[path], row)
        waits[cases[path]] = (row["not_before"] - NOW).total_seconds()
    assert all(1 <= wait <= 3600 for wait in waits.values()), waits
    assert {value: waits[value] for value in UNREADABLE} == dict.fromkeys(UNREADABLE, 60.0)
    assert (waits["7"], waits["2.5"], waits["0"], waits["86400"], waits[None]) == (7, 2.5, 1, 3600, 60)
    assert len(receiver.requests) == len(cases)  # one try each: no hammering


def test_retry_after_as_an_http_date():
    now = datetime(2015, 10, 21, 7, 20, tzinfo=UTC)
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now) == 480
    assert retry_after_seconds("Wednesday, 21-Oct-15 07:28:00 GMT", now) == 480  # RFC 850, obsolete but allowed
    assert retry_after_seconds("Wed Oct 21 07:28:00 2015", now) == 480  # asctime
    assert retry_after_seconds("Wed, 21 Oct 2015 07:00:00 GMT", now) == -1200  # past: RetryLater makes it 1 s
    assert retry_after_seconds("Wed, 32 Oct 2015 07:28:00 GMT", now) == 60


# ---------------------------------------------------------------- 6. losses and duplicates

FAILING = {"/missing": Answer(404), "/moved": Answer(302, {"Location": "/ok"}), "/moved-for-good": Answer(308),
           "/refused": Answer(400), "/unauthorised": Answer(401), "/broken": Answer(500), "/unavailable": Answer(503)}


async def test_every_failure_is_retried_for_a_day_then_the_hook_is_disabled(store: Store, receiver: Receiver):
    """Today a 404, a redirect or any 4xx failed the delivery at once (the alert was lost) and a 5xx was given up
    after 8 tries in about 1.5 h. Now webhooks retry with backoff for more than 24 h, then disable the hook."""
    receiver.answers.update(FAILING)
    receiver.answers["/gone"] = Answer(410)
    chats = await _hooks(store, receiver, [*FAILING, "/gone", "/ok"])
    notifier = WebhookNotifier(SECRET, allow_private=True, limits=UNLIMITED)
    clock = Clock(NOW)
    worker = _worker(store, notifier, clock)
    drains = 0
    try:
        while any(r["status"] == "pending" for r in (await _rows(store, chats)).values()):
            await worker.drain()
            drains += 1
            clock.now += timedelta(hours=1, minutes=1)  # past every backoff (at most an hour)
            assert drains < 40
    finally:
        await notifier.close()
    rows = await _rows(store, chats)
    assert rows["/ok"]["status"] == "sent" and len(receiver.by_path("/ok")) == 1  # the redirect was not followed
    assert rows["/gone"]["attempts"] == 1 and rows["/gone"]["status"] == "failed"
    gone = await store.get_chat("webhook", receiver.url("/gone"))
    assert gone is not None and not gone.active and "HTTP 410" in (gone.inactive_reason or "")
    for path in FAILING:
        row = rows[path]
        assert row["status"] == "failed" and row["attempts"] == drains >= 25, (path, row)
        assert "gave up after" in row["error"] and f"HTTP {FAILING[path].status}" in row["error"]
        hook = await store.get_chat("webhook", receiver.url(path))
        assert hook is not None and not hook.active
        assert (hook.inactive_reason or "").startswith("disabled: gave up after"), hook.inactive_reason
        tries = receiver.by_path(path)
        assert len(tries) == drains and all(t["signed"] for t in tries)
        assert {t["delivery"] for t in tries} == {str(row["id"])}  # the same id on every try: receivers can dedupe
    assert drains * timedelta(hours=1, minutes=1) > timedelta(hours=24)


async def test_a_slow_receiver_is_retried_with_the_same_delivery_id_and_the_default_timeout_is_10_s(
        store: Store, receiver: Receiver):
    """Today a receiver slower than 5 s got the same alert 5 times with nothing to tell them apart."""
    assert TIMEOUT_SECONDS == 10 and WebhookNotifier(SECRET).timeout == 10
    receiver.answers["/slow"] = Answer(204, delay=1.0)
    chats = await _hooks(store, receiver, ["/slow"])
    clock = Clock(NOW)
    notifier = WebhookNotifier(SECRET, allow_private=True, limits=UNLIMITED, timeout=0.2)
    worker = _worker(store, notifier, clock)
    try:
        first = await worker.drain()
        assert first.rescheduled == 1 and first.sent == 0  # a timeout is retried
        receiver.answers["/slow"] = Answer(204)
        clock.now += timedelta(hours=1, minutes=1)
        second = await worker.drain()
    finally:
        await notifier.close()
    assert second.sent == 1
    row = (await _rows(store, chats))["/slow"]
    assert (row["status"], row["attempts"]) == ("sent", 1)  # one failed try counted, then sent
    tries = receiver.by_path("/slow")
    assert [t["delivery"] for t in tries] == [str(row["id"])] * 2 and all(t["signed"] for t in tries)


def test_webhooks_have_their_own_retry_policy_and_telegram_keeps_its_own():
    assert WebhookNotifier.retry is WEBHOOK_RETRY and WebhookNotifier(SECRET).retry is WEBHOOK_RETRY
    assert WEBHOOK_RETRY.max_age is not None and WEBHOOK_RETRY.max_age >= timedelta(hours=24)
    assert WEBHOOK_RETRY.max_attempts is None and WEBHOOK_RETRY.disable_on_give_up
    assert CHAT_RETRY.max_attempts == 8 and not CHAT_RETRY.disable_on_give_up
    waits = [[backoff_seconds(WEBHOOK_RETRY.backoff, attempt) for attempt in range(1, 40)] for _ in range(3)]
    assert all(0 < wait <= 3600 for run in waits for wait in run)
    assert waits[0] != waits[1]  # jittered
    assert all(run[0] < 600 and min(run[12:]) > 3000 for run in waits)  # exponential up to about an hour
    assert len({round(w) for run in waits for w in run[12:]}) > 10  # still jittered at the cap


async def test_without_webhook_secret_generic_hooks_wait_and_nothing_unsigned_goes_out(
        store: Store, receiver: Receiver):
    chats = await _hooks(store, receiver, ["/generic", "/services/T0001/B0002/abcdef123"])
    notifier = WebhookNotifier(None, allow_private=True, limits=UNLIMITED)
    try:
        report = await _worker(store, notifier, Clock(NOW)).drain()
    finally:
        await notifier.close()
    rows = await _rows(store, chats)
    assert rows["/services/T0001/B0002/abcdef123"]["status"] == "sent"  # Slack: nothing to sign
    assert rows["/generic"]["status"] == "pending" and "WEBHOOK_SECRET" in rows["/generic"]["error"]
    assert rows["/generic"]["attempts"] == 0  # untried: it waits for the operator, it is not failing
    assert report.not_configured == 1 and [r["path"] for r in receiver.requests] == ["/services/T0001/B0002/abcdef123"]
