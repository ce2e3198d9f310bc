"""The delivery worker's claims, renewed while the process lives.

A claim's lease is short (DELIVERY_LEASE_SECONDS, 15 s by default) so that the claims of a process that died
free within seconds; a living process renews every claim it holds every third of the lease, however long its
sends wait (rate limits, a paused platform, a slow receiver). A process that stops renewing — killed, frozen,
cut off from the database — loses its claims once the lease runs out, and another sender takes them over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import datetime, timedelta

from bot.store.alerts_repo import AlertsRepo

log = logging.getLogger("bot.alerts.delivery")


class ClaimHeartbeat:
    def __init__(self, repo: AlertsRepo, clock: Callable[[], datetime], lease: timedelta) -> None:
        self.repo = repo
        self.clock = clock
        self.lease = lease
        self._tokens: dict[str, set[int]] = {}  # claim token -> the deliveries still held under it
        self.renewals = 0  # heartbeats that renewed something (for tests and metrics)

    @property
    def interval(self) -> float:
        return self.lease.total_seconds() / 3

    @property
    def held(self) -> set[int]:
        return {delivery for ids in self._tokens.values() for delivery in ids}

    def hold(self, token: str, ids: Iterable[int]) -> None:
        self._tokens.setdefault(token, set()).update(ids)

    def drop(self, ids: Iterable[int]) -> None:
        """Finished with (sent, failed, rescheduled or given back): no longer renewed."""
        gone = set(ids)
        for token in list(self._tokens):
            self._tokens[token] -= gone
            if not self._tokens[token]:
                del self._tokens[token]

    @contextlib.asynccontextmanager
    async def beating(self) -> AsyncIterator[None]:
        """Renew the held claims in the background meanwhile."""
        task = asyncio.create_task(self._beat(), name="delivery-claims-heartbeat")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.renew()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the next beat tries again; meanwhile the lease still runs
                log.warning("delivery: could not renew claims (%s); trying again in %.0f s", type(exc).__name__,
                            self.interval)

    async def renew(self) -> None:
        for token, ids in list(self._tokens.items()):
            wanted = sorted(ids)
            if not wanted:
                continue
            renewed = await self.repo.renew(wanted, token, self.clock())
            self.renewals += 1
            if renewed < len(wanted):  # finished meanwhile, or taken over (the sender's own check skips those)
                log.debug("delivery: renewed %d of %d claims", renewed, len(wanted))
