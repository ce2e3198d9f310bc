"""The gap episodes of a pair's history (docs/methods.md §10.1): every end of a coupled regime at the window
gives an anchor and a beta line, exactly as /gap's default anchor (§8.1–8.2); the gap from that line is watched
from the session the regime change is known until the pair is coupled again (as the gap alert watches it,
§8.6), and its episodes are found by bot/analytics/episodes.py.

Everything a path holds depends only on data up to its own dates (the regimes, the beta's year before t0), so
a path cut at a date is what the same computation gives with the data up to that date: `GapPath.until` is the
point-in-time view the alert's base rate and `--as-of` use.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from bot.analysis.results import PairData
from bot.analytics import episodes as ep
from bot.analytics import gap as gm
from bot.analytics.thresholds import Regime
from bot.assets import Asset
from bot.windows import Window

if TYPE_CHECKING:
    from bot.analysis.analyzer import PairAnalyzer

CLOSED = "closed"
OPEN = "open"  # still open at the end of the data or at the date asked: censored there
RECOUPLED = "re-coupled"  # the pair became coupled again with the gap open: the watch ended, censored there


@dataclass(frozen=True)
class GapPath:
    """The gap from one anchor, session by session, over the sessions it is watched."""

    pair: str  # "ETH:RUT"
    anchor: pd.Timestamp  # t0
    beta: float
    resid_sd: float  # σ_ε of the beta fit
    dates: pd.DatetimeIndex  # watched sessions
    steps: np.ndarray  # returns from t0 to each session (n of gap_z)
    gap: np.ndarray  # g
    gap_z: np.ndarray
    log_a: np.ndarray
    log_b: np.ndarray
    recoupled: pd.Timestamp | None  # the regime change back to coupled that ended the watch

    def until(self, when: pd.Timestamp) -> GapPath:
        """The path as known at `when`: its sessions up to then, a re-coupling only if it happened by then."""
        keep = int(self.dates.searchsorted(when, side="right"))
        recoupled = self.recoupled if self.recoupled is not None and self.recoupled <= when else None
        return replace(self, dates=self.dates[:keep], steps=self.steps[:keep], gap=self.gap[:keep],
                       gap_z=self.gap_z[:keep], log_a=self.log_a[:keep], log_b=self.log_b[:keep], recoupled=recoupled)


@dataclass(frozen=True)
class Episode:
    pair: str
    anchor: pd.Timestamp
    beta: float
    start: pd.Timestamp  # first session with |gap_z| >= 1.5
    peak: pd.Timestamp  # the session of the largest |g|
    end: pd.Timestamp  # closing session, or the last one watched (censored)
    outcome: str  # CLOSED | OPEN | RECOUPLED
    duration: int  # sessions from start to end
    start_z: float
    peak_gap: float  # g at the peak (log)
    peak_z: float
    asset_leg: float  # the asset's log move from peak to end
    benchmark_leg: float  # −β · the benchmark's log move from peak to end
    asset_share: float | None  # the asset's share of the change in g from peak to end

    @property
    def closed(self) -> bool:
        return self.outcome == CLOSED

    @property
    def closed_by_asset(self) -> bool | None:
        """Did the asset do at least half of the closing? None for an episode that did not close."""
        if not self.closed or self.asset_share is None:
            return None
        return self.asset_share >= 0.5


def gap_path(data: PairData, t0: pd.Timestamp, fit: gm.BetaFit, first: pd.Timestamp,
             recoupled: pd.Timestamp | None) -> GapPath:
    """The gap from t0 with `fit`'s beta over the sessions in [first, recoupled)."""
    prices = data.aligned
    index = prices.index
    origin = int(index.get_loc(t0))
    lo = int(index.searchsorted(first, side="left"))
    hi = len(index) if recoupled is None else int(index.searchsorted(recoupled, side="left"))
    log_a = np.log(prices["a"].to_numpy(float))
    log_b = np.log(prices["b"].to_numpy(float))
    gap = (log_a[lo:hi] - log_a[origin]) - fit.beta * (log_b[lo:hi] - log_b[origin])
    steps = np.arange(lo, hi) - origin
    z = np.array([gm.gap_z(float(g), fit.resid_sd, int(n)) for g, n in zip(gap, steps, strict=True)], float)
    return GapPath(data.key, t0, fit.beta, fit.resid_sd, index[lo:hi], steps, gap, z, log_a[lo:hi], log_b[lo:hi],
                   recoupled)


def default_anchor_paths(analyzer: PairAnalyzer, asset: Asset, benchmark: Asset, window: Window) -> list[GapPath]:
    """One path per end of a coupled regime with a usable beta (at least 60 returns in the year to t0), over
    the whole history; cached with the pair's data."""
    data = analyzer.pair(asset, benchmark)

    def compute() -> list[GapPath]:
        changes = analyzer.window_history(data, window).regimes.changes
        rets = data.returns
        paths = []
        for i, change in enumerate(changes):
            if change.from_regime is not Regime.COUPLED:
                continue
            t0 = gm.session_before(data.aligned.index, change.since)
            if t0 is None:
                continue
            fit = gm.fit_beta(rets["ra"], rets["rb"], t0)
            if fit.n_obs < gm.MIN_BETA_OBS or not np.isfinite(fit.beta) or not np.isfinite(fit.resid_sd):
                continue
            back = next((c.as_of for c in changes[i + 1:] if c.to_regime is Regime.COUPLED), None)
            paths.append(gap_path(data, t0, fit, change.as_of, back))
        return paths

    return analyzer.derived(data, ("gap paths", window.days), compute)


def path_episodes(path: GapPath) -> list[Episode]:
    """The episodes of one path (cut it with `until` first for a point-in-time view)."""
    spans = ep.find_episodes(path.gap, path.gap_z, path.log_a, path.log_b, path.beta)
    last = len(path.dates) - 1
    episodes = []
    for span in spans:
        ended_by_recoupling = path.recoupled is not None and span.end == last
        outcome = CLOSED if span.closed else RECOUPLED if ended_by_recoupling else OPEN
        episodes.append(Episode(
            pair=path.pair, anchor=path.anchor, beta=path.beta, start=path.dates[span.start],
            peak=path.dates[span.peak], end=path.dates[span.end], outcome=outcome, duration=span.duration,
            start_z=float(path.gap_z[span.start]), peak_gap=float(path.gap[span.peak]),
            peak_z=float(path.gap_z[span.peak]), asset_leg=span.asset_leg, benchmark_leg=span.benchmark_leg,
            asset_share=span.asset_share if span.closed else None,
        ))
    return episodes


def pair_episodes(analyzer: PairAnalyzer, asset: Asset, benchmark: Asset, window: Window,
                  when: pd.Timestamp) -> list[Episode]:
    """The pair's episodes as known at `when` (those still open then are censored there)."""
    found = []
    for path in default_anchor_paths(analyzer, asset, benchmark, window):
        if len(path.dates) and path.dates[0] <= when:
            found.extend(path_episodes(path.until(when)))
    return found
