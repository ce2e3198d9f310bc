"""The decoupling score that ranks the universe scan (docs/methods.md §9.2). Pure: numbers in, numbers out.

The score is the fall in a pair's window correlation over the last `lookback` observations, in units of the
standard error of that fall:

    score = (atanh ρ_before − atanh ρ_now) / SE
    SE    = sqrt( 1/(n_now − 3) + 1/(n_before − 3) − 2·m / sqrt(n_now·n_before·(n_now − 3)·(n_before − 3)) )

ρ_now is the window's correlation at as_of, ρ_before the same window's correlation `lookback` observations
earlier, n their returns and m the returns the two windows share. Positive: the correlation fell (the pair is
decoupling); negative: it rose.

Why Fisher's z and not the plain difference ρ_before − ρ_now: the sampling error of ρ shrinks near ±1, and
Fisher's z evens it out, so a change weighs the same wherever it happens (0.90 → 0.75 moves z by 0.50, more
than 0.30 → 0.00 does, 0.31, although its plain difference is half as large).

Why the overlap term: the two windows share all but the returns that entered and left in between (a 1-year
window and the same window 20 sessions earlier share about 230 of 250), so their correlations move together.
Each Fisher z is, to first order, a mean of one term per return with variance 1, so the two estimates have
covariance m / sqrt(n_now·n_before) in those units, written with the (n − 3) of Fisher's variance; without the
term (the independent-samples error of the change test, §3.9) the score's spread under no change is about
sqrt(20/n): 0.97 at 30d, 0.57 at 90d, 0.28 at 1y, and scores of different windows or of pairs with different
histories are not comparable. With it the score is about N(0, 1) under no change at every window (the
simulation of tests/test_scan_score.py). It is still a descriptive ranking score, not a test: the scan looks
at every pair at once, and real returns have fat tails and changing volatility.

The lookback is 20 observations (the divergence z's horizon, about four weeks of sessions) for windows up to
a year, and 20 per year of window beyond (`lookback_for`): a 10-year correlation barely moves in 20 sessions
(under 1% of its returns change), so "how far it fell over four weeks" says nothing; over 200 sessions it
says how the last ten months compare with the rest.

Ties (equal scores, or no score at all) are broken by the size of the divergence z (§3.7): over the same last
20 sessions it measures how far the asset strayed from what its beta implies, the other face of a decoupling.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from bot.analytics.correlation import FISHER_CLIP, MIN_OBS

LOOKBACK = 20  # observations between "before" and "now": the divergence z's horizon, about four weeks of sessions
YEAR_DAYS = 365


def lookback_for(window_days: int, base: int = LOOKBACK) -> int:
    """Observations between "before" and "now" for a window: `base` up to a year, `base` per whole year beyond
    (2y: 40, 10y: 200), so the returns that change stay near 8% of a long window's."""
    return base * max(1, window_days // YEAR_DAYS)


def shared_returns(dates: np.ndarray, now: np.datetime64, before: np.datetime64, window_days: int) -> int:
    """Returns (dated by `dates`, sorted) in both the window ending at `now` and the one ending at `before`
    (< now): those dated in (now − window_days, before] (docs/methods.md §2.3)."""
    start = now - np.timedelta64(window_days, "D")
    low = int(np.searchsorted(dates, start, side="right"))
    high = int(np.searchsorted(dates, before, side="right"))
    return max(0, high - low)


def change_standard_error(n_now: int, n_before: int, shared: int) -> float:
    """SE of atanh ρ_before − atanh ρ_now for windows of n_now and n_before returns sharing `shared` of them;
    NaN when a window has 3 returns or fewer, or the windows are the same."""
    if n_now <= 3 or n_before <= 3:
        return math.nan
    variance = (1.0 / (n_now - 3) + 1.0 / (n_before - 3)
                - 2.0 * shared / math.sqrt(n_now * n_before * (n_now - 3) * (n_before - 3)))
    return math.sqrt(variance) if variance > 0 else math.nan


def _z(rho: float) -> float:
    return math.atanh(max(-FISHER_CLIP, min(FISHER_CLIP, rho)))


def decoupling_score(rho_now: float, n_now: int, rho_before: float | None, n_before: int,
                     shared: int = 0) -> float | None:
    """Fall of the correlation in standard errors of the fall (overlap-corrected); None when either window
    has no correlation or the error is undefined."""
    if rho_before is None or math.isnan(rho_now) or math.isnan(rho_before):
        return None
    if n_now < MIN_OBS or n_before < MIN_OBS:
        return None
    se = change_standard_error(n_now, n_before, shared)
    if not math.isfinite(se):
        return None
    return (_z(rho_before) - _z(rho_now)) / se


def rank_key(score: float | None, divergence_z: float | None, pair: str) -> tuple[bool, float, bool, float, str]:
    """Sort key: score descending (no score last), then |divergence z| descending (none last), then the pair."""
    return (
        score is None,
        -(score if score is not None else 0.0),
        divergence_z is None,
        -(abs(divergence_z) if divergence_z is not None else 0.0),
        pair,
    )


def ranking(scores: Sequence[float | None], divergence_z: Sequence[float | None], pairs: Sequence[str]) -> list[int]:
    """Positions of the rows in ranking order (see `rank_key`)."""
    return sorted(range(len(pairs)), key=lambda i: rank_key(scores[i], divergence_z[i], pairs[i]))
