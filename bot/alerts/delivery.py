"""Delivery: drains the outbox (pending deliveries) through one Notifier per platform.

- Claims are atomic and leased (`AlertsRepo.claim`): two processes never send the same delivery, and a
  delivery claimed by a process that died is taken over once its lease has run out. The only duplicates a
  crash can cause are the messages that were out on the wire when it happened.
- Every notifier paces its sends through its platform's `PlatformLimiter` (`notifier.limiter`; a chat
  transport's notifier shares it with the transport's replies).
- Every try counts against the platform's `RetryPolicy` (`notifier.retry`: attempts and/or age). RetryLater
  pauses the limiter (for the chat, or the whole platform) and reschedules after retry_after (clamped to
  1 s–1 h); transient errors back off exponentially with jitter (tenacity's wait strategy computes
  `not_before`); a delivery past its policy's bound fails, and a webhook whose deliveries all failed that long
  is disabled. ChatGone marks the chat inactive (subscriptions kept) and drops its pending deliveries;
  ChatMoved follows the chat to its new id. Anything else is a bug: recorded as failed and logged, not retried.
- An alert's chart is rendered once and uploaded once per platform: the first send's media handle
  (Telegram's file_id) is stored and given to every later send of the same alert.
- Held deliveries (quiet hours, digest) of a chat go out together, as one message, once due.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from bot.alerts.payload import fired
from bot.alerts.rules import FiredAlert
from bot.clock import utcnow
from bot.ports.notifier import (
    ChatGone,
    ChatMoved,
    NotConfigured,
    Notifier,
    PermanentError,
    RetryLater,
    SendResult,
    TransientError,
    backoff_seconds,
)
from bot.ports.reply import Reply
from bot.store import Store
from bot.store.alert_records import ClaimedDelivery
from bot.store.alerts_repo import AlertsRepo
from bot.telemetry.metrics import Metrics

log = logging.getLogger(__name__)

DEFAULT_LEASE = timedelta(seconds=120)
RUN_ONCE_WAIT = timedelta(seconds=60)  # `alerts --run-once` waits out a platform's retry_after this long at most
NOT_CONFIGURED_WAIT = timedelta(minutes=10)  # a platform that needs the operator: look again this much later
GROUP_KINDS = frozenset({"group", "channel"})
_NO_HANDLE = ""  # the platform gave no media handle for this alert: nobody needs to wait for one



def _duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 60} min {seconds % 60} s"


@dataclass
class DrainReport:
    sent: int = 0  # messages (a bundle of held alerts is one message)
    deliveries_sent: int = 0
    failed: int = 0
    rescheduled: int = 0  # transient errors, to be retried later
    retry_later: int = 0  # the platform asked us to wait (429)
    moved: int = 0
    gone: int = 0
    lost_claims: int = 0  # sent, but our claim had been taken over (lease ran out): maybe sent twice
    errors: int = 0  # failed on an error of ours (a bug), not the platform's
    not_configured: int = 0  # waiting for the operator (e.g. WEBHOOK_SECRET), not tried
    by_platform: dict[str, int] = field(default_factory=dict)
    gone_chats: set[int] = field(default_factory=set)  # found gone in this drain: skip their other jobs

    def add(self, other: DrainReport) -> None:
        for name in ("sent", "deliveries_sent", "failed", "rescheduled", "retry_later", "moved", "gone",
                     "lost_claims", "errors", "not_configured"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for platform, count in other.by_platform.items():
            self.by_platform[platform] = self.by_platform.get(platform, 0) + count


@dataclass
class _Job:
    """What goes out as one message: one delivery, or a chat's due held deliveries."""

    token: str
    deliveries: tuple[ClaimedDelivery, ...]
    claimed_at: datetime

    @property
    def first(self) -> ClaimedDelivery:
        return self.deliveries[0]

    @property
    def ids(self) -> list[int]:
        return [d.id for d in self.deliveries]


class AlertMessages(Protocol):
    """What a chat receives for fired alerts (bot.render.alert_messages builds it)."""

    async def reply(self, alert: FiredAlert) -> Reply: ...

    async def bundle(self, alerts: list[FiredAlert]) -> Reply: ...


class DeliveryWorker:
    def __init__(
        self,
        store: Store,
        notifiers: Mapping[str, Notifier],
        messages: AlertMessages,
        *,
        repo: AlertsRepo | None = None,
        lease: timedelta = DEFAULT_LEASE,
        batch: int = 100,
        concurrency: int = 16,
        poll_seconds: float = 5.0,
        clock: Callable[[], datetime] = utcnow,
        metrics: Metrics | None = None,
    ) -> None:
        self.store = store
        self.repo = repo or AlertsRepo.for_store(store)
        self.notifiers = dict(notifiers)
        self.messages = messages
        self.lease = lease
        self.batch = batch
        self.concurrency = concurrency
        self.poll_seconds = poll_seconds
        self.clock = clock
        self.metrics = metrics
        self._media: dict[tuple[int, str], str] = {}
        self._media_locks: dict[tuple[int, str], asyncio.Lock] = {}
        self._held: set[int] = set()  # deliveries this worker has claimed and not finished with
        self._recorder = _SentRecorder(self.repo, clock)
        self._wake = asyncio.Event()
        self._stopping = False

    # ------------------------------------------------------------ running

    async def run(self) -> None:
        """Deliver until stopped: drain, then wait for a kick (new alerts) or the next poll."""
        while not self._stopping:
            try:
                await self.drain()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("delivery: draining failed; trying again in %g s", self.poll_seconds)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)

    def kick(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        """Claim nothing more; messages being sent are finished, claimed ones not yet started given back."""
        self._stopping = True
        self._wake.set()

    async def drain(self) -> DrainReport:
        """Send everything that is due now on the configured platforms, then return."""
        report = DrainReport()
        parts = await asyncio.gather(*(self._drain_platform(p) for p in self.notifiers), return_exceptions=True)
        for platform, part in zip(self.notifiers, parts, strict=True):
            if isinstance(part, BaseException):
                if isinstance(part, asyncio.CancelledError):
                    raise part
                log.error("delivery on %s failed: %s", platform, part, exc_info=part)
                continue
            report.add(part)
        return report

    async def drain_due(self, *, wait: timedelta = RUN_ONCE_WAIT) -> DrainReport:
        """Send what is due now and return (`alerts --run-once`). A platform that asks to wait (429) is
        waited for when its retry_after ends within `wait`; other retries — transient errors, longer waits,
        quiet hours and digests — stay pending for the next run or the server."""
        report = DrainReport()
        platforms = list(self.notifiers)
        while True:
            part = await self.drain()
            report.add(part)
            if not platforms or not part.retry_later or not await self.repo.pending_due(platforms, self.clock() + wait):
                return report
            await asyncio.sleep(min(self.poll_seconds, 0.5))

    # ------------------------------------------------------------ one platform

    async def _drain_platform(self, platform: str) -> DrainReport:
        report = DrainReport()
        queue: asyncio.Queue[_Job | None] = asyncio.Queue(maxsize=self.batch)
        senders = [asyncio.create_task(self._sender(platform, queue, report)) for _ in range(self.concurrency)]
        try:
            while not self._stopping and (jobs := await self._claim(platform)):
                for job in jobs:
                    await queue.put(job)
            for _ in senders:
                await queue.put(None)
            await asyncio.gather(*senders)
            await self._recorder.settled()
            self._count(platform, report)
        finally:
            for task in senders:
                task.cancel()
            await self._release_unsent(queue)
        return report

    def _count(self, platform: str, report: DrainReport) -> None:
        if self.metrics is None:
            return
        for outcome, count in (("sent", report.deliveries_sent), ("failed", report.failed), ("gone", report.gone),
                               ("retry", report.rescheduled), ("rate_limited", report.retry_later),
                               ("moved", report.moved), ("waiting_for_setup", report.not_configured)):
            if count:
                self.metrics.deliveries.labels(platform, outcome).inc(count)

    async def _claim(self, platform: str) -> list[_Job]:
        now = self.clock()
        token = uuid.uuid4().hex
        held = await self.repo.claim(platform, token, now, self.lease, self.batch, bundles=True, exclude=self._held)
        single = await self.repo.claim(platform, token, now, self.lease, self.batch, exclude=self._held)
        self._held.update(d.id for d in (*held, *single))
        by_chat: dict[int, list[ClaimedDelivery]] = {}
        for delivery in held:
            by_chat.setdefault(delivery.chat_pk, []).append(delivery)
        return ([_Job(token, tuple(group), now) for group in by_chat.values()]
                + [_Job(token, (d,), now) for d in single])

    async def _release_unsent(self, queue: asyncio.Queue[_Job | None]) -> None:
        leftover = []
        while not queue.empty():
            job = queue.get_nowait()
            if job is not None:
                leftover.append(job)
        for job in leftover:
            await self._give_back(job)

    async def _give_back(self, job: _Job) -> None:
        self._held.difference_update(job.ids)
        try:
            await asyncio.shield(self.repo.release(job.ids, job.token, self.clock()))
        except Exception:  # the lease still hands them to the next worker; say why they wait
            log.exception("delivery: could not give back claims %s; they return when the lease ends", job.ids)

    async def _sender(self, platform: str, queue: asyncio.Queue[_Job | None], report: DrainReport) -> None:
        while (job := await queue.get()) is not None:
            if self._stopping:  # shutting down: another process (or the next start) sends it
                await self._give_back(job)
                continue
            try:
                await self._deliver(platform, job, report)
            except asyncio.CancelledError:
                await self._give_back(job)  # cut off mid-send: it may go twice, but it is not lost
                raise
            except Exception:
                log.exception("delivery %s on %s failed unexpectedly", job.ids, platform)
            finally:
                self._held.difference_update(job.ids)

    # ------------------------------------------------------------ one message

    async def _deliver(self, platform: str, job: _Job, report: DrainReport) -> None:
        if job.first.chat_pk in report.gone_chats:
            return  # claimed in the same drain as the send that found the chat gone; already skipped
        chat_id, ids = job.first.chat_id, job.ids
        reply = await self._reply(job)
        for _ in range(2):  # a second time only after following a moved chat
            try:
                result = await self._send(platform, chat_id, job, reply)
            except _ClaimLost:
                report.lost_claims += len(ids)
                log.warning("delivery %s on %s: claim expired while waiting and was taken over", ids, platform)
                return
            except RetryLater as wait:
                self.notifiers[platform].limiter.pause(wait.retry_after, chat_id if wait.chat_only else None)
                await self._retry_later(platform, job, ids, wait, report, delay=wait.retry_after)
                return
            except ChatMoved as moved:
                new_chat = await self.store.migrate_chat(platform, chat_id, moved.new_chat_id)
                ids = await self.repo.move_to_chat(ids, job.token, new_chat.id, self.clock()) if new_chat else []
                report.moved += 1
                if not ids or new_chat is None:
                    return
                chat_id = new_chat.chat_id
                continue
            except ChatGone as gone:
                reason = f"chat gone: {gone}" if str(gone) else "chat gone"
                report.gone_chats.add(job.first.chat_pk)
                await self.store.mark_inactive(platform, chat_id, reason)
                await self.repo.mark_failed(ids, job.token, self.clock(), reason, attempted=True)
                await self.repo.skip_chat(job.first.chat_pk, reason, self.clock())
                report.gone += 1
                return
            except NotConfigured as missing:
                now = self.clock()
                await self.repo.reschedule(ids, job.token, now, now + NOT_CONFIGURED_WAIT, str(missing),
                                           attempted=False)
                report.not_configured += 1
                return
            except PermanentError as refused:
                await self.repo.mark_failed(ids, job.token, self.clock(), f"refused: {refused}", attempted=True)
                report.failed += 1
                return
            except TransientError as trouble:
                await self._retry_later(platform, job, ids, trouble, report)
                return
            except Exception as bug:  # ours, not the platform's: retrying would only repeat it
                log.exception("delivery %s on %s failed with an error of ours", ids, platform)
                await self.repo.mark_failed(ids, job.token, self.clock(), f"internal error: {type(bug).__name__}",
                                            attempted=True)
                report.failed += 1
                report.errors += 1
                return
            report.sent += 1
            report.deliveries_sent += len(ids)
            report.by_platform[platform] = report.by_platform.get(platform, 0) + 1

            def recorded(updated: int, ids: list[int] = ids) -> None:
                if updated != len(ids):
                    report.lost_claims += len(ids) - updated
                    log.warning("delivery %s on %s: sent after our claim ran out; it may have gone twice", ids,
                                platform)

            self._recorder.sent(ids, job.token, result.message_id, recorded)  # the next send doesn't wait for it
            return

    async def _retry_later(
        self, platform: str, job: _Job, ids: list[int], trouble: Exception, report: DrainReport,
        delay: float | None = None,
    ) -> None:
        """Count the try; reschedule it after `delay` (a 429's) or the policy's backoff, or give it up."""
        policy = self.notifiers[platform].retry
        attempts = max(d.attempts for d in job.deliveries) + 1
        error = f"{type(trouble).__name__}: {trouble}"
        now = self.clock()
        age = now - min(d.created_at for d in job.deliveries)
        if (policy.max_attempts is not None and attempts >= policy.max_attempts) or (
            policy.max_age is not None and age >= policy.max_age
        ):
            reason = f"gave up after {attempts} attempts in {_duration(age)}: {error}"
            await self.repo.mark_failed(ids, job.token, now, reason, attempted=True)
            report.failed += 1
            if policy.disable_on_give_up and not await self.repo.sent_since(job.first.chat_pk, job.first.created_at):
                await self.store.mark_inactive(platform, job.first.chat_id, f"disabled: {reason}")
                log.warning("%s %s disabled: %s", platform, job.first.chat_id, reason)
            return
        wait = delay if delay is not None else backoff_seconds(policy.backoff, attempts)
        await self.repo.reschedule(ids, job.token, now, now + timedelta(seconds=wait), error, attempted=True)
        if isinstance(trouble, RetryLater):
            report.retry_later += 1
        else:
            report.rescheduled += 1

    async def _reply(self, job: _Job) -> Reply:
        if len(job.deliveries) == 1:
            reply = await self.messages.reply(fired(job.first.alert))
        else:
            reply = await self.messages.bundle([fired(d.alert) for d in job.deliveries])
        return dataclasses.replace(reply, data={**reply.data, "delivery_ids": job.ids})

    async def _send(self, platform: str, chat_id: str, job: _Job, reply: Reply) -> SendResult:
        """Send, reusing the platform's media handle for the alert's chart once the first send has one."""
        is_group = job.first.chat_kind in GROUP_KINDS
        if reply.chart is None or len(job.deliveries) != 1:
            return await self._paced(platform, chat_id, job, is_group, reply, None)
        key = (job.first.alert.id, platform)
        handle = self._media.get(key)
        if handle is None:
            async with self._media_locks.setdefault(key, asyncio.Lock()):
                handle = self._media.get(key)
                if handle is None:
                    handle = await self.repo.media_handle(*key)
                if handle is None:  # this send uploads the chart; the others wait for its handle
                    result = await self._paced(platform, chat_id, job, is_group, reply, None)
                    self._media[key] = result.media_handle or _NO_HANDLE
                    if result.media_handle:
                        await self.repo.save_media_handle(*key, result.media_handle, self.clock())
                    return result
                self._media[key] = handle
        return await self._paced(platform, chat_id, job, is_group, reply, handle or None)

    async def _paced(
        self, platform: str, chat_id: str, job: _Job, is_group: bool, reply: Reply, media: str | None
    ) -> SendResult:
        await self._hold_claim(job)
        return await self.notifiers[platform].send(chat_id, reply, media, is_group=is_group)

    async def _hold_claim(self, job: _Job) -> None:
        """A claim that has waited half its lease (rate limits, a paused platform) is renewed before the
        send; if it had already run out and been taken over, the new owner sends it, not us."""
        now = self.clock()
        if now - job.claimed_at < self.lease / 2:
            return
        if await self.repo.renew(job.ids, job.token, now) != len(job.ids):
            raise _ClaimLost
        job.claimed_at = now


class _ClaimLost(Exception):
    pass


class _SentRecorder:
    """Records sends in batches — one transaction for whatever was sent within `delay` — instead of a
    transaction per message, which on SQLite would cap the fan-out below the platforms' limits.
    Senders go on to their next message at once. The cost: a crash can catch up to one batch sent but not yet
    recorded (they go out again after the lease)."""

    def __init__(self, repo: AlertsRepo, clock: Callable[[], datetime], delay: float = 0.1,
                 max_batch: int = 500) -> None:
        self.repo = repo
        self.clock = clock
        self.delay = delay  # gather this long before writing: claims need the database too
        self.max_batch = max_batch
        self._waiting: list[tuple[list[int], str, str | None, Callable[[int], None]]] = []
        self._flusher: asyncio.Task[None] | None = None

    def sent(self, ids: list[int], token: str, message_id: str | None, recorded: Callable[[int], None]) -> None:
        """Record this send soon; `recorded(n)` is told how many of `ids` were still ours."""
        self._waiting.append((ids, token, message_id, recorded))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name="delivery-records")

    async def settled(self) -> None:
        """Wait until every send so far is recorded (a failure to record is logged, not raised)."""
        while self._flusher is not None and not self._flusher.done():
            await asyncio.shield(self._flusher)

    async def _flush(self) -> None:
        await asyncio.sleep(self.delay)
        while self._waiting:
            batch, self._waiting = self._waiting[: self.max_batch], self._waiting[self.max_batch :]
            try:
                counts = await self.repo.mark_sent_many([(ids, token, mid) for ids, token, mid, _ in batch],
                                                        self.clock())
            except Exception:  # they stay claimed: after the lease they are sent again (a duplicate, not a loss)
                log.exception("delivery: could not record %d sends", len(batch))
                continue
            for (*_, recorded), count in zip(batch, counts, strict=True):
                recorded(count)
