"""Sync-close readiness through the live code path (LiveMarketData against the local fake exchanges and Yahoo):
when the exchanges stop after 18:00 UTC on a day that closes at 21:00, the 18:00 price is not the close; the
reply waits for the candles, and uses the close candle once they come (docs/methods.md §1.7)."""

from __future__ import annotations

import pandas as pd

from bot.assets import find_asset
from handlers.commands import dispatch
from tests.helpers import make_services
from tests.market.conftest import market_settings
from tests.market.fake_base import Failure

ETH, RUT = find_asset("ETH"), find_asset("RUT")
DOWN = {
    "binance": Failure(status=503, body="Service Unavailable"),
    "coinbase": Failure(status=503, body="Service Unavailable"),
    "kraken": Failure(status=503, body="Service Unavailable"),
}


async def test_the_close_waits_for_the_candle_that_ends_at_it(fakes, live, clock):
    clock.set("2026-02-24 18:05")  # Tuesday; NYSE closes at 21:00 UTC
    await live.refresh([ETH, RUT])
    assert live.leg(ETH).prices.hourly.index[-1] == pd.Timestamp("2026-02-24 18:00", tz="UTC")
    for name, failure in DOWN.items():
        fakes.exchanges[name].failure = failure
    clock.set("2026-02-24 21:20")  # RUT settles; no exchange answers
    await live.refresh([ETH, RUT])
    assert live.leg(RUT).prices.daily.index[-1] == pd.Timestamp("2026-02-24")

    services = make_services(market_settings(), market=live)
    reply = await dispatch(services, "/corr 90d ETH RUT", want_chart=False)
    assert reply.ok and reply.data["as_of"] == "2026-02-23" and reply.data["stale"] is True
    assert reply.text.splitlines()[0].startswith(
        "⚠️ Stale data: ETH hourly candles up to the 2026-02-24 21:00 UTC close have not arrived yet "
        "(cache; the last ends 2026-02-24 18:00 UTC)")
    assert pd.Timestamp("2026-02-24") not in services.analysis.pair(ETH, RUT).aligned.index

    for fake in fakes.exchanges.values():
        fake.failure = None
    clock.set("2026-02-24 21:35")  # past the failed sources' cooldown (300 s)
    await live.refresh([ETH])
    reply = await dispatch(services, "/corr 90d ETH RUT", want_chart=False)
    assert reply.data["as_of"] == "2026-02-24" and reply.data["stale"] is False
    aligned = services.analysis.pair(ETH, RUT).aligned
    assert aligned.loc[pd.Timestamp("2026-02-24"), "a"] == live.leg(ETH).prices.hourly[
        pd.Timestamp("2026-02-24 21:00", tz="UTC")]
