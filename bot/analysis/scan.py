"""The universe scan (/scan) and the correlation matrix (/matrix), on top of the pair analysis service.

The universe is every crypto asset against every equity/index benchmark that has data right now: the built-in
tickers and the ones users added (`bot.assets.all_assets`); a ticker without data (SPX and NDX in snapshot
mode) is left out and named. There is one universe per bot process, not one per chat.

Every number comes from `PairAnalyzer`: a scan row is the pair's `/corr` answer at as_of (the same
`PairAnalyzer.correlation` call, so the same alignment, window, ρ, regime and divergence z) plus the same
window's correlation `LOOKBACK` observations earlier and the decoupling score (bot/analytics/scan.py,
docs/methods.md §9). A matrix cell is the `/corr` answer of its pair at the matrix's date.

Results are cached per question (window, date asked, chosen tickers) and data version (every leg's source
and version): a scan of the universe is computed once per data version and window, however many chats ask;
new data makes a new key, and the old entries age out of the LRU.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from datetime import date
from typing import TYPE_CHECKING, TypeVar, cast

import numpy as np
import pandas as pd
from cachetools import LRUCache

from bot.analysis.errors import AnalysisError
from bot.analysis.results import AsOf
from bot.analysis.scan_results import (
    MATRIX_MAX_ASSETS,
    SNAPSHOT_LEFT_OUT,
    LeftOut,
    MatrixData,
    ScanResult,
    ScanRow,
    SkippedPair,
    Universe,
    matrix_order,
)
from bot.analytics.scan import LOOKBACK, decoupling_score, lookback_for, ranking, shared_returns
from bot.assets import Asset, all_assets
from bot.config import MarketDataMode
from bot.market.errors import NoData
from bot.windows import Window

if TYPE_CHECKING:
    from bot.analysis.analyzer import PairAnalyzer

SCAN_CACHE = 32
MATRIX_CACHE = 32


T = TypeVar("T")
CacheKey = tuple[object, ...]
_MISSING = object()


def _first_line(exc: Exception) -> str:
    return str(exc).split("\n", 1)[0]


class UniverseScanner:
    """Scans and matrices over the universe, cached per question and data version."""

    def __init__(self, analyzer: PairAnalyzer, lookback: int = LOOKBACK):
        self.analyzer = analyzer
        self.lookback = lookback
        self._lock = threading.Lock()
        self._scans: LRUCache[CacheKey, ScanResult] = LRUCache(SCAN_CACHE)
        self._matrices: LRUCache[CacheKey, MatrixData] = LRUCache(MATRIX_CACHE)
        self._computing: dict[CacheKey, threading.Lock] = {}
        self.computed = 0  # scans and matrices actually computed (not served from the cache)

    # ---- the universe -----------------------------------------------------------------------------
    def universe(self, assets: Sequence[Asset] | None = None) -> Universe:
        """The registered tickers (or `assets`) split into crypto and benchmarks with data, and the rest."""
        crypto: list[Asset] = []
        benchmarks: list[Asset] = []
        left_out: list[LeftOut] = []
        version = []
        for asset in assets if assets is not None else all_assets():
            try:
                leg = self.analyzer.market.leg(asset)
            except NoData as exc:
                snapshot = self.analyzer.market.mode is MarketDataMode.SNAPSHOT
                left_out.append(LeftOut(asset.symbol, SNAPSHOT_LEFT_OUT if snapshot else _first_line(exc)))
                continue
            if not len(leg.prices.daily):
                left_out.append(LeftOut(asset.symbol, f"{asset.symbol} has no prices yet"))
                continue
            (crypto if asset.is_crypto else benchmarks).append(asset)
            version.append((asset.symbol, leg.source, leg.version))
        return Universe(tuple(crypto), tuple(benchmarks), tuple(left_out), tuple(version))

    def _cached(self, cache: LRUCache[CacheKey, T], key: CacheKey, compute: Callable[[], T]) -> T:
        """One computation per key, also when several requests ask at once."""
        with self._lock:
            found = cache.get(key, _MISSING)
            if found is not _MISSING:
                return cast(T, found)
            computing = self._computing.setdefault(key, threading.Lock())
        with computing:
            with self._lock:
                found = cache.get(key, _MISSING)
                if found is not _MISSING:
                    return cast(T, found)
            try:
                value = compute()
            finally:
                with self._lock:
                    self._computing.pop(key, None)
            with self._lock:
                cache[key] = value
                self.computed += 1
            return value

    # ---- /scan ------------------------------------------------------------------------------------
    def scan(self, window: Window, as_of: date | None = None) -> ScanResult:
        """Every pair of the universe at `as_of` (each pair's last observation on or before it), ranked by
        the decoupling score. AnalysisError when the universe has no pair at all."""
        universe = self.universe()
        if not universe.crypto or not universe.benchmarks:
            missing = "crypto asset" if not universe.crypto else "equity or index benchmark"
            raise AnalysisError(f"no {missing} has data, so there is no pair to scan")
        requested = None if as_of is None else pd.Timestamp(as_of)
        key = ("scan", window.days, requested, self.lookback, universe.version)
        return self._cached(self._scans, key, lambda: self._scan(universe, window, requested))

    def lookback_for(self, window: Window) -> int:
        return lookback_for(window.days, self.lookback)

    def _scan(self, universe: Universe, window: Window, requested: pd.Timestamp | None) -> ScanResult:
        rows: list[ScanRow] = []
        skipped: list[SkippedPair] = []
        for asset, benchmark in universe.pairs:
            try:
                rows.append(self.row(asset, benchmark, window, requested))
            except (AnalysisError, NoData) as exc:
                skipped.append(SkippedPair(f"{asset.symbol}:{benchmark.symbol}", _first_line(exc)))
        order = ranking([r.score for r in rows], [r.divergence_z for r in rows], [r.pair for r in rows])
        return ScanResult(window, requested, tuple(rows[i] for i in order), universe.left_out, tuple(skipped),
                          self.lookback_for(window))

    def row(self, asset: Asset, benchmark: Asset, window: Window, as_of: date | None = None) -> ScanRow:
        """One pair's scan row: its /corr answer, the correlation `lookback` observations before (the window's
        lookback, `lookback_for`), the score with the returns both windows share."""
        result = self.analyzer.correlation(asset, benchmark, window, as_of)
        data = self.analyzer.pair(asset, benchmark)
        dates = data.returns.index
        position = dates.get_loc(result.as_of) - self.lookback_for(window)
        if position < 0:
            return ScanRow(result, None, None, 0, None)
        before = dates[position]
        rho_before, n_before = self.analyzer.window_correlation(data, window, before)
        shared = shared_returns(dates.to_numpy(), result.as_of.to_datetime64(), before.to_datetime64(), window.days)
        score = decoupling_score(result.correlation, result.n_obs, rho_before, n_before, shared)
        return ScanRow(result, score, None if math.isnan(rho_before) else rho_before, n_before, before, shared)

    # ---- /matrix ----------------------------------------------------------------------------------
    def matrix(self, window: Window, assets: Sequence[Asset] | None = None, as_of: date | None = None) -> MatrixData:
        """Pairwise correlations of `assets` (default: the universe's assets) at one common date: the last
        observation every pair has on or before `as_of` (docs/methods.md §9.4)."""
        universe = self.universe(assets)
        chosen = matrix_order(universe.assets)
        if len(chosen) < 2:
            have = ", ".join(a.symbol for a in chosen) or "none"
            raise AnalysisError(f"a matrix needs at least two tickers with data (with data: {have})")
        if len(chosen) > MATRIX_MAX_ASSETS:
            raise AnalysisError(f"a matrix shows at most {MATRIX_MAX_ASSETS} tickers, not {len(chosen)}")
        requested = None if as_of is None else pd.Timestamp(as_of)
        key = ("matrix", window.days, tuple(a.symbol for a in chosen), requested, universe.version)
        return self._cached(self._matrices, key, lambda: self._matrix(universe, chosen, window, requested))

    def _matrix(
        self, universe: Universe, chosen: tuple[Asset, ...], window: Window, requested: pd.Timestamp | None
    ) -> MatrixData:
        k = len(chosen)
        pairs = [(i, j) for i in range(k) for j in range(i + 1, k)]
        missing: list[SkippedPair] = []
        resolved: dict[tuple[int, int], AsOf] = {}
        for i, j in pairs:
            try:
                data = self.analyzer.pair(chosen[i], chosen[j])
                resolved[(i, j)] = self.analyzer.resolve_as_of(data, requested)
            except (AnalysisError, NoData) as exc:
                missing.append(SkippedPair(f"{chosen[i].symbol}:{chosen[j].symbol}", _first_line(exc)))
        if not resolved:
            reason = missing[0].reason if missing else "no pair has observations"
            raise AnalysisError(reason)
        # the common date: the earliest of the pairs' own answers, so every cell is /corr as of that date
        first = min(resolved.values(), key=lambda r: r.when)
        stale = next((r for r in resolved.values() if r.stale), None)
        when = first.when
        as_of = AsOf(when, stale is not None, stale.reason if stale else None,
                     stale.stale_kind if stale else None, requested)
        values = np.full((k, k), np.nan)
        counts = np.zeros((k, k), dtype=int)
        np.fill_diagonal(values, 1.0)
        alignment: dict[str, str] = {}
        for i, j in resolved:
            name = f"{chosen[i].symbol}:{chosen[j].symbol}"
            try:
                result = self.analyzer.correlation(chosen[i], chosen[j], window, when)
            except (AnalysisError, NoData) as exc:
                missing.append(SkippedPair(name, _first_line(exc)))
                continue
            values[i, j] = values[j, i] = result.correlation
            counts[i, j] = counts[j, i] = result.n_obs
            alignment[name] = result.alignment
        sources = {symbol: source for symbol, source, _ in universe.version}
        return MatrixData(window, as_of, chosen, values, counts, alignment,
                          {a.symbol: sources[a.symbol] for a in chosen}, universe.left_out, tuple(missing))
