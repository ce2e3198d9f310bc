"""What the analyzer answers with: plain result types, importable without pandas (pandas objects appear only in
annotations), so the command layer and `/help` load none of the maths."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from bot.assets import Asset
from bot.windows import Window

if TYPE_CHECKING:
    import pandas as pd

    from bot.analytics import correlation as corr
    from bot.analytics.regimes import RegimeHistory
    from bot.analytics.thresholds import Thresholds
    from bot.market.data import LegData


@dataclass(frozen=True)
class PairData:
    asset: Asset
    benchmark: Asset
    aligned: pd.DataFrame  # date -> a, b, sync
    returns: pd.DataFrame  # date -> ra, rb, sync, daily
    legs: tuple[LegData, LegData]

    @property
    def key(self) -> str:
        return f"{self.asset.symbol}:{self.benchmark.symbol}"

    @property
    def source(self) -> str:
        """The least fresh leg's source."""
        order = {"live": 0, "cache": 1, "snapshot": 2}
        return max((leg.source for leg in self.legs), key=lambda s: order.get(s, 3))

    @property
    def sources(self) -> dict[str, str]:
        return {self.asset.symbol: self.legs[0].source, self.benchmark.symbol: self.legs[1].source}


# Why an answer is not as of today (or not as of the date asked): `AsOf.stale_kind`
BEHIND = "behind"  # a leg's data is behind its market's last completed session (by the clock)
PENDING = "pending"  # sync-close: the crypto hourly candles have not reached the newest session's close yet
AFTER_DATA = "after-data"  # a date was asked after the pair's last observation
BUNDLED_END = "bundled-end"  # the same in snapshot mode: the bundled data simply ends there


@dataclass(frozen=True)
class AsOf:
    """The observation an answer is for, and whether (and why) it is not the one asked for."""

    when: pd.Timestamp
    stale: bool = False
    reason: str | None = None
    stale_kind: str | None = None
    requested: pd.Timestamp | None = None  # the date asked (--as-of), if any


@dataclass(frozen=True)
class WindowHistory:
    """Rolling measures of one window over a pair's whole history (every observation date)."""

    window: Window
    pearson: pd.Series
    spearman: corr.WindowSpearman  # ranked only where asked: the regime replay needs few of its windows
    n_obs: pd.Series
    regimes: RegimeHistory


@dataclass(frozen=True)
class Candidate:
    """The dwell in progress at a date (docs/methods.md §4.6): a regime other than the adopted one that the
    correlation and its rank check have agreed on for `count` consecutive observations (1 … dwell − 1)."""

    regime: str
    count: int
    since: pd.Timestamp
    dwell: int


@dataclass(frozen=True)
class CorrResult:
    asset: Asset
    benchmark: Asset
    window: Window
    as_of: pd.Timestamp
    window_start: pd.Timestamp  # first return date inside the window
    n_obs: int
    correlation: float
    ci95: tuple[float, float]
    spearman: float
    beta: float
    divergence_z: float | None
    regime: str | None
    regime_since: pd.Timestamp | None
    record: corr.RecordRank | None
    change_z: float | None
    alignment: str
    source: str
    sources: dict[str, str]
    stale: bool
    stale_reason: str | None
    data_end: pd.Timestamp  # the pair's last aligned observation
    data_start: pd.Timestamp | None = None  # the pair's first aligned observation
    stale_kind: str | None = None  # BEHIND, PENDING, AFTER_DATA, BUNDLED_END (see AsOf)
    requested: pd.Timestamp | None = None  # the date asked, if any
    candidate: Candidate | None = None  # a regime change building at as_of (docs/methods.md §4.6)

    @property
    def window_truncated(self) -> bool:
        """Does the window reach back before the pair's first observation (less history than its length)?"""
        return self.data_start is not None and self.as_of - timedelta(days=self.window.days) < self.data_start

    @property
    def years_of_data(self) -> float:
        """Calendar years from the pair's first observation to as_of (365-day years, as windows count)."""
        start = self.data_start if self.data_start is not None else self.window_start
        days: int = (self.as_of - start).days
        return days / 365


@dataclass(frozen=True)
class RegimeNow:
    window: Window
    regime: str | None
    since: pd.Timestamp | None
    correlation: float
    n_obs: int
    spearman: float = math.nan
    candidate: Candidate | None = None


@dataclass(frozen=True)
class ChartData:
    """What a pair chart shows, over `max(window, 1 year)` ending at `as_of`."""

    asset: Asset
    benchmark: Asset
    window: Window
    as_of: pd.Timestamp
    prices: pd.DataFrame  # date -> a, b (aligned prices; the chart rebases them)
    correlation: pd.Series  # rolling correlation of the chosen window
    ci_low: pd.Series
    ci_high: pd.Series
    ewma: pd.Series
    regimes: pd.Series  # adopted regime per date (str or None)
    thresholds: Thresholds
    current: float
    n_obs: int
    source: str
    stale: bool
