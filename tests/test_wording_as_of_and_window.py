"""Wording (docs/methods.md §1.7, §3.10): a date after the bundled data in snapshot mode is not "stale data", and a
window longer than the pair's history does not pass for that many years of data."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from bot.config import MarketDataMode, load_settings
from bot.market.data import SnapshotMarketData
from tests.helpers import ask, make_services

BUNDLED_END = "The bundled data ends on 2026-01-16: numbers below are as of that day, not 2026-03-01."


@pytest.mark.parametrize("text", ["/corr 90d", "/beta 90d", "/div", "/regime", "/report", "/chart 90d"])
async def test_snapshot_mode_says_the_bundled_data_ends_there(services, text):
    reply = await ask(services, text, dt.date(2026, 3, 1))
    assert reply.ok
    assert reply.text.splitlines()[0] == BUNDLED_END
    assert "Stale data" not in reply.text


async def test_the_answer_is_the_one_for_the_last_bundled_day(services):
    late = await ask(services, "/corr 90d", dt.date(2026, 3, 1))
    same = await ask(services, "/corr 90d", dt.date(2026, 1, 16))
    assert late.data["as_of"] == same.data["as_of"] == "2026-01-16"
    assert late.data["correlation"] == same.data["correlation"] and late.data["n_obs"] == same.data["n_obs"] == 62
    assert late.data["stale"] is True and same.data["stale"] is False  # not for the date asked


async def test_the_chart_of_the_last_bundled_day_has_no_stale_badge(services):
    late = await ask(services, "/corr 90d", dt.date(2026, 3, 1), want_chart=True)
    same = await ask(services, "/corr 90d", dt.date(2026, 1, 16), want_chart=True)
    assert late.chart is not None and late.chart == same.chart


async def test_live_and_auto_modes_keep_the_stale_wording():
    market = SnapshotMarketData(MarketDataMode.AUTO, clock=pd.Timestamp("2026-01-17 01:00", tz="UTC"))
    auto = make_services(load_settings(market_data="auto", database_url="sqlite://"), market=market)
    reply = await ask(auto, "/corr 90d", dt.date(2026, 3, 1))
    assert reply.text.splitlines()[0] == ("⚠️ Stale data: data ends 2026-01-16, before the requested 2026-03-01. "
                                          "Numbers below are as of the last data, not today.")


async def test_a_window_longer_than_the_history_says_how_much_data_it_holds(services):
    reply = await ask(services, "/corr 10y ETH SPY", dt.date(2019, 6, 28))
    assert reply.ok and reply.data["n_obs"] == 468 and reply.data["window_truncated"] is True
    headline, *_, footer = reply.text.splitlines()
    assert "10-year correlation" not in reply.text
    assert headline.startswith("ETH and the S&P 500 (SPY) are moving apart: correlation 0.09 "
                               "(10-year window, 1.9 years of data, 468 returns)")
    assert footer.startswith("Window 10y, 1.9 years of data: 2017-08-18 → 2019-06-28, 468 daily returns")
    beta = await ask(services, "/beta 10y ETH SPY", dt.date(2019, 6, 28))
    assert "(10-year window, 1.9 years of data, 468 returns)" in beta.text.splitlines()[0]
    assert "over the 10-year window" not in beta.text


async def test_a_window_the_history_fills_keeps_its_name(services):
    reply = await ask(services, "/corr 1y ETH SPY", dt.date(2019, 6, 28))
    assert reply.data["window_truncated"] is False
    assert "1-year correlation" in reply.text and "years of data" not in reply.text
    # ETH's first close is 2017-08-17: a 2-year window to 2019-08-17 starts on it, not before
    full = await ask(services, "/corr 2y ETH BTC", dt.date(2019, 8, 17))
    assert full.data["window_truncated"] is False and "2-year correlation" in full.text
    short = await ask(services, "/corr 2y ETH BTC", dt.date(2019, 8, 16))
    assert short.data["window_truncated"] is True
    assert "(2-year window, 2.0 years of data" not in short.text and "1.9 years of data" in short.text
