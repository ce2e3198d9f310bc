"""Records sends in batches for the delivery worker (bot/alerts/delivery.py)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from bot.store.alerts_repo import AlertsRepo

log = logging.getLogger("bot.alerts.delivery")


class SentRecorder:
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
