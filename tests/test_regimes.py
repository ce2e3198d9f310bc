"""The regime state machine (docs/methods.md §4) on hand-made correlation histories with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bot.analytics.regimes import RegimeState, regime_history
from bot.analytics.thresholds import DEFAULT_THRESHOLDS, Regime, Thresholds, classify


def _series(values: list[float]) -> pd.Series:
    return pd.Series(values, index=pd.date_range("2024-01-01", periods=len(values), freq="B"), dtype=float)


def _run(values: list[float], rank: list[float] | None = None, th: Thresholds = DEFAULT_THRESHOLDS):
    rho = _series(values)
    return rho, regime_history(rho, _series(rank if rank is not None else values), th)


@pytest.mark.parametrize(
    ("rho", "adopted", "expected"),
    [
        (-0.30, None, Regime.INVERSE),
        (0.50, None, Regime.COUPLED),
        (0.45, Regime.COUPLED, Regime.COUPLED),  # hysteresis: stays coupled down to 0.40
        (0.45, Regime.NEUTRAL, Regime.NEUTRAL),
        (0.39, Regime.COUPLED, Regime.NEUTRAL),
        (-0.25, Regime.INVERSE, Regime.INVERSE),
        (-0.25, Regime.DECOUPLED, Regime.DECOUPLED),
        (0.30, Regime.DECOUPLED, Regime.DECOUPLED),  # stays decoupled below 0.35
        (0.30, Regime.NEUTRAL, Regime.NEUTRAL),
        (0.35, Regime.DECOUPLED, Regime.NEUTRAL),
        (0.20, Regime.NEUTRAL, Regime.DECOUPLED),
        (-0.19, Regime.INVERSE, Regime.DECOUPLED),
    ],
)
def test_classify_first_match_wins(rho, adopted, expected):
    assert classify(rho, adopted) is expected


def test_first_regime_is_a_starting_state_not_a_change():
    _, hist = _run([0.6] * 8)
    assert hist.changes == []
    assert hist.adopted.iloc[3] is None and hist.adopted.iloc[4] == "coupled"
    assert hist.adopted_since.iloc[4] == hist.adopted.index[0]


def test_change_needs_five_consecutive_observations_and_is_dated_on_the_fifth():
    values = [0.6] * 5 + [0.1] * 4 + [0.6] + [0.1] * 5
    rho, hist = _run(values)
    assert len(hist.changes) == 1
    change = hist.changes[0]
    assert (change.from_regime, change.to_regime) == (Regime.COUPLED, Regime.DECOUPLED)
    assert change.as_of == rho.index[14] and change.since == rho.index[10]
    assert hist.adopted.iloc[13] == "coupled" and hist.adopted.iloc[14] == "decoupled"


def test_rank_check_disagreement_resets_the_dwell():
    values = [0.6] * 5 + [0.1] * 10
    rank = [0.6] * 5 + [0.1, 0.1, 0.1, 0.45, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]  # day 9: rank says coupled
    rho, hist = _run(values, rank)
    assert len(hist.changes) == 1
    assert hist.changes[0].since == rho.index[9] and hist.changes[0].as_of == rho.index[13]


def test_hysteresis_keeps_coupled_between_exit_and_enter():
    values = [0.6] * 5 + [0.45] * 20 + [0.38] * 5
    rho, hist = _run(values)
    assert [c.to_regime for c in hist.changes] == [Regime.NEUTRAL]
    assert hist.changes[0].as_of == rho.index[29]


def test_nan_values_leave_the_state_alone():
    values = [np.nan] * 3 + [0.6] * 5 + [np.nan] * 2 + [-0.5] * 5
    _, hist = _run(values)
    assert hist.adopted.iloc[2] is None
    assert [c.to_regime for c in hist.changes] == [Regime.INVERSE]


def test_custom_thresholds_and_dwell():
    th = DEFAULT_THRESHOLDS.with_values(decoupled_enter=0.15, dwell=3)
    values = [0.6] * 3 + [0.18] * 5 + [0.1] * 3
    rho, hist = _run(values, th=th)
    # 0.18 is neutral under decoupled_enter=0.15 (and below coupled_exit), then 0.1 is decoupled
    assert [c.to_regime for c in hist.changes] == [Regime.NEUTRAL, Regime.DECOUPLED]
    assert hist.changes[1].as_of == rho.index[10]


def test_replay_can_resume_from_a_saved_state():
    values = [0.6] * 5 + [0.1] * 3 + [0.1] * 4 + [-0.4] * 6
    rho = _series(values)
    whole = regime_history(rho, rho)
    first = regime_history(rho.iloc[:7], rho.iloc[:7])
    assert isinstance(first.final, RegimeState)
    rest = regime_history(rho.iloc[7:], rho.iloc[7:], state=first.final)
    assert first.changes + rest.changes == whole.changes


# ---- the rank correlation asked only where it matters (a cold /corr of a long window) ----------------


@pytest.fixture(scope="module")
def eth_rut_returns() -> pd.DataFrame:
    from bot.market import calendars
    from bot.market.align import align, aligned_returns
    from tests.helpers import leg

    return aligned_returns(align(leg("ETH"), leg("RUT"), calendars.session_closes()))


@pytest.mark.parametrize("days", [30, 90, 365, 1000, 3000])
def test_lazy_rank_correlation_replays_the_same_regimes(eth_rut_returns, days):
    from bot.analytics import correlation as corr

    ra, rb = eth_rut_returns["ra"], eth_rut_returns["rb"]
    rho = corr.rolling_pearson(ra, rb, days)
    lazy = corr.WindowSpearman(ra, rb, days)
    whole = regime_history(rho, corr.rolling_spearman(ra, rb, days))
    asked = regime_history(rho, lazy)
    pd.testing.assert_series_equal(asked.adopted, whole.adopted)
    pd.testing.assert_series_equal(asked.adopted_since, whole.adopted_since)
    pd.testing.assert_series_equal(asked.candidate, whole.candidate)
    pd.testing.assert_series_equal(asked.candidate_count, whole.candidate_count)
    pd.testing.assert_series_equal(asked.candidate_since, whole.candidate_since)
    assert asked.changes == whole.changes
    assert asked.final == whole.final
    if days >= 1000:  # the point: a long window ranks a small part of its windows, not all of them
        assert lazy.computed < len(ra) // 5


def test_window_spearman_is_the_window_by_window_value(eth_rut_returns):
    from bot.analytics import correlation as corr

    ra, rb = eth_rut_returns["ra"], eth_rut_returns["rb"]
    lazy = corr.WindowSpearman(ra, rb, 1000)
    rolled = corr.rolling_spearman(ra, rb, 1000)  # windows over 400 returns: ranked one by one, like `lazy`
    for i in (0, 13, 14, 500, len(ra) - 1):
        assert lazy(i) == pytest.approx(rolled.iloc[i], abs=0, nan_ok=True)
    assert lazy.at(ra.index[500]) == lazy(500)
    assert np.isnan(lazy.at(pd.Timestamp("1990-01-01")))
    assert len(lazy) == len(ra)
