"""What /gap answers with (docs/methods.md §8): plain result types over the analytics' gap arithmetic, apart from
the service so rendering can name them without loading the analyzer and its market calendars."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from bot.analysis.results import AsOf
from bot.analytics import gap as gm
from bot.analytics.thresholds import Regime
from bot.assets import Asset
from bot.windows import Window

GIVEN = "given"
END_OF_COUPLED = "end of coupled regime"


@dataclass(frozen=True)
class CoupledEnd:
    """The change that ended a coupled regime (docs/methods.md §4.3)."""

    began: pd.Timestamp | None  # "since" of the coupled regime that ended
    since: pd.Timestamp  # first observation of the dwell that ended it
    changed: pd.Timestamp  # the observation that completed the dwell
    to_regime: str


@dataclass(frozen=True)
class PairContext:
    """What every /gap answer says about the pair: the date, the regime now at the window, the data."""

    asset: Asset
    benchmark: Asset
    as_of: AsOf
    window: Window
    regime: str | None  # adopted regime at as_of (default thresholds)
    regime_since: pd.Timestamp | None
    correlation: float  # the window's correlation at as_of
    n_obs_window: int
    last_coupled_end: CoupledEnd | None  # the latest end of a coupled regime on or before as_of
    source: str
    sources: dict[str, str]
    data_end: pd.Timestamp

    @property
    def when(self) -> pd.Timestamp:
        return self.as_of.when

    @property
    def coupled(self) -> bool:
        return self.regime == Regime.COUPLED.value


@dataclass(frozen=True)
class CoupledNow:
    """The pair is coupled at as_of and no date was given: no gap to close."""

    pair: PairContext
    suggested_anchor: pd.Timestamp | None  # the session a `since` could name to measure anyway


@dataclass(frozen=True)
class GapResult:
    pair: PairContext
    anchor: pd.Timestamp  # t0
    anchor_kind: str  # GIVEN or END_OF_COUPLED
    requested_since: pd.Timestamp | None  # the date asked, if any
    coupled_end: CoupledEnd | None  # the change that set the anchor (END_OF_COUPLED)
    fit: gm.BetaFit
    gap: float  # g at as_of (log)
    n_obs: int  # returns from t0 to as_of
    path: pd.DataFrame  # date -> asset, implied, benchmark (rebased to 100 at t0), gap (log)
    alignment: str  # of the returns used: the beta's year and the span since t0

    @property
    def beta(self) -> float:
        return self.fit.beta

    @property
    def gap_pct(self) -> float:
        return gm.gap_percent(self.gap)

    @property
    def asset_move(self) -> float:
        return gm.asset_move_to_close(self.gap)

    @property
    def gap_se(self) -> float:
        """SD of the gap after n_obs returns under the fit's model (σ_ε·√n, docs/methods.md §8.3)."""
        return gm.gap_standard_error(self.fit.resid_sd, self.n_obs)

    @property
    def gap_z(self) -> float:
        return gm.gap_z(self.gap, self.fit.resid_sd, self.n_obs)

    @property
    def alpha_drift(self) -> float:
        """The fit's intercept over the gap's returns (α·n): the drift the beta line leaves out."""
        return self.fit.alpha * self.n_obs

    @property
    def benchmark_move_withheld_reason(self) -> str | None:
        return gm.benchmark_move_withheld_reason(self.beta, self.fit.beta_se, self.fit.correlation)

    @property
    def benchmark_move(self) -> float | None:
        """The benchmark move that closes the gap alone; None when it is withheld (see the reason)."""
        if self.benchmark_move_withheld_reason is not None:
            return None
        return gm.benchmark_move_to_close(self.gap, self.beta)

    def band(self, sigmas: float) -> pd.Series:
        """The beta-implied path (rebased to 100) shifted by `sigmas` standard deviations of the gap at each
        observation since t0 (σ_ε·√k after k returns): the ±1σ/±2σ band of the chart."""
        steps = np.arange(len(self.path))
        return self.path["implied"] * np.exp(gm.gap_band(self.fit.resid_sd, steps, sigmas))

    def change(self, column: str) -> float:
        """Change since t0 of 'asset', 'implied' or 'benchmark', as a fraction."""
        return float(self.path[column].iloc[-1]) / 100.0 - 1.0
