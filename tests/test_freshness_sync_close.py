"""Sync-close readiness (docs/methods.md §1.3, §1.7): a crypto leg paired with an equity or index is ready for a
session only once its hourly candles reach that session's close. Before that the session is pending: not in the
aligned series (so no earlier hour's price stands in for the close), and replies say what they wait for. A
candle missing in history (a real gap, later candles present) still falls back up to 3 hours."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from bot.analysis.analyzer import PairAnalyzer
from bot.assets import Asset, find_asset
from bot.config import MarketDataMode, load_settings
from bot.market import calendars, snapshot
from bot.market.align import LegPrices, align
from bot.market.data import LegData
from handlers.commands import dispatch
from tests.helpers import make_services

ETH, RUT = find_asset("ETH"), find_asset("RUT")
FRIDAY = pd.Timestamp("2025-07-25")  # NYSE closes at 20:00 UTC (16:00 EDT)
CLOSE = pd.Timestamp("2025-07-25 20:00", tz="UTC")
AFTER_CLOSE = pd.Timestamp("2025-07-25 20:30", tz="UTC")  # the session has settled (close + 15 min)


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


class CandlesUpTo:
    """The bundled prices as live sources would have them at `clock`, except that the exchange has published
    hourly candles only up to `candles_end` (a candle end time), with the candles ending at `missing` absent
    from its history for good. Equities: the sessions settled by the clock."""

    mode = MarketDataMode.LIVE

    def __init__(self, clock: pd.Timestamp, candles_end: pd.Timestamp, missing: tuple[pd.Timestamp, ...] = ()):
        self.clock = clock
        self.candles_end = candles_end
        self.missing = missing

    def now(self) -> pd.Timestamp:
        return self.clock

    async def refresh(self, assets: list[Asset]) -> None:
        return None

    def leg(self, asset: Asset) -> LegData:
        daily = snapshot.daily_closes(asset.symbol)
        hourly = None
        if asset.is_crypto:
            last_day = self.candles_end.tz_convert("UTC").tz_localize(None).normalize() - pd.Timedelta(days=1)
            daily = daily[daily.index <= last_day]
            hourly = snapshot.hourly_closes(asset.symbol)
            hourly = hourly[(hourly.index <= self.candles_end) & ~hourly.index.isin(list(self.missing))]
        else:
            daily = daily[daily.index <= calendars.last_completed_session(self.clock, asset.calendar)]
        version = hash((str(self.clock), str(self.candles_end), tuple(str(m) for m in self.missing)))
        return LegData(LegPrices(asset.symbol, asset.is_crypto, daily, hourly), "live", version)


def services_for(market: CandlesUpTo):
    return make_services(load_settings(market_data="auto", database_url="sqlite://"), market=market)


async def corr(market: CandlesUpTo, text: str = "/corr 90d ETH RUT"):
    return await dispatch(services_for(market), text, want_chart=False)


# ---------------------------------------------------------------------------------------------- alignment


@pytest.mark.parametrize("candles_end", ["2025-07-25 17:00", "2025-07-25 16:00", "2025-07-25 19:00"])
def test_a_session_the_candles_have_not_reached_is_pending_not_aligned(candles_end):
    market = CandlesUpTo(AFTER_CLOSE, utc(candles_end))
    aligned = align(market.leg(ETH).prices, market.leg(RUT).prices, calendars.session_closes())
    # 17:00 and 19:00 are within 3 hours of the close: before, that hour's price stood in for the close
    assert FRIDAY not in aligned.index
    assert aligned.index[-1] == pd.Timestamp("2025-07-24")


def test_once_the_close_candle_is_in_the_session_is_priced_at_the_close():
    market = CandlesUpTo(AFTER_CLOSE, CLOSE)  # the candle 19:00–20:00 UTC ends at the close
    aligned = align(market.leg(ETH).prices, market.leg(RUT).prices, calendars.session_closes())
    assert aligned.loc[FRIDAY, "a"] == snapshot.hourly_closes("ETH")[CLOSE]


def test_a_real_gap_at_the_close_still_falls_back_up_to_three_hours():
    # the 19:00–20:00 candle never came, but the exchange has moved on: the candle ending 19:00 is the price
    gap = CandlesUpTo(utc("2025-07-25 21:30"), utc("2025-07-25 21:00"), missing=(CLOSE,))
    aligned = align(gap.leg(ETH).prices, gap.leg(RUT).prices, calendars.session_closes())
    assert aligned.loc[FRIDAY, "a"] == snapshot.hourly_closes("ETH")[utc("2025-07-25 19:00")]
    # the same history before the exchange has moved past the close: pending, not a gap
    waiting = CandlesUpTo(AFTER_CLOSE, utc("2025-07-25 19:00"), missing=(CLOSE,))
    assert FRIDAY not in align(waiting.leg(ETH).prices, waiting.leg(RUT).prices, calendars.session_closes()).index


def test_history_is_aligned_as_before():
    market = CandlesUpTo(AFTER_CLOSE, CLOSE)
    pair = PairAnalyzer(market).pair(ETH, RUT)
    full = align(
        LegPrices("ETH", True, snapshot.daily_closes("ETH"), snapshot.hourly_closes("ETH")),
        LegPrices("RUT", False, snapshot.daily_closes("RUT")),
        calendars.session_closes(),
    )
    pd.testing.assert_frame_equal(pair.aligned, full.loc[: FRIDAY])


# ---------------------------------------------------------------------------------------------- replies


@pytest.mark.parametrize("candles_end", ["2025-07-25 17:00", "2025-07-25 16:00"])
async def test_a_reply_says_it_waits_for_the_close_candles(candles_end):
    reply = await corr(CandlesUpTo(AFTER_CLOSE, utc(candles_end)))
    assert reply.ok and reply.data["stale"] is True and reply.data["as_of"] == "2025-07-24"
    first = reply.text.splitlines()[0]
    assert first.startswith("⚠️ Stale data: ETH hourly candles up to the 2025-07-25 20:00 UTC close have not "
                            "arrived yet (live; the last ends 2025-07-25 " + candles_end[-5:] + " UTC)")
    # the numbers are those of the day before, exactly as the bundled data gives them for that day
    offline = await dispatch(make_services(), "/corr 90d ETH RUT", as_of=dt.date(2025, 7, 24), want_chart=False)
    assert (reply.data["correlation"], reply.data["n_obs"]) == (offline.data["correlation"], offline.data["n_obs"])

    regime = await dispatch(services_for(CandlesUpTo(AFTER_CLOSE, utc(candles_end))), "/regime")
    assert regime.data["stale"] is True and "have not arrived yet" in regime.text.splitlines()[0]


async def test_when_the_candles_arrive_the_reply_is_fresh_with_the_bundled_numbers():
    reply = await corr(CandlesUpTo(utc("2025-07-25 21:05"), utc("2025-07-25 21:00")))
    assert reply.ok and reply.data["stale"] is False and reply.data["as_of"] == "2025-07-25"
    assert not reply.text.startswith("⚠️")
    offline = await dispatch(make_services(), "/corr 90d ETH RUT", as_of=dt.date(2025, 7, 25), want_chart=False)
    assert (reply.data["correlation"], reply.data["n_obs"]) == (offline.data["correlation"], offline.data["n_obs"])


async def test_before_the_session_settles_nothing_is_waited_for():
    # 20:10 UTC: the close was 10 minutes ago, the session is not due yet (close + 15 min), Thursday is the newest
    reply = await corr(CandlesUpTo(utc("2025-07-25 20:10"), utc("2025-07-25 17:00")))
    assert reply.data["stale"] is False and reply.data["as_of"] == "2025-07-24"


async def test_a_leg_far_behind_is_described_by_where_its_data_ends():
    reply = await corr(CandlesUpTo(AFTER_CLOSE, utc("2025-07-22 15:00")))
    assert reply.data["stale"] is True
    assert reply.text.splitlines()[0].startswith(
        "⚠️ Stale data: ETH data ends 2025-07-21 (live); its market's last completed session is 2025-07-25")
