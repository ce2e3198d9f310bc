"""The gap (docs/methods.md §8): how far an asset has strayed from the path its beta to a benchmark implies
since an anchor session t0, and the moves that would close it. Pure: Series and numbers in, numbers out.

    beta    OLS slope of r_a on r_b over the returns dated in (t0 − 365 days, t0]   (at least 60 of them)
    g(t)  = ln(PA(t)/PA(t0)) − beta · ln(PB(t)/PB(t0))
    asset move that closes it          exp(−g) − 1
    benchmark move that closes it alone exp(g/beta) − 1   (withheld: `benchmark_move_withheld_reason`)
    gap_se = σ_ε · √n,  gap_z = g / gap_se    σ_ε the residual SD of the fit (ddof 2), n the returns since t0

Under the fit's own model (r_a = α + β·r_b + ε, ε independent with SD σ_ε, the intercept dropped as the beta line
drops it) g is a driftless random walk of n steps, so gap_se is its standard deviation and gap_z says how unusual
the gap is (docs/methods.md §8.3).

Prices are the pair's aligned prices (sync-close for crypto against an equity or index, §1.3); returns are the
pair's log returns (§2.1), dated by the later observation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

BETA_DAYS = 365  # the fit's calendar span, the window rule of `/corr 1y` (§2.3)
MIN_BETA_OBS = 60  # returns the fit needs
Z_95 = 1.959964  # two-sided 95% normal quantile: a beta within 1.96 standard errors of 0 is not significant
MIN_MOVE_CORRELATION = 0.3  # below this |ρ| the fit explains under 9% of the asset's moves: no benchmark move

# why a benchmark move is withheld (docs/methods.md §8.3), in the order they are checked
BETA_NOT_POSITIVE = "beta not positive"
BETA_NOT_SIGNIFICANT = "beta not significant"
WEAK_CORRELATION = "weak correlation"


@dataclass(frozen=True)
class BetaFit:
    beta: float  # OLS slope (cov / var, ddof 1); NaN when the benchmark did not move
    correlation: float  # Pearson of the same returns: how good a guide the beta is
    n_obs: int
    start: pd.Timestamp | None  # first return date in the fit
    end: pd.Timestamp | None  # last return date in the fit (t0, when t0 has a return)
    alpha: float = math.nan  # OLS intercept (per return): the drift the beta line leaves out
    resid_sd: float = math.nan  # σ_ε, SD of the residuals r_a − α − β·r_b with ddof 2
    beta_se: float = math.nan  # standard error of beta: σ_ε / √Σ(r_b − mean)²


def beta_window(index: pd.DatetimeIndex, t0: pd.Timestamp, days: int = BETA_DAYS) -> np.ndarray:
    """Returns dated in (t0 − days, t0]: what pandas' rolling('<days>D') takes at t0."""
    mask: np.ndarray = (index > t0 - pd.Timedelta(days=days)) & (index <= t0)
    return mask


def fit_beta(ra: pd.Series, rb: pd.Series, t0: pd.Timestamp, days: int = BETA_DAYS) -> BetaFit:
    """OLS slope of the asset's returns on the benchmark's over the year ending at t0 (no look-ahead)."""
    inside = beta_window(pd.DatetimeIndex(ra.index), t0, days)
    x = np.asarray(rb.to_numpy(float)[inside], float)
    y = np.asarray(ra.to_numpy(float)[inside], float)
    n = len(x)
    dates = ra.index[inside]
    start, end = (dates[0], dates[-1]) if n else (None, None)
    if n < 2:
        return BetaFit(math.nan, math.nan, n, start, end)
    dx, dy = x - x.mean(), y - y.mean()
    sxx, syy, sxy = float(dx @ dx), float(dy @ dy), float(dx @ dy)
    slope = sxy / sxx if sxx > 0 else math.nan
    rho = sxy / math.sqrt(sxx * syy) if sxx > 0 and syy > 0 else math.nan
    if not math.isfinite(slope) or n < 3:
        return BetaFit(slope, rho, n, start, end)
    alpha = float(y.mean() - slope * x.mean())
    ssr = max(syy - slope * sxy, 0.0)  # Σ residual², of the fit with its intercept
    resid_sd = math.sqrt(ssr / (n - 2))
    return BetaFit(slope, rho, n, start, end, alpha, resid_sd, resid_sd / math.sqrt(sxx))


def gap_standard_error(resid_sd: float, n: int) -> float:
    """SD of the gap after n returns under the fit's model: σ_ε·√n (NaN without a σ_ε or a return)."""
    if n < 1 or not math.isfinite(resid_sd):
        return math.nan
    return resid_sd * math.sqrt(n)


def gap_z(gap: float, resid_sd: float, n: int) -> float:
    """The gap in units of its standard deviation under the fit's model, g / (σ_ε·√n); NaN when undefined."""
    se = gap_standard_error(resid_sd, n)
    if not math.isfinite(se) or se <= 0 or not math.isfinite(gap):
        return math.nan
    return gap / se


def gap_band(resid_sd: float, steps: np.ndarray, sigmas: float) -> np.ndarray:
    """The log offset of the ±`sigmas` band around the beta-implied path after `steps` returns: sigmas·σ_ε·√k."""
    offsets: np.ndarray = sigmas * resid_sd * np.sqrt(np.asarray(steps, float))
    return offsets


def beta_standard_error_from_correlation(beta: float, correlation: float, n: int) -> float:
    """The OLS beta's standard error from the fit's correlation and returns (its t is ρ·√(n − 2)/√(1 − ρ²)):
    |β|·√(1 − ρ²) / (|ρ|·√(n − 2)); NaN when undefined."""
    if n <= 2 or not (math.isfinite(beta) and math.isfinite(correlation)) or correlation == 0:
        return math.nan
    return abs(beta) * math.sqrt(max(1.0 - correlation * correlation, 0.0)) / (abs(correlation) * math.sqrt(n - 2))


def beta_significant(beta: float, beta_se: float) -> bool:
    """Is beta different from 0 at 95% (|β| ≥ 1.96 standard errors)?"""
    return math.isfinite(beta) and math.isfinite(beta_se) and abs(beta) >= Z_95 * beta_se


def benchmark_move_withheld_reason(beta: float, beta_se: float, correlation: float) -> str | None:
    """Why no benchmark move closes the gap in a way worth offering (None: it is offered). A benchmark move
    exp(g/β) − 1 reads as a catch-up only for a positive beta that the data can tell from 0, from a fit that
    explains something: BETA_NOT_POSITIVE, BETA_NOT_SIGNIFICANT or WEAK_CORRELATION, the first that holds."""
    if not math.isfinite(beta) or beta <= 0:
        return BETA_NOT_POSITIVE
    if not beta_significant(beta, beta_se):
        return BETA_NOT_SIGNIFICANT
    if not math.isfinite(correlation) or abs(correlation) < MIN_MOVE_CORRELATION:
        return WEAK_CORRELATION
    return None


def gap_series(pa: pd.Series, pb: pd.Series, t0: pd.Timestamp, beta: float) -> pd.Series:
    """g(t) for every observation from t0 on (g(t0) = 0): the asset's log distance from its beta path."""
    a, b = pa.loc[t0:], pb.loc[t0:]
    return np.log(a / a.iloc[0]) - beta * np.log(b / b.iloc[0])


def implied_log_path(pb: pd.Series, t0: pd.Timestamp, beta: float) -> pd.Series:
    """ln of the asset's beta-implied price relative to t0: beta · ln(PB(t)/PB(t0))."""
    b = pb.loc[t0:]
    return beta * np.log(b / b.iloc[0])


def gap_paths(pa: pd.Series, pb: pd.Series, t0: pd.Timestamp, beta: float) -> pd.DataFrame:
    """From t0 on: the asset, its beta-implied path and the benchmark, each rebased to 100 at t0, and g."""
    a, b = pa.loc[t0:], pb.loc[t0:]
    implied = implied_log_path(b, t0, beta)
    return pd.DataFrame({
        "asset": 100.0 * a / a.iloc[0],
        "implied": 100.0 * np.exp(implied),
        "benchmark": 100.0 * b / b.iloc[0],
        "gap": gap_series(a, b, t0, beta),
    })


def asset_move_to_close(gap: float) -> float:
    """The asset move (as a fraction) that puts it back on its beta line, the benchmark unchanged."""
    return math.expm1(-gap)


def benchmark_move_to_close(gap: float, beta: float) -> float | None:
    """The benchmark move that closes the gap alone (the asset unchanged, the implied path moving to it): the
    arithmetic only, None when beta is 0. Whether to offer it is `benchmark_move_withheld_reason`'s call."""
    if not math.isfinite(beta) or beta == 0:
        return None
    log_move = gap / beta
    if log_move > 700:  # beyond a float (exp(700) ≈ 1e304): no number to give
        return None
    return math.expm1(log_move)


def gap_percent(gap: float) -> float:
    """The gap as the asset's price relative to its beta-implied price, minus 1: −0.31 is '31% below'."""
    return math.expm1(gap)


def session_before(index: pd.DatetimeIndex, when: pd.Timestamp) -> pd.Timestamp | None:
    """The last observation strictly before `when`; None when there is none."""
    position = int(index.searchsorted(when, side="left")) - 1
    return index[position] if position >= 0 else None


def session_on_or_before(index: pd.DatetimeIndex, when: pd.Timestamp) -> pd.Timestamp | None:
    """The last observation on or before `when`; None when `when` is before the first one."""
    position = int(index.searchsorted(when, side="right")) - 1
    return index[position] if position >= 0 else None
