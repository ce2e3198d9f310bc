"""Sources that just failed are left alone for a while: no retry storms, and no waiting on a source
that timed out a minute ago. A source-wide failure (network, rate limit, outage) blocks the source for
every asset; an unusable answer for one asset blocks only that asset on that source."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from bot.market.sources.base import Scope, SourceError


@dataclass(frozen=True)
class Block:
    until: pd.Timestamp
    reason: str


class Cooldowns:
    def __init__(self, seconds: float):
        self.seconds = seconds
        self._blocks: dict[tuple[str, str | None], Block] = {}

    def blocked(self, source: str, symbol: str, now: pd.Timestamp) -> Block | None:
        for key in ((source, None), (source, symbol)):
            block = self._blocks.get(key)
            if block is not None and now < block.until:
                return block
        return None

    def block(self, error: SourceError, symbol: str, now: pd.Timestamp) -> Block | None:
        if self.seconds <= 0:
            return None
        key = (error.source, None if error.scope is Scope.SOURCE else symbol)
        block = Block(now + pd.Timedelta(seconds=self.seconds * error.cooldown_factor), error.reason)
        self._blocks[key] = block
        return block

    def clear(self, source: str, symbol: str) -> None:
        self._blocks.pop((source, None), None)
        self._blocks.pop((source, symbol), None)
