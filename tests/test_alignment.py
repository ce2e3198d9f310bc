"""Pair alignment against docs/methods.md §7 reference values, an independent re-implementation, and
synthetic pairs with known answers on a real exchange calendar (weekends, a holiday, an early close)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bot.market import calendars
from bot.market.align import LegPrices, align, aligned_returns, alignment_label
from tests.helpers import leg, window_of


@pytest.fixture(scope="module")
def eth_rut() -> pd.DataFrame:
    return aligned_returns(align(leg("ETH"), leg("RUT"), calendars.session_closes()))


@pytest.fixture(scope="module")
def eth_rut_daily_close() -> pd.DataFrame:
    return aligned_returns(align(leg("ETH", hourly=False), leg("RUT"), calendars.session_closes()))


def test_reference_window_sync_close(eth_rut):
    w = window_of(eth_rut, "2025-06-30", 90)
    assert len(w) == 61
    assert np.corrcoef(w["ra"], w["rb"])[0, 1] == pytest.approx(0.56, abs=0.005)
    assert alignment_label(w) == "sync-close"


def test_reference_window_daily_close(eth_rut_daily_close):
    w = window_of(eth_rut_daily_close, "2025-06-30", 90)
    assert np.corrcoef(w["ra"], w["rb"])[0, 1] == pytest.approx(0.47, abs=0.005)
    assert alignment_label(w) == "daily-close"


@pytest.mark.parametrize(("fixture", "expected"), [("eth_rut", 0.404), ("eth_rut_daily_close", 0.395)])
def test_full_history_same_day_and_lagged(request, fixture, expected):
    r = request.getfixturevalue(fixture).loc["2021-01-14":"2025-12-31"]
    assert len(r) == 1247
    assert np.corrcoef(r["ra"], r["rb"])[0, 1] == pytest.approx(expected, abs=0.0015)
    lag = np.corrcoef(r["ra"].to_numpy()[1:], r["rb"].to_numpy()[:-1])[0, 1]
    lead = np.corrcoef(r["ra"].to_numpy()[:-1], r["rb"].to_numpy()[1:])[0, 1]
    assert abs(lag) < 0.03 and abs(lead) < 0.03


def _independent_alignment(crypto: LegPrices, equity: LegPrices) -> pd.DataFrame:
    """The same rule written as a plain loop over sessions, with dictionary lookups."""
    schedule = calendars.session_closes()
    hourly = dict(zip(crypto.hourly.index, crypto.hourly.to_numpy(), strict=True))
    first_end = crypto.hourly.index[0]
    daily = dict(zip(crypto.daily.index, crypto.daily.to_numpy(), strict=True))
    rows = {}
    for day, eq_price in equity.daily.items():
        if day not in schedule.index:
            continue
        close = schedule[day]
        if close < first_end:
            price = daily.get(day)
        else:
            price = next((hourly[close - pd.Timedelta(hours=h)] for h in range(4)
                          if close - pd.Timedelta(hours=h) in hourly), None)
        if price is not None:
            rows[day] = (price, eq_price)
    return pd.DataFrame.from_dict(rows, orient="index", columns=["a", "b"]).sort_index()


def test_matches_independent_loop_implementation():
    eth, rut = leg("ETH"), leg("RUT")
    ours = align(eth, rut, calendars.session_closes()).loc["2017-08-17":]
    theirs = _independent_alignment(eth, rut)
    theirs = theirs[theirs.index >= pd.Timestamp("2017-08-17")]
    assert list(ours.index) == list(theirs.index)
    np.testing.assert_array_equal(ours["a"].to_numpy(), theirs["a"].to_numpy())
    np.testing.assert_array_equal(ours["b"].to_numpy(), theirs["b"].to_numpy())


def test_early_close_uses_the_candle_ending_at_1pm_new_york():
    eth = leg("ETH")
    aligned = align(eth, leg("RUT"), calendars.session_closes())
    # 2025-11-28 (day after Thanksgiving) closed at 13:00 New York = 18:00 UTC
    candle_end = pd.Timestamp("2025-11-28 18:00", tz="UTC")
    assert calendars.session_closes()[pd.Timestamp("2025-11-28")] == candle_end
    assert aligned.loc["2025-11-28", "a"] == eth.hourly[candle_end]
    assert aligned.loc["2025-11-28", "a"] != eth.hourly[pd.Timestamp("2025-11-28 21:00", tz="UTC")]


def test_asset_order_only_swaps_columns():
    a = align(leg("ETH"), leg("RUT"), calendars.session_closes())
    b = align(leg("RUT"), leg("ETH"), calendars.session_closes())
    np.testing.assert_array_equal(a["a"].to_numpy(), b["b"].to_numpy())


# ---- synthetic pairs on the real NYSE calendar ---------------------------------------------------------

SESSIONS = calendars.session_closes().loc["2024-06-03":"2024-09-30"]  # has 2024-07-03 (early) and 07-04


def _synthetic(crypto_log: np.ndarray, equity_log: np.ndarray, drop_close_candles: int = 0,
               sessions: pd.Series = SESSIONS):
    """Hourly crypto candles every hour (noise), with the exact wanted price at each session close."""
    rng = np.random.default_rng(7)
    hours = pd.date_range("2024-05-31", "2024-10-02", freq="h", tz="UTC")
    hourly = pd.Series(np.exp(rng.normal(5, 1, len(hours))), index=hours)
    for i, close in enumerate(sessions):
        for back in range(drop_close_candles):
            hourly = hourly.drop(close - pd.Timedelta(hours=back))
        hourly[close - pd.Timedelta(hours=drop_close_candles)] = np.exp(crypto_log[i])
    hourly = hourly.sort_index()
    crypto = LegPrices("X", True, pd.Series(dtype=float), hourly)
    equity = LegPrices("Y", False, pd.Series(np.exp(equity_log), index=sessions.index))
    return aligned_returns(align(crypto, equity, calendars.session_closes()))


def _steps(signs: np.ndarray) -> np.ndarray:
    return np.concatenate([[0.0], np.cumsum(0.01 * signs)])


def test_calendar_has_the_holiday_and_the_early_close():
    assert pd.Timestamp("2024-07-04") not in SESSIONS.index
    assert SESSIONS[pd.Timestamp("2024-07-03")] == pd.Timestamp("2024-07-03 17:00", tz="UTC")
    assert pd.Timestamp("2024-06-08") not in SESSIONS.index  # a Saturday


@pytest.mark.parametrize(("sign", "expected"), [(1.0, 1.0), (-1.0, -1.0)])
def test_synthetic_perfect_correlation(sign, expected):
    rng = np.random.default_rng(3)
    eq = _steps(rng.choice([-1.0, 1.0, 2.0], len(SESSIONS) - 1))
    r = _synthetic(sign * eq + 3.0, eq + 8.0)
    assert len(r) == len(SESSIONS) - 1
    assert np.corrcoef(r["ra"], r["rb"])[0, 1] == pytest.approx(expected, abs=1e-12)


def test_synthetic_zero_correlation():
    n = len(SESSIONS) - 1
    n4 = n - n % 4
    b = np.tile([1.0, -1.0, 1.0, -1.0], n4 // 4)
    a = np.tile([1.0, 1.0, -1.0, -1.0], n4 // 4)
    r = _synthetic(_steps(a), _steps(b), sessions=SESSIONS.iloc[: n4 + 1])
    assert len(r) == n4
    assert np.corrcoef(r["ra"], r["rb"])[0, 1] == pytest.approx(0.0, abs=1e-12)


def test_missing_close_candle_falls_back_up_to_three_hours():
    rng = np.random.default_rng(11)
    eq = _steps(rng.choice([-1.0, 1.0, 3.0], len(SESSIONS) - 1))
    r = _synthetic(eq, eq, drop_close_candles=3)  # price sits on the candle ending 3 h before the close
    assert len(r) == len(SESSIONS) - 1
    assert np.corrcoef(r["ra"], r["rb"])[0, 1] == pytest.approx(1.0, abs=1e-12)


def test_missing_four_hours_drops_the_date_without_filling():
    rng = np.random.default_rng(5)
    eq = _steps(rng.choice([-1.0, 1.0], len(SESSIONS) - 1))
    hours = pd.date_range("2024-05-31", "2024-10-02", freq="h", tz="UTC")
    hourly = pd.Series(1.0, index=hours)
    for i, close in enumerate(SESSIONS):
        hourly[close] = np.exp(eq[i])
    gap_day = SESSIONS.index[10]
    close = SESSIONS.iloc[10]
    hourly = hourly.drop([close - pd.Timedelta(hours=h) for h in range(4)])
    crypto = LegPrices("X", True, pd.Series(dtype=float), hourly)
    equity = LegPrices("Y", False, pd.Series(np.exp(eq), index=SESSIONS.index))
    aligned = align(crypto, equity, calendars.session_closes())
    assert gap_day not in aligned.index
    r = aligned_returns(aligned)
    # the return over the gap spans two sessions on both legs, so the pair stays perfectly correlated
    assert np.corrcoef(r["ra"], r["rb"])[0, 1] == pytest.approx(1.0, abs=1e-12)
    assert len(r) == len(SESSIONS) - 2


def test_crypto_pair_uses_every_utc_day():
    r = aligned_returns(align(leg("BTC"), leg("ETH")))
    gaps = r.index.to_series().diff().dropna()
    assert (gaps == pd.Timedelta(days=1)).all()
    assert alignment_label(r) == "daily-close"


def test_equity_pair_uses_shared_sessions():
    r = aligned_returns(align(leg("SPY"), leg("QQQ")))
    assert pd.Timestamp("2024-07-04") not in r.index
    assert alignment_label(r) == "sync-close"
