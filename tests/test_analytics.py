"""Each measure against a straightforward pandas/numpy computation on the real snapshot, and against
synthetic series with known answers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.analytics import correlation as corr
from bot.analytics.divergence import divergence_z_at, divergence_z_series
from bot.market import calendars
from bot.market.align import align, aligned_returns
from tests.helpers import leg, window_of


@pytest.fixture(scope="module")
def returns() -> pd.DataFrame:
    return aligned_returns(align(leg("ETH"), leg("RUT"), calendars.session_closes()))


SAMPLE_DATES = ["2019-06-28", "2020-03-31", "2022-06-30", "2024-01-31", "2025-06-30", "2026-01-16"]


@pytest.mark.parametrize("as_of", SAMPLE_DATES)
@pytest.mark.parametrize("days", [30, 90, 365])
def test_window_measures_match_pandas(returns, as_of, days):
    w = window_of(returns, as_of, days)
    ra, rb = w["ra"].to_numpy(), w["rb"].to_numpy()
    assert corr.pearson(ra, rb) == pytest.approx(w["ra"].corr(w["rb"]), abs=1e-12)
    assert corr.spearman(ra, rb) == pytest.approx(w["ra"].rank().corr(w["rb"].rank()), abs=1e-12)
    assert corr.beta(ra, rb) == pytest.approx(np.polyfit(rb, ra, 1)[0], rel=1e-9)
    assert corr.beta(ra, rb) == pytest.approx(w["ra"].cov(w["rb"]) / w["rb"].var(), rel=1e-12)


@pytest.mark.parametrize("days", [30, 90, 365, 1825])
def test_rolling_series_match_window_by_window(returns, days):
    pearson = corr.rolling_pearson(returns["ra"], returns["rb"], days)
    spear = corr.rolling_spearman(returns["ra"], returns["rb"], days)
    count = corr.rolling_count(returns["ra"], days)
    beta = corr.rolling_beta(returns["ra"], returns["rb"], days)
    for as_of in SAMPLE_DATES:
        w = window_of(returns, as_of, days)
        when = w.index[-1]
        assert count[when] == len(w)
        assert pearson[when] == pytest.approx(np.corrcoef(w["ra"], w["rb"])[0, 1], abs=1e-9)
        assert spear[when] == pytest.approx(w["ra"].rank().corr(w["rb"].rank()), abs=1e-12)
        assert beta[when] == pytest.approx(w["ra"].cov(w["rb"]) / w["rb"].var(), rel=1e-7)


def test_rolling_needs_fifteen_observations(returns):
    pearson = corr.rolling_pearson(returns["ra"], returns["rb"], 30)
    count = corr.rolling_count(returns["ra"], 30)
    assert pearson[count < 15].isna().all()
    assert pearson[count >= 15].notna().all()


def test_spearman_handles_ties():
    x = np.array([1.0, 2.0, 2.0, 3.0, 4.0, 4.0, 4.0, 5.0])
    y = np.array([2.0, 1.0, 3.0, 3.0, 5.0, 4.0, 6.0, 7.0])
    expected = pd.Series(x).rank().corr(pd.Series(y).rank())
    assert corr.spearman(x, y) == pytest.approx(expected, abs=1e-12)
    np.testing.assert_array_equal(corr.average_ranks(x), pd.Series(x).rank().to_numpy())


def test_fisher_interval_formula():
    lo, hi = corr.fisher_ci(0.5614, 61)
    se = 1 / math.sqrt(58)
    assert lo == pytest.approx(math.tanh(math.atanh(0.5614) - 1.96 * se))
    assert hi == pytest.approx(math.tanh(math.atanh(0.5614) + 1.96 * se))
    assert corr.fisher_ci(1.0, 30)[1] < 1.0  # clipped at 0.9999, never infinite
    assert all(math.isnan(v) for v in corr.fisher_ci(0.3, 3))


def test_ewma_matches_the_recursion(returns):
    ewma = corr.ewma_correlation(returns["ra"], returns["rb"])
    lam = 0.97
    x, y = returns["ra"].to_numpy(), returns["rb"].to_numpy()
    sxy, sxx, syy = x[0] * y[0], x[0] ** 2, y[0] ** 2
    expected = [sxy / math.sqrt(sxx * syy)]
    for a, b in zip(x[1:], y[1:], strict=True):
        sxy = lam * sxy + (1 - lam) * a * b
        sxx = lam * sxx + (1 - lam) * a * a
        syy = lam * syy + (1 - lam) * b * b
        expected.append(sxy / math.sqrt(sxx * syy))
    assert ewma.iloc[:19].isna().all()
    np.testing.assert_allclose(ewma.iloc[19:].to_numpy(), np.array(expected)[19:], rtol=1e-9)


def test_divergence_series_matches_step_by_step(returns):
    z = divergence_z_series(returns["ra"], returns["rb"])
    ra, rb, dates = returns["ra"].to_numpy(), returns["rb"].to_numpy(), returns.index
    checked = 0
    for end in range(0, len(returns), 37):
        expected = divergence_z_at(ra, rb, dates, end)
        if math.isnan(expected):
            assert math.isnan(z.iloc[end])
        else:
            assert z.iloc[end] == pytest.approx(expected, rel=1e-6, abs=1e-9)
            checked += 1
    assert checked > 40


def test_divergence_known_answer():
    """A pair that follows its beta exactly for 200 days and then falls 1% a day below it."""
    rng = np.random.default_rng(1)
    dates = pd.date_range("2024-01-01", periods=240, freq="D")
    rb = rng.normal(0, 0.01, 240)
    noise = rng.normal(0, 0.002, 240)
    ra = 1.5 * rb + noise
    ra[-20:] -= 0.01
    z = divergence_z_series(pd.Series(ra, dates), pd.Series(rb, dates))
    assert z.iloc[-1] < -10
    assert abs(z.iloc[-21]) < 4
    # fewer than 60 estimation returns: no z
    assert z.iloc[:79].isna().all() and not math.isnan(z.iloc[79])


def test_record_rank_brute_force(returns):
    history = corr.rolling_pearson(returns["ra"], returns["rb"], 90)
    for as_of in SAMPLE_DATES[1:]:
        rec = corr.record_rank(history, pd.Timestamp(as_of))
        valid = history.dropna()
        valid = valid[valid.index <= pd.Timestamp(as_of)]
        current, earlier = valid.iloc[-1], valid.iloc[:-1]
        assert rec.percentile == pytest.approx(100 * (earlier < current).mean())
        lows = earlier[earlier <= current]
        assert rec.lowest_since == (lows.index[-1] if len(lows) else None)
        highs = earlier[earlier >= current]
        assert rec.highest_since == (highs.index[-1] if len(highs) else None)


def test_record_low_and_high_flags():
    s = pd.Series([0.5, 0.4, 0.6, 0.1], index=pd.date_range("2024-01-01", periods=4))
    rec = corr.record_rank(s, s.index[-1])
    assert rec.is_record_low and not rec.is_record_high and rec.percentile == 0.0
    rec = corr.record_rank(s, s.index[2])
    assert rec.is_record_high and rec.lowest_since == s.index[1]


def test_change_test():
    rng = np.random.default_rng(2)
    x = rng.normal(size=310)
    y = np.concatenate([x[:250] + rng.normal(0, 0.2, 250), rng.normal(size=60)])  # link breaks
    z = corr.change_test(x, y)
    assert z is not None and z < -5
    assert corr.change_test(x[:309], y[:309]) is None


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-0.2, 0.2, allow_nan=False), min_size=20, max_size=80), st.integers(0, 10**6))
def test_correlations_are_bounded(values, seed):
    x = np.array(values)
    y = np.random.default_rng(seed).normal(size=len(x))
    for rho in (corr.pearson(x, y), corr.spearman(x, y)):
        assert math.isnan(rho) or -1 - 1e-12 <= rho <= 1 + 1e-12


@pytest.mark.parametrize("days", [40, 600])  # the matrix path and the loop path
def test_rolling_spearman_with_ties_matches_window_by_window(days):
    rng = np.random.default_rng(4)
    dates = pd.bdate_range("2020-01-01", periods=700)
    x = pd.Series(np.round(rng.normal(size=700), 1), index=dates)  # many ties
    y = pd.Series(np.where(rng.random(700) < 0.3, 0.0, rng.normal(size=700)), index=dates)
    rolled = corr.rolling_spearman(x, y, days)
    for end in dates[::53]:
        w = (dates > end - pd.Timedelta(days=days)) & (dates <= end)
        if w.sum() >= corr.MIN_OBS:
            assert rolled[end] == pytest.approx(x[w].rank().corr(y[w].rank()), abs=1e-12)
        else:
            assert math.isnan(rolled[end])
