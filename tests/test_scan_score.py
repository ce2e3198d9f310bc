"""The /scan score is on one scale for every window (docs/methods.md §9.2): under no change its spread is 1.

Simulated returns with a constant correlation on a weekday calendar (about 21 returns in 30 days, 64 in 90,
261 in a year); the windows and the returns they share are counted here from the dates, independently of the
scanner; the score is the project's. A fixed seed: the same draws every run."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from bot.analytics.scan import LOOKBACK, decoupling_score, lookback_for, shared_returns

DATES = pd.bdate_range("2015-01-01", periods=900)
DRAWS = 600


def simulated_scores(days: int, seed: int, correct: bool = True) -> np.ndarray:
    rng = np.random.default_rng(seed)
    stamps = DATES
    scores = []
    lookback = lookback_for(days)
    for _ in range(DRAWS):
        rho = rng.uniform(-0.2, 0.8)
        x = rng.standard_normal(len(DATES))
        y = rho * x + math.sqrt(1 - rho * rho) * rng.standard_normal(len(DATES))
        i = int(rng.integers(500, len(DATES)))
        now, before = stamps[i], stamps[i - lookback]
        in_now = (stamps > now - pd.Timedelta(days=days)) & (stamps <= now)
        in_before = (stamps > before - pd.Timedelta(days=days)) & (stamps <= before)
        shared = int((in_now & in_before).sum()) if correct else 0
        rho_now = float(np.corrcoef(x[in_now], y[in_now])[0, 1])
        rho_before = float(np.corrcoef(x[in_before], y[in_before])[0, 1])
        score = decoupling_score(rho_now, int(in_now.sum()), rho_before, int(in_before.sum()), shared)
        assert score is not None
        scores.append(score)
    return np.array(scores)


@pytest.mark.parametrize(("days", "seed"), [(30, 1), (90, 2), (365, 3)])
def test_the_score_has_unit_spread_under_no_change_at_every_window(days, seed):
    spread = float(np.std(simulated_scores(days, seed), ddof=1))
    assert spread == pytest.approx(1.0, abs=0.15), spread


@pytest.mark.parametrize(("days", "seed", "spread"), [(90, 2, 0.57), (365, 3, 0.28)])
def test_without_the_overlap_term_long_windows_shrink_towards_zero(days, seed, spread):
    # the independent-samples error of the change test (§3.9) would put the score on a scale of about √(20/n)
    assert float(np.std(simulated_scores(days, seed, correct=False), ddof=1)) == pytest.approx(spread, abs=0.08)


def test_shared_returns_and_the_lookback():
    stamps = DATES
    dates = stamps.to_numpy()
    now, before = dates[300], dates[300 - LOOKBACK]
    in_now = (stamps > stamps[300] - pd.Timedelta(days=90)) & (stamps <= stamps[300])
    in_before = (stamps > stamps[280] - pd.Timedelta(days=90)) & (stamps <= stamps[280])
    assert shared_returns(dates, now, before, 90) == int((in_now & in_before).sum()) == 44
    assert [lookback_for(d) for d in (30, 90, 365, 729, 730, 3650)] == [20, 20, 20, 20, 40, 200]
    # two identical windows have no change to measure
    assert decoupling_score(0.5, 60, 0.4, 60, 60) is None
