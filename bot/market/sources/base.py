"""What every price source has in common: bars, intervals, errors, and the one method a source offers.

Bars are a pandas Series of closes indexed by naive UTC timestamps, the way the price cache stores them:
the session date at midnight for daily bars, the candle's open time for hourly bars.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

import pandas as pd

from bot.assets import Asset

DAILY = "1d"
HOURLY = "1h"
STEP = {DAILY: pd.Timedelta(days=1), HOURLY: pd.Timedelta(hours=1)}

Progress = Callable[[int], None]  # called with the number of bars each page brought


def intervals_of(asset: Asset) -> tuple[str, ...]:
    """Crypto keeps hourly candles (for sync-close) and UTC daily candles; equities and indices daily closes."""
    return (DAILY, HOURLY) if asset.is_crypto else (DAILY,)


class Scope(StrEnum):
    SOURCE = "source"  # the source itself failed (network, rate limit, outage): leave it alone for a while
    SERIES = "series"  # this asset's answer was unusable (empty, implausible, unknown symbol)


class SourceError(Exception):
    """A source gave no usable bars. `reason` is short, free of secrets, and shown by /status and doctor."""

    def __init__(self, source: str, reason: str, *, scope: Scope = Scope.SOURCE, cooldown_factor: float = 1.0):
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason
        self.scope = scope
        self.cooldown_factor = cooldown_factor


@dataclass(frozen=True)
class Fetched:
    bars: pd.Series  # naive UTC timestamp -> close, sorted, unique; may still hold a provisional last bar
    # Dividend or split dates inside the answer: the source's adjusted history before them has changed.
    adjustment_events: tuple[pd.Timestamp, ...] = field(default=())


class PriceSource(Protocol):
    name: str  # binance | coinbase | kraken | yahoo: what price_bars.source and source_status say
    adjusted: bool  # closes are adjusted for dividends and splits (the whole history rescales at an event)

    def supports(self, asset: Asset, interval: str) -> bool: ...

    async def fetch(
        self, asset: Asset, interval: str, since: pd.Timestamp, until: pd.Timestamp, progress: Progress | None = None
    ) -> Fetched:
        """Bars whose open time is at or after `since`, up to the clock `until` (both naive UTC)."""
        ...

    async def close(self) -> None: ...


def bars_from(timestamps: pd.DatetimeIndex, closes: object, name: str = "close") -> pd.Series:
    """Sorted bars with one close per timestamp (the later row wins), as float, naive ns timestamps."""
    index = pd.DatetimeIndex(timestamps).as_unit("ns")
    series = pd.Series(pd.to_numeric(pd.Series(closes), errors="coerce").to_numpy(float), index=index, name=name)
    series = series[~series.index.duplicated(keep="last")]
    return series.sort_index()


def naive_utc(ts: pd.Timestamp) -> pd.Timestamp:
    ts = pd.Timestamp(ts)
    return ts.tz_convert("UTC").tz_localize(None) if ts.tzinfo is not None else ts
