"""Pair analysis service: turns market data into the numbers a reply or a chart shows.

Everything here is computed from the analytics' pure functions; results are cached per pair, window and
data version, so repeated questions about the same pair cost a lookup.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from datetime import date
from typing import TypeVar, cast

import numpy as np
import pandas as pd
from cachetools import LRUCache

from bot.analysis.errors import AnalysisError
from bot.analysis.results import (
    AFTER_DATA,
    BEHIND,
    BUNDLED_END,
    PENDING,
    AsOf,
    Candidate,
    ChartData,
    CorrResult,
    PairData,
    RegimeNow,
    WindowHistory,
)
from bot.analysis.single_flight import SingleFlight
from bot.analytics import correlation as corr
from bot.analytics.divergence import divergence_z_series
from bot.analytics.regimes import RegimeHistory, regime_history
from bot.analytics.thresholds import DEFAULT_THRESHOLDS, Thresholds
from bot.assets import Asset
from bot.config import MarketDataMode
from bot.market import calendars
from bot.market.align import align, aligned_returns, alignment_label
from bot.market.data import MarketData, pair_freshness, sync_calendar
from bot.windows import Window

CHART_MIN_DAYS = 365
# Derived series (rolling measures per window, EWMA, divergence) kept per pair; every window anyone asks for
# adds one, so the cache is bounded and drops the least recently used.
DERIVED_CACHE = 128
PAIR_CACHE = 64


_MISSING = object()
_T = TypeVar("_T")


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
        self._pairs: LRUCache[tuple[str, str], tuple[tuple[object, ...], PairData]] = LRUCache(PAIR_CACHE)
        self._derived: LRUCache[tuple[object, ...], object] = LRUCache(DERIVED_CACHE)
        self._flights = SingleFlight()  # threads asking for the same pair or series at once compute it once

    # ---- data -------------------------------------------------------------------------------------
    def pair(self, asset: Asset, benchmark: Asset) -> PairData:
        """Aligned prices and returns of a pair; rebuilt (and its caches dropped) when a leg's data changes."""
        return self._flights.run(("pair", asset.symbol, benchmark.symbol), lambda: self._pair(asset, benchmark))

    def _pair(self, asset: Asset, benchmark: Asset) -> PairData:
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

    def derived(self, data: PairData, name: object, compute: Callable[[], _T]) -> _T:
        """Per-pair cache of derived series, valid as long as the pair's data is (services built on the analyzer,
        such as the gap paths of /odds, use it too)."""
        key = ((data.asset.symbol, data.benchmark.symbol), id(data), name)
        with self._lock:
            found = self._derived.get(key, _MISSING)
            if found is not _MISSING:
                return cast(_T, found)
        return self._flights.run(key, lambda: self._compute(key, compute))

    def _compute(self, key: tuple[object, ...], compute: Callable[[], _T]) -> _T:
        with self._lock:  # another thread may have stored it between the lookup and this call
            found = self._derived.get(key, _MISSING)
            if found is not _MISSING:
                return cast(_T, found)
        value = compute()
        with self._lock:
            self._derived[key] = value
        return value

    def window_history(self, data: PairData, window: Window) -> WindowHistory:
        def compute() -> WindowHistory:
            ra, rb = data.returns["ra"], data.returns["rb"]
            pearson = corr.rolling_pearson(ra, rb, window.days)
            spearman = corr.WindowSpearman(ra, rb, window.days)
            return WindowHistory(
                window,
                pearson,
                spearman,
                corr.rolling_count(ra, window.days),
                regime_history(pearson, spearman, self.thresholds),
            )

        return self.derived(data, ("window", window.days), compute)

    def ewma(self, data: PairData) -> pd.Series:
        return self.derived(data, "ewma", lambda: corr.ewma_correlation(data.returns["ra"], data.returns["rb"]))

    def divergence(self, data: PairData, horizon: int | None = None) -> pd.Series:
        h = horizon or self.thresholds.horizon
        return self.derived(
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
                f"no {data.key} data before {dates[0]:%Y-%m-%d}, its first return (its first price is on "
                f"{data.aligned.index[0]:%Y-%m-%d}); pick a later date"
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
                f"only {n} observation{'' if n == 1 else 's'} of {data.key} in the {window.label} window to "
                f"{when:%Y-%m-%d}; "
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
                    history.spearman.at(when),
                    _candidate_at(history.regimes, when, self.thresholds.dwell),
                )
            )
        return data, resolved, out

    def chart_data(self, result: CorrResult) -> ChartData:
        data = self.pair(result.asset, result.benchmark)
        history = self.window_history(data, result.window)
        span = max(result.window.days, CHART_MIN_DAYS)
        start = result.as_of - pd.Timedelta(days=span)
        prices = data.aligned.loc[(data.aligned.index >= start) & (data.aligned.index <= result.as_of)]
        in_span = (history.pearson.index > start) & (history.pearson.index <= result.as_of)
        rho = history.pearson[in_span]
        n = history.n_obs[in_span]
        ci_low, ci_high = corr.fisher_ci_arrays(rho.to_numpy(), n.to_numpy())
        return ChartData(
            asset=result.asset,
            benchmark=result.benchmark,
            window=result.window,
            as_of=result.as_of,
            prices=prices[["a", "b"]],
            correlation=rho,
            ci_low=pd.Series(ci_low, index=rho.index),
            ci_high=pd.Series(ci_high, index=rho.index),
            ewma=self.ewma(data)[in_span],
            regimes=history.regimes.adopted[in_span],
            thresholds=self.thresholds,
            current=result.correlation,
            n_obs=result.n_obs,
            source=result.source,
            stale=result.stale and result.stale_kind != BUNDLED_END,  # the snapshot just ends: no badge
        )
