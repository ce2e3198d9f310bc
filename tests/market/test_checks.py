"""Pure checks: provisional bars are dropped, and answers that are not data are rejected with a reason."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bot.assets import find_asset
from bot.market import snapshot
from bot.market.sources.checks import BarsRejected, check_bars, complete_bars, next_bar_due

ETH, RUT = find_asset("ETH"), find_asset("RUT")


def hourly(start: str, closes: list[float]) -> pd.Series:
    return pd.Series(closes, index=pd.date_range(start, periods=len(closes), freq="h"), dtype=float)


def daily(dates: list[str], closes: list[float]) -> pd.Series:
    return pd.Series(closes, index=pd.DatetimeIndex(dates), dtype=float)


def test_the_hour_and_the_utc_day_in_progress_are_dropped():
    bars = hourly("2026-02-25 09:00", [1, 2, 3, 4])
    now = pd.Timestamp("2026-02-25 12:30")  # the 12:00 candle is still open
    assert list(complete_bars(bars, ETH, "1h", now).index.hour) == [9, 10, 11]
    days = daily(["2026-02-23", "2026-02-24", "2026-02-25"], [1, 2, 3])
    assert list(complete_bars(days, ETH, "1d", now).index.day) == [23, 24]


def test_a_session_counts_once_settled_after_its_close_early_closes_included():
    days = daily(["2026-02-23", "2026-02-24"], [1, 2])
    # 2026-02-24 closes 21:00 UTC; final from 21:15 (docs/methods.md §1.6)
    assert len(complete_bars(days, RUT, "1d", pd.Timestamp("2026-02-24 21:14"))) == 1
    assert len(complete_bars(days, RUT, "1d", pd.Timestamp("2026-02-24 21:15"))) == 2
    # the day after Thanksgiving closes at 13:00 New York (18:00 UTC)
    black_friday = daily(["2025-11-28"], [1])
    assert complete_bars(black_friday, RUT, "1d", pd.Timestamp("2025-11-28 18:14")).empty
    assert len(complete_bars(black_friday, RUT, "1d", pd.Timestamp("2025-11-28 18:15"))) == 1


def test_a_new_bar_is_due_only_when_one_can_be_complete():
    assert not next_bar_due(ETH, "1h", pd.Timestamp("2026-02-25 10:00"), pd.Timestamp("2026-02-25 11:59"))
    assert next_bar_due(ETH, "1h", pd.Timestamp("2026-02-25 10:00"), pd.Timestamp("2026-02-25 12:00"))
    # Friday's session stored: nothing is due over the weekend, Monday's is due once settled
    friday = pd.Timestamp("2026-02-20")
    assert not next_bar_due(RUT, "1d", friday, pd.Timestamp("2026-02-23 12:00"))
    assert next_bar_due(RUT, "1d", friday, pd.Timestamp("2026-02-23 21:20"))


@pytest.mark.parametrize(
    ("bars", "reason"),
    [
        (pd.Series(dtype=float, index=pd.DatetimeIndex([])), "empty answer"),
        (hourly("2026-02-25 09:00", [1.0, np.nan]), "missing, zero or negative"),
        (hourly("2026-02-25 09:00", [1.0, 0.0]), "missing, zero or negative"),
        (pd.Series([1.0], index=pd.DatetimeIndex(["2026-02-25 09:30"])), "not on the 1h grid"),
        (hourly("2026-02-25 09:00", [100.0, 300.0]), "implausible move of 110%"),
    ],
)
def test_unusable_answers_are_errors_with_a_reason(bars, reason):
    with pytest.raises(BarsRejected, match=reason):
        check_bars(bars, ETH, "1h", since=pd.Timestamp("2026-02-25 09:00"))


def test_real_crashes_pass_and_bigger_jumps_do_not():
    eth = snapshot.daily_closes("ETH")["2020-03-10":"2020-03-14"]  # −59 % in log terms on 2020-03-12
    check_bars(eth, ETH, "1d", since=eth.index[0])
    rut = snapshot.daily_closes("RUT")["2020-03-12":"2020-03-18"]
    check_bars(rut, RUT, "1d", since=rut.index[0])
    jump = daily(["2026-02-23", "2026-02-24"], [2000.0, 2000.0 * np.exp(0.51)])
    with pytest.raises(BarsRejected, match="limit 50%"):
        check_bars(jump, RUT, "1d", since=jump.index[0])


def test_the_join_with_stored_bars_is_checked():
    bars = hourly("2026-02-25 09:00", [100.0, 101.0])
    check_bars(bars, ETH, "1h", since=bars.index[0], anchor=(bars.index[0], 99.0))
    with pytest.raises(BarsRejected, match="disagrees with the stored close"):
        check_bars(bars, ETH, "1h", since=bars.index[0], anchor=(bars.index[0], 10.0))
    with pytest.raises(BarsRejected, match="jumps from the stored close"):
        check_bars(bars, ETH, "1h", since=bars.index[0], anchor=(bars.index[0] - pd.Timedelta(hours=1), 10.0))
    late = hourly("2026-02-25 20:00", [100.0])  # asked from 09:00: a hole the next refresh would never fill
    with pytest.raises(BarsRejected, match="a gap"):
        check_bars(late, ETH, "1h", since=pd.Timestamp("2026-02-25 09:00"), anchor=(bars.index[0], 100.0))
