"""Divergence z (docs/methods.md §3.7): how far the asset's last `horizon` returns stray from what its beta to
the benchmark implies, with the beta fitted on the 180 calendar days before the horizon (no look-ahead).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

HORIZON = 20
ESTIMATION_DAYS = 180
MIN_ESTIMATION_OBS = 60


def divergence_z_series(
    ra: pd.Series,
    rb: pd.Series,
    horizon: int = HORIZON,
    estimation_days: int = ESTIMATION_DAYS,
    min_obs: int = MIN_ESTIMATION_OBS,
) -> pd.Series:
    """z at every observation, vectorised with rolling sums; NaN where the estimation has too few returns."""
    span = f"{estimation_days}D"
    n = ra.rolling(span).count()
    mx, my = rb.rolling(span).mean(), ra.rolling(span).mean()
    var_x = rb.rolling(span).var(ddof=0)
    var_y = ra.rolling(span).var(ddof=0)
    cov = ra.rolling(span).cov(rb, ddof=0)
    b = cov / var_x
    a = my - b * mx
    ssr = (n * (var_y - cov * cov / var_x)).clip(lower=0.0)
    sigma = np.sqrt(ssr / (n - 2))
    ok = (n >= min_obs) & (var_x > 0)
    # estimation ends at the observation just before the horizon: shift by `horizon` observations
    a_e, b_e, s_e, ok_e = (s.shift(horizon) for s in (a, b, sigma, ok.astype(float)))
    sum_y = ra.rolling(horizon).sum()
    sum_x = rb.rolling(horizon).sum()
    resid = sum_y - horizon * a_e - b_e * sum_x
    z = resid / (s_e * math.sqrt(horizon))
    return z.where(ok_e == 1.0)


def divergence_z_at(
    ra: np.ndarray,
    rb: np.ndarray,
    dates: pd.DatetimeIndex,
    end: int,
    horizon: int = HORIZON,
    estimation_days: int = ESTIMATION_DAYS,
    min_obs: int = MIN_ESTIMATION_OBS,
) -> float:
    """The same z at one observation index, written out step by step (the reference for the series)."""
    est_end = end - horizon
    if est_end < 0:
        return math.nan
    in_est = (dates > dates[est_end] - pd.Timedelta(days=estimation_days)) & (dates <= dates[est_end])
    x, y = rb[in_est], ra[in_est]
    if len(x) < min_obs:
        return math.nan
    b, a = np.polyfit(x, y, 1)
    sigma = float(np.std(y - a - b * x, ddof=2))
    eps = ra[end - horizon + 1 : end + 1] - a - b * rb[end - horizon + 1 : end + 1]
    return float(eps.sum() / (sigma * math.sqrt(horizon)))
