"""Is this process well? The event loop's lag (a heartbeat task), the database (a one-row query with a short
timeout), the transports, the data's age, the last alert run — for /healthz."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

LAG_LIMIT = 5.0  # seconds the event loop may fall behind before /healthz says fail
HEARTBEAT = 0.5  # seconds between the heartbeat's ticks
LAG_MEMORY = 30.0  # a lag counts as current for this long (it is only seen once the loop runs again)
DATABASE_TIMEOUT = 2.0


class LoopWatch:
    """Ticks every HEARTBEAT seconds and records how late each tick was: a blocked loop shows up as lag."""

    def __init__(self, clock: Any = time.monotonic, limit: float = LAG_LIMIT) -> None:
        self._clock = clock
        self.limit = limit  # seconds of lag before /healthz says fail
        self.worst = 0.0  # the worst lag seen within LAG_MEMORY
        self._worst_at = 0.0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._beat(), name="loop-heartbeat")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    @property
    def lag(self) -> float:
        if self._clock() - self._worst_at > LAG_MEMORY:
            return 0.0
        return self.worst

    async def _beat(self) -> None:
        while True:
            due = self._clock() + HEARTBEAT
            await asyncio.sleep(HEARTBEAT)
            late = self._clock() - due
            if late > self.lag or self._clock() - self._worst_at > LAG_MEMORY:
                self.worst, self._worst_at = max(late, 0.0), self._clock()


@dataclass
class Health:
    status: str  # ok | degraded (working, with a fallback: still 200) | fail (503)
    leader: bool
    database: str  # ok, or why not
    transports: dict[str, str]
    data: dict[str, float | None]  # asset -> age of its newest price, seconds
    last_run: dict[str, Any] | None
    loop_lag: float
    reasons: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "status": self.status, "leader": self.leader, "database": self.database, "transports": self.transports,
            "data": self.data, "last_run": self.last_run, "loop_lag_seconds": round(self.loop_lag, 3),
        }
        if self.reasons:
            body["reasons"] = self.reasons
        return body
