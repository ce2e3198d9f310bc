"""Pair analysis service: turns market data into the numbers a reply or a chart shows.

Everything here is computed from the analytics' pure functions; results are cached per pair, window and
data version, so repeated questions about the same pair cost a lookup.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from cachetools import LRUCache

from bot.analytics import correlation as corr
from bot.analytics.divergence import divergence_z_series
from bot.analytics.regimes import DEFAULT_THRESHOLDS, RegimeHistory, Thresholds, regime_history
from bot.assets import Asset
from bot.config import MarketDataMode
from bot.market import calendars
from bot.market.align import align, aligned_returns, alignment_label
from bot.market.data import LegData, MarketData, pair_freshness, sync_calendar
from bot.windows import Window

if TYPE_CHECKING:
    from bot.scan import UniverseScanner

CHART_MIN_DAYS = 365
# Derived series (rolling measures per window, EWMA, divergence) kept per pair; every window anyone asks for
# adds one, so the cache is bounded and drops the least recently used.
DERIVED_CACHE = 128
PAIR_CACHE = 64


_MISSING = object()


class AnalysisError(ValueError):
    """A question that has no honest answer (too few observations, date outside the data)."""


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
    spearman: pd.Series
    n_obs: pd.Series
    beta: pd.Series
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
        return self.data_start is not None and self.as_of - pd.Timedelta(days=self.window.days) < self.data_start

    @property
    def years_of_data(self) -> float:
        """Calendar years from the pair's first observation to as_of (365-day years, as windows count)."""
        start = self.data_start if self.data_start is not None else self.window_start
        return (self.as_of - start).days / 365


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


def _opt(value: float) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def _candidate_at(history: RegimeHistory, when: pd.Timestamp, dwell: int) -> Candidate | None:
    regime = history.candidate.get(when)
    count = int(history.candidate_count.get(when, 0))
    if regime is None or count <= 0:
        return None
    return Candidate(str(regime), count, history.candidate_since[when], dwell)


class PairAnalyzer:
    def __init__(self, market: MarketData, thresholds: Thresholds = DEFAULT_THRESHOLDS):
        self.market = market
        self.thresholds = thresholds
        self._lock = threading.RLock()
        self._pairs: LRUCache[tuple[str, str], tuple[tuple, PairData]] = LRUCache(PAIR_CACHE)
        self._derived: LRUCache[tuple, object] = LRUCache(DERIVED_CACHE)
        self._universe: UniverseScanner | None = None

    # ---- data -------------------------------------------------------------------------------------
    def pair(self, asset: Asset, benchmark: Asset) -> PairData:
        """Aligned prices and returns of a pair; rebuilt (and its caches dropped) when a leg's data changes."""
        leg_a, leg_b = self.market.leg(asset), self.market.leg(benchmark)
        pair_key = (asset.symbol, benchmark.symbol)
        version = (leg_a.source, leg_a.version, leg_b.source, leg_b.version)
        with self._lock:
            cached = self._pairs.get(pair_key)
            if cached is not None and cached[0] == version:
                return cached[1]
        cal = sync_calendar(asset, benchmark)
        closes = calendars.session_closes(cal) if cal else None
        aligned = align(leg_a.prices, leg_b.prices, closes)
        data = PairData(asset, benchmark, aligned, aligned_returns(aligned), (leg_a, leg_b))
        with self._lock:
            self._pairs[pair_key] = (version, data)
            for stale in [k for k in self._derived if k[0] == pair_key]:
                del self._derived[stale]
        return data

    def _derive(self, data: PairData, name: object, compute):
        """Per-pair cache of derived series, valid as long as the pair's data is."""
        key = ((data.asset.symbol, data.benchmark.symbol), id(data), name)
        with self._lock:
            found = self._derived.get(key, _MISSING)
            if found is not _MISSING:
                return found
        value = compute()
        with self._lock:
            self._derived[key] = value
        return value

    def window_history(self, data: PairData, window: Window) -> WindowHistory:
        def compute() -> WindowHistory:
            ra, rb = data.returns["ra"], data.returns["rb"]
            pearson = corr.rolling_pearson(ra, rb, window.days)
            spearman = corr.rolling_spearman(ra, rb, window.days)
            return WindowHistory(
                window,
                pearson,
                spearman,
                corr.rolling_count(ra, window.days),
                corr.rolling_beta(ra, rb, window.days),
                regime_history(pearson, spearman, self.thresholds),
            )

        return self._derive(data, ("window", window.days), compute)

    def ewma(self, data: PairData) -> pd.Series:
        return self._derive(data, "ewma", lambda: corr.ewma_correlation(data.returns["ra"], data.returns["rb"]))

    def divergence(self, data: PairData, horizon: int | None = None) -> pd.Series:
        h = horizon or self.thresholds.horizon
        return self._derive(
            data, ("divergence", h), lambda: divergence_z_series(data.returns["ra"], data.returns["rb"], horizon=h)
        )

    # ---- questions --------------------------------------------------------------------------------
    def resolve_as_of(self, data: PairData, requested: date | None) -> AsOf:
        """Last aligned observation on or before the requested date, and whether the answer is stale."""
        dates = data.returns.index
        if len(dates) == 0:
            raise AnalysisError(f"{data.asset.symbol} and {data.benchmark.symbol} share no observations")
        last = dates[-1]
        if requested is None:
            return self._freshness(data, last)
        want = pd.Timestamp(requested)
        if want < dates[0]:
            raise AnalysisError(
                f"no {data.key} data before {dates[0]:%Y-%m-%d}; pick a later date"
            )
        pos = dates.searchsorted(want, side="right") - 1
        as_of = dates[pos]
        if want > last:
            kind = BUNDLED_END if self.market.mode is MarketDataMode.SNAPSHOT else AFTER_DATA
            reason = f"data ends {last:%Y-%m-%d}, before the requested {want:%Y-%m-%d}"
            return AsOf(as_of, True, reason, kind, want)
        return AsOf(as_of, False, None, None, want)

    def _freshness(self, data: PairData, last: pd.Timestamp) -> AsOf:
        """No date asked: stale when a leg is behind its market by the clock (docs/methods.md §1.7)."""
        now = self.market.now()
        freshness = pair_freshness(data.asset, data.legs[0], data.benchmark, data.legs[1], now)
        stale_legs = [f for f in freshness if f.stale]
        if not stale_legs:
            return AsOf(last)
        worst = min(stale_legs, key=lambda f: f.last_bar)
        assert worst.expected is not None
        if worst.waits_for_candles(worst.expected):
            return AsOf(last, True, worst.candles_reason(worst.expected), PENDING)
        reason = (
            f"{worst.symbol} data ends {worst.data_end:%Y-%m-%d} ({worst.source}); "
            f"its market's last completed session is {worst.expected:%Y-%m-%d}"
        )
        return AsOf(last, True, reason, BEHIND)

    @staticmethod
    def window_returns(data: PairData, window: Window, when: pd.Timestamp) -> pd.DataFrame:
        """The returns of the window ending at the observation `when` (docs/methods.md §2.3)."""
        rets = data.returns
        return rets[corr.window_mask(rets.index, when, window.days)]

    @classmethod
    def window_correlation(cls, data: PairData, window: Window, when: pd.Timestamp) -> tuple[float, int]:
        """(ρ, n_obs) of the window ending at `when`, computed as `/corr` computes it; ρ is NaN below MIN_OBS."""
        in_window = cls.window_returns(data, window, when)
        n = len(in_window)
        if n < corr.MIN_OBS:
            return math.nan, n
        return corr.pearson(in_window["ra"].to_numpy(), in_window["rb"].to_numpy()), n

    def correlation(
        self, asset: Asset, benchmark: Asset, window: Window, as_of: date | None = None
    ) -> CorrResult:
        data = self.pair(asset, benchmark)
        resolved = self.resolve_as_of(data, as_of)
        when = resolved.when
        rets = data.returns
        in_window = self.window_returns(data, window, when)
        n = len(in_window)
        if n < corr.MIN_OBS:
            raise AnalysisError(
                f"only {n} observations of {data.key} in the {window.label} window to {when:%Y-%m-%d}; "
                f"at least {corr.MIN_OBS} are needed"
            )
        ra, rb = in_window["ra"].to_numpy(), in_window["rb"].to_numpy()
        rho = corr.pearson(ra, rb)
        history = self.window_history(data, window)
        regime = history.regimes.adopted.get(when)
        since = history.regimes.adopted_since.get(when)
        upto = rets.loc[:when]
        divergence = self.divergence(data).get(when, np.nan)
        return CorrResult(
            asset=asset,
            benchmark=benchmark,
            window=window,
            as_of=when,
            window_start=in_window.index[0],
            n_obs=n,
            correlation=rho,
            ci95=corr.fisher_ci(rho, n),
            spearman=corr.spearman(ra, rb),
            beta=corr.beta(ra, rb),
            divergence_z=_opt(float(divergence)),
            regime=regime,
            regime_since=None if since is None or pd.isna(since) else since,
            record=corr.record_rank(history.pearson, when),
            change_z=corr.change_test(upto["ra"].to_numpy(), upto["rb"].to_numpy()),
            alignment=alignment_label(in_window),
            source=data.source,
            sources=data.sources,
            stale=resolved.stale,
            stale_reason=resolved.reason,
            data_end=rets.index[-1],
            data_start=data.aligned.index[0],
            stale_kind=resolved.stale_kind,
            requested=resolved.requested,
            candidate=_candidate_at(history.regimes, when, self.thresholds.dwell),
        )

    def regimes(
        self, asset: Asset, benchmark: Asset, windows: list[Window], as_of: date | None = None
    ) -> tuple[PairData, AsOf, list[RegimeNow]]:
        data = self.pair(asset, benchmark)
        resolved = self.resolve_as_of(data, as_of)
        when = resolved.when
        out = []
        for window in windows:
            history = self.window_history(data, window)
            since = history.regimes.adopted_since.get(when)
            out.append(
                RegimeNow(
                    window,
                    history.regimes.adopted.get(when),
                    None if since is None or pd.isna(since) else since,
                    float(history.pearson.get(when, np.nan)),
                    int(history.n_obs.get(when, 0)),
                    float(history.spearman.get(when, np.nan)),
                    _candidate_at(history.regimes, when, self.thresholds.dwell),
                )
            )
        return data, resolved, out

    # ---- the universe -------------------------------------------------------------------------------
    @property
    def universe(self) -> UniverseScanner:
        """The cached scan of every crypto asset against every equity/index benchmark, and the matrix
        (bot/scan.py), on top of this analyzer's pair caches."""
        with self._lock:
            if self._universe is None:
                from bot.scan import UniverseScanner  # bot.scan builds on this module

                self._universe = UniverseScanner(self)
            return self._universe

    def chart_data(self, result: CorrResult) -> ChartData:
        data = self.pair(result.asset, result.benchmark)
        history = self.window_history(data, result.window)
        span = max(result.window.days, CHART_MIN_DAYS)
        start = result.as_of - pd.Timedelta(days=span)
        prices = data.aligned.loc[(data.aligned.index >= start) & (data.aligned.index <= result.as_of)]
        in_span = (history.pearson.index > start) & (history.pearson.index <= result.as_of)
        rho = history.pearson[in_span]
        n = history.n_obs[in_span]
        z = np.arctanh(rho.clip(-0.9999, 0.9999))
        se = 1.0 / np.sqrt((n - 3).where(n > 3))
        return ChartData(
            asset=result.asset,
            benchmark=result.benchmark,
            window=result.window,
            as_of=result.as_of,
            prices=prices[["a", "b"]],
            correlation=rho,
            ci_low=np.tanh(z - 1.96 * se),
            ci_high=np.tanh(z + 1.96 * se),
            ewma=self.ewma(data)[in_span],
            regimes=history.regimes.adopted[in_span],
            thresholds=self.thresholds,
            current=result.correlation,
            n_obs=result.n_obs,
            source=result.source,
            stale=result.stale and result.stale_kind != BUNDLED_END,  # the snapshot just ends: no badge
        )
