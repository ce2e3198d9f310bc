"""Users' requests in flight, so that background work yields to them: prewarm starts no new chart while a user's
command is being answered (right after a deploy, the first answers come before prewarm's batch)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator


class Activity:
    def __init__(self) -> None:
        self._in_flight = 0
        self._quiet = asyncio.Event()
        self._quiet.set()

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @contextlib.contextmanager
    def request(self) -> Iterator[None]:
        """A user's request is being answered meanwhile."""
        self._in_flight += 1
        self._quiet.clear()
        try:
            yield
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._quiet.set()

    async def quiet(self) -> None:
        """Return once no user's request is in flight (at once when none is)."""
        while self._in_flight:
            await self._quiet.wait()
