"""Correlation measures (docs/methods.md §3). Pure: arrays or date-indexed Series in, numbers out."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

MIN_OBS = 15
EWMA_LAMBDA = 0.97
EWMA_MIN_OBS = 20
CHANGE_RECENT = 60
CHANGE_BEFORE = 250
# Fisher's z: the 95 % normal quantile, and |rho| clipped below 1 so atanh stays finite
Z95 = 1.96
FISHER_CLIP = 0.9999


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    x = x - x.sum() / len(x)  # np.mean's own arithmetic (a pairwise sum over n), without its dispatch
    y = y - y.sum() / len(y)
    denom = math.sqrt(float(np.dot(x, x)) * float(np.dot(y, y)))
    return float(np.dot(x, y) / denom) if denom > 0 else math.nan


def average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n with ties sharing their average rank (as Spearman needs)."""
    values = np.asarray(values, float)
    n = len(values)
    order = np.argsort(values)  # any order of equal values gives them the same average rank
    sorted_vals = values[order]
    ranks = np.empty(n, float)
    new_run = sorted_vals[1:] != sorted_vals[:-1]
    if new_run.all():  # no ties, the usual case for returns: each value its position
        ranks[order] = np.arange(1.0, n + 1.0)
        return ranks
    # boundaries of runs of equal values
    starts = np.flatnonzero(np.concatenate(([True], new_run)))
    ends = np.append(starts[1:], n)
    avg = (starts + ends + 1) / 2.0  # mean of 1-based positions start+1 .. end
    ranks[order] = np.repeat(avg, ends - starts)
    return ranks


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    return pearson(average_ranks(x), average_ranks(y))


def beta(asset: np.ndarray, bench: np.ndarray) -> float:
    """cov(r_a, r_b) / var(r_b), both with ddof=1."""
    bench = np.asarray(bench, float)
    var = float(np.var(bench, ddof=1))
    if var <= 0:
        return math.nan
    return float(np.cov(np.asarray(asset, float), bench, ddof=1)[0, 1] / var)


def fisher_ci(rho: float, n: int, z_crit: float = Z95) -> tuple[float, float]:
    if n <= 3 or math.isnan(rho):
        return (math.nan, math.nan)
    z = math.atanh(max(-FISHER_CLIP, min(FISHER_CLIP, rho)))
    se = 1.0 / math.sqrt(n - 3)
    return (math.tanh(z - z_crit * se), math.tanh(z + z_crit * se))


def fisher_ci_arrays(rho: ArrayLike, n: ArrayLike, z_crit: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """`fisher_ci` element-wise: NaN where n <= 3 or rho is NaN."""
    rho_arr = np.asarray(rho, dtype=float)
    n_arr = np.asarray(n, dtype=float)
    z = np.arctanh(np.clip(rho_arr, -FISHER_CLIP, FISHER_CLIP))
    with np.errstate(invalid="ignore", divide="ignore"):
        se = np.where(n_arr > 3, 1.0 / np.sqrt(np.where(n_arr > 3, n_arr - 3, 1.0)), np.nan)
    return np.tanh(z - z_crit * se), np.tanh(z + z_crit * se)


def fisher_change_z(recent: tuple[float, int], before: tuple[float, int]) -> float:
    """Z of the difference between two correlations (Fisher): (z1 - z2) / sqrt(1/(n1-3) + 1/(n2-3))."""
    (r1, n1), (r2, n2) = recent, before
    z1 = math.atanh(max(-FISHER_CLIP, min(FISHER_CLIP, r1)))
    z2 = math.atanh(max(-FISHER_CLIP, min(FISHER_CLIP, r2)))
    return (z1 - z2) / math.sqrt(1.0 / (n1 - 3) + 1.0 / (n2 - 3))


def change_test(ra: np.ndarray, rb: np.ndarray) -> float | None:
    """Fisher test of the last 60 observations against the 250 before them; None when history is shorter."""
    need = CHANGE_RECENT + CHANGE_BEFORE
    if len(ra) < need:
        return None
    recent = pearson(ra[-CHANGE_RECENT:], rb[-CHANGE_RECENT:])
    before = pearson(ra[-need:-CHANGE_RECENT], rb[-need:-CHANGE_RECENT])
    return fisher_change_z((recent, CHANGE_RECENT), (before, CHANGE_BEFORE))


def window_mask(index: pd.DatetimeIndex, as_of: pd.Timestamp, days: int) -> np.ndarray:
    """Observations dated in (as_of - span, as_of], as pandas' rolling('<days>D') takes them."""
    mask: np.ndarray = (index > as_of - pd.Timedelta(days=days)) & (index <= as_of)
    return mask


def rolling_pearson(ra: pd.Series, rb: pd.Series, days: int) -> pd.Series:
    """Correlation of every calendar-span window ending at each observation (NaN below MIN_OBS)."""
    return ra.rolling(f"{days}D", min_periods=MIN_OBS).corr(rb)


def rolling_count(ra: pd.Series, days: int) -> pd.Series:
    return ra.rolling(f"{days}D").count().astype(int)


def rolling_beta(ra: pd.Series, rb: pd.Series, days: int) -> pd.Series:
    roll_b = rb.rolling(f"{days}D", min_periods=MIN_OBS)
    return ra.rolling(f"{days}D", min_periods=MIN_OBS).cov(rb) / roll_b.var()


MATRIX_MAX_WIDTH = 400  # windows up to this many observations are ranked all at once (n x width matrix)


def window_starts(index: pd.DatetimeIndex, days: int) -> np.ndarray:
    """Position of the first observation of the calendar-span window ending at each observation."""
    dates = index.to_numpy()
    starts: np.ndarray = np.searchsorted(dates, dates - np.timedelta64(days, "D"), side="right")
    return starts


class WindowSpearman:
    """The Spearman of the calendar-span window ending at observation i, computed when first asked, then kept.

    Ranking every window of a long history is most of a cold /corr's time (about 0.3 s for a window of years),
    while the regime replay needs the rank correlation only on the dates where a change could be building
    (`regime_history`). Each value is `spearman` of that window, as `rolling_spearman` and the alert replay
    compute it."""

    def __init__(self, ra: pd.Series, rb: pd.Series, days: int):
        self.index = pd.DatetimeIndex(ra.index)
        self._x, self._y = ra.to_numpy(float), rb.to_numpy(float)
        self._starts = window_starts(self.index, days)
        self._values: dict[int, float] = {}

    def __len__(self) -> int:
        return len(self._x)

    def __call__(self, i: int) -> float:
        value = self._values.get(i)
        if value is None:
            start = int(self._starts[i])
            enough = i + 1 - start >= MIN_OBS
            value = spearman(self._x[start : i + 1], self._y[start : i + 1]) if enough else math.nan
            self._values[i] = value
        return value

    def at(self, when: pd.Timestamp) -> float:
        """The value at an observation date; NaN for a date that is not one."""
        if when not in self.index:
            return math.nan
        return self(int(self.index.get_loc(when)))

    @property
    def computed(self) -> int:
        """How many windows were ranked so far."""
        return len(self._values)


def rolling_spearman(ra: pd.Series, rb: pd.Series, days: int) -> pd.Series:
    """Spearman of each calendar-span window ending at each observation (NaN below MIN_OBS)."""
    starts = window_starts(pd.DatetimeIndex(ra.index), days)
    lengths = np.arange(len(starts)) + 1 - starts
    x, y = ra.to_numpy(float), rb.to_numpy(float)
    if len(x) and lengths.max() <= MATRIX_MAX_WIDTH:
        out = _spearman_by_matrix(x, y, starts, int(lengths.max()))
    else:
        out = np.full(len(x), np.nan)
        for i, start in enumerate(starts):
            if i + 1 - start >= MIN_OBS:
                out[i] = spearman(x[start : i + 1], y[start : i + 1])
    out[lengths < MIN_OBS] = np.nan
    return pd.Series(out, index=ra.index)


def _spearman_by_matrix(x: np.ndarray, y: np.ndarray, starts: np.ndarray, width: int) -> np.ndarray:
    """Every window as a right-aligned row of a NaN-padded matrix; pandas ranks rows (ties averaged)."""
    ends = np.arange(len(x))
    cols = ends[:, None] - (width - 1) + np.arange(width)[None, :]
    valid = cols >= starts[:, None]
    cols = np.clip(cols, 0, None)

    def centred_ranks(values: np.ndarray) -> np.ndarray:
        ranks = pd.DataFrame(np.where(valid, values[cols], np.nan)).rank(axis=1).to_numpy()
        mean = np.nanmean(ranks, axis=1, keepdims=True)
        return np.where(valid, ranks - mean, 0.0)

    dx, dy = centred_ranks(x), centred_ranks(y)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho: np.ndarray = (dx * dy).sum(axis=1) / np.sqrt((dx * dx).sum(axis=1) * (dy * dy).sum(axis=1))
    return rho


def ewma_correlation(ra: pd.Series, rb: pd.Series, lam: float = EWMA_LAMBDA) -> pd.Series:
    """Zero-mean EWMA correlation from the first return of the history; NaN before the 20th observation."""
    alpha = 1.0 - lam
    sxy = (ra * rb).ewm(alpha=alpha, adjust=False).mean()
    sxx = (ra * ra).ewm(alpha=alpha, adjust=False).mean()
    syy = (rb * rb).ewm(alpha=alpha, adjust=False).mean()
    rho = sxy / np.sqrt(sxx * syy)
    rho.iloc[: EWMA_MIN_OBS - 1] = np.nan
    return rho


@dataclass(frozen=True)
class RecordRank:
    percentile: float  # share of earlier values strictly below the current one, 0..100
    lowest_since: pd.Timestamp | None  # last earlier date with a value at or below; None = record low
    highest_since: pd.Timestamp | None  # last earlier date with a value at or above; None = record high
    is_record_low: bool
    is_record_high: bool
    history_start: pd.Timestamp
    n_history: int


def record_rank(history: pd.Series, as_of: pd.Timestamp) -> RecordRank | None:
    """Where the value at `as_of` ranks among every earlier value of the same rolling correlation."""
    valid = history.dropna()
    valid = valid[valid.index <= as_of]
    if len(valid) < 2:
        return None
    current = float(valid.iloc[-1])
    earlier = valid.iloc[:-1]
    values = earlier.to_numpy()
    at_or_below = earlier.index[values <= current]
    at_or_above = earlier.index[values >= current]
    return RecordRank(
        percentile=100.0 * float(np.mean(values < current)),
        lowest_since=at_or_below[-1] if len(at_or_below) else None,
        highest_since=at_or_above[-1] if len(at_or_above) else None,
        is_record_low=len(at_or_below) == 0,
        is_record_high=len(at_or_above) == 0,
        history_start=valid.index[0],
        n_history=len(valid),
    )
