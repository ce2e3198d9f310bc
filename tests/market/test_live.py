"""LiveMarketData against the fakes: cold start, incremental refresh, fallbacks, freshness, budgets."""

from __future__ import annotations

import asyncio
import io
import logging
import math
import re

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

from bot.assets import Asset, AssetKind, find_asset
from bot.config import MarketDataMode
from bot.market.backfill import backfill
from bot.market.cache import PriceCache
from bot.market.errors import NoData
from bot.market.sources.updater import FIRST_FETCH_SPAN
from bot.ports.services import Services
from bot.store.models import PriceBarRow
from handlers.commands import dispatch
from tests.helpers import make_services
from tests.market.conftest import fake_sources, make_live, market_settings
from tests.market.fake_base import Failure
from tests.market.fakes import stop_fakes

ETH, BTC, RUT, IWM = (find_asset(s) for s in ("ETH", "BTC", "RUT", "IWM"))
SOL = Asset("SOL", "SOL (crypto)", AssetKind.CRYPTO, "24/7", None, ccxt="SOL/USDT", short="SOL")
EVERY_EXCHANGE_DOWN = {
    "binance": Failure(status=503, body="Service Unavailable"),
    "coinbase": Failure(status=429, body='{"error":"rate_limit_exceeded"}'),
    "kraken": Failure(html=True),
}


async def sources_of(store, asset: str, interval: str) -> dict[str, str]:
    query = select(PriceBarRow.ts, PriceBarRow.source).where(
        PriceBarRow.asset == asset, PriceBarRow.interval == interval
    )
    async with store.engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return {pd.Timestamp(ts): source for ts, source in rows}


async def status_of(live, asset: Asset, interval: str):
    (status,) = await live.status([asset])
    return next(s for s in status.series if s.interval == interval)


def services_for(live) -> Services:
    return make_services(market_settings(), market=live)


def names_failure(error: str | None, source: str, reason: str) -> bool:
    """Does a series' error say that `source` failed for `reason`?

    A crypto asset's 1d and 1h series are fetched side by side, and a failure puts the source on cooldown
    (the whole source for an outage or a rate limit, this asset on it for an unusable answer). So a series
    either asked the source itself ("binance: empty answer …") or found it cooling down from the other
    series' failure a moment earlier ("binance: not asked until 12:05 UTC after: empty answer …"). Which of
    the two depends on the interleaving; either way the error names the source and the reason, and the
    source was asked once or twice, never more.
    """
    pattern = rf"(^|; ){re.escape(source)}: (not asked until \d\d:\d\d UTC after: )?{re.escape(reason)}"
    return error is not None and re.search(pattern, error) is not None


# ---------------------------------------------------------------------------------------------- incremental


async def test_cold_start_seeds_from_the_snapshot_then_fetches_only_what_is_missing(fakes, live, store, clock):
    await live.refresh([ETH, RUT])
    klines = fakes.binance.price_requests()
    assert sorted(q["interval"] for q in klines) == ["1d", "1h"]
    starts = {q["interval"]: pd.Timestamp(int(q["startTime"]), unit="ms") for q in klines}
    assert starts == {"1h": pd.Timestamp("2026-01-19 14:00"), "1d": pd.Timestamp("2026-01-18")}  # snapshot ends
    assert len(fakes.yahoo.history_requests("^RUT")) == 1
    assert fakes.coinbase.price_requests() == fakes.kraken.price_requests() == []

    eth, rut = live.leg(ETH), live.leg(RUT)
    assert (eth.source, rut.source) == ("live", "live")
    assert eth.prices.daily.index[-1] == pd.Timestamp("2026-02-24")  # the 25th is still running
    assert eth.prices.hourly.index[-1] == pd.Timestamp("2026-02-25 12:00", tz="UTC")  # the 11:00 candle's end
    assert rut.prices.daily.index[-1] == pd.Timestamp("2026-02-24")
    origin = await sources_of(store, "ETH", "1h")
    assert origin[pd.Timestamp("2026-01-19 13:00")] == "snapshot"
    assert origin[pd.Timestamp("2026-01-19 14:00")] == "binance"  # the join bar came back and was rewritten
    hourly = eth.prices.hourly["2026-01-19 10:00":"2026-01-19 20:00"]
    assert (hourly.index.to_series().diff().dropna() == pd.Timedelta(hours=1)).all()

    reply = await dispatch(services_for(live), "/corr 90d", want_chart=False)
    assert reply.ok and reply.data["source"] == "live" and reply.data["stale"] is False


async def test_a_daily_refresh_costs_one_request_per_asset_and_interval(fakes, live, clock):
    await live.refresh([ETH, RUT])
    versions = (live.leg(ETH).version, live.leg(RUT).version)
    fakes.clear()
    clock.advance(days=1)
    await live.refresh([ETH, RUT])
    assert len(fakes.binance.requests) == 2 and fakes.binance.count("/api/v3/klines") == 2
    # one chart request (the time zone is cached); the fake cannot hand out a yahoo.com cookie, so yfinance
    # asks fc.yahoo.com ("/") again each time — against the real Yahoo it keeps the cookie
    assert fakes.yahoo.count("/v8/finance/chart/") == len(fakes.yahoo.history_requests("^RUT")) == 1
    assert fakes.coinbase.requests == fakes.kraken.requests == []
    assert live.leg(ETH).version > versions[0] and live.leg(RUT).version > versions[1]

    fakes.clear()
    await live.refresh([ETH, RUT])  # nothing new can exist yet: no request at all
    assert sum(len(f.requests) for f in fakes.all()) == 0
    clock.advance(hours=1)  # one more hourly candle is due, nothing else
    await live.refresh([ETH, RUT])
    assert [q["interval"] for q in fakes.binance.price_requests()] == ["1h"]
    assert sum(len(f.requests) for f in fakes.all()) == 1


async def test_a_cold_backfill_pages_once_per_page_of_bars(fakes, live, clock):
    await live.refresh([SOL])
    pages = {"1h": 0, "1d": 0}
    for query in fakes.binance.price_requests():
        pages[query["interval"]] += 1
    now = clock.naive
    for interval in ("1h", "1d"):
        since = (now - FIRST_FETCH_SPAN[interval]).normalize()
        book = fakes.book.hourly("SOL") if interval == "1h" else fakes.book.daily("SOL", crypto=True)
        served = int(((book.index >= since) & (book.index <= now)).sum())  # incl. the unfinished bar
        assert pages[interval] == math.ceil(served / 1000)
    assert pages == {"1h": 18, "1d": 3}  # 17,532 hourly bars; daily since the book begins (2018)
    assert live.leg(SOL).source == "live"


async def test_concurrent_refreshes_share_one_fetch(fakes, live):
    await asyncio.gather(live.refresh([ETH]), live.refresh([ETH]), live.refresh([ETH, BTC]))
    intervals = sorted((q["symbol"], q["interval"]) for q in fakes.binance.price_requests())
    assert intervals == [("BTCUSDT", "1d"), ("BTCUSDT", "1h"), ("ETHUSDT", "1d"), ("ETHUSDT", "1h")]


async def test_provisional_bars_are_never_used(fakes, live, clock):
    clock.set("2026-02-24 21:05")  # 5 minutes after Tuesday's close: Yahoo already shows the session
    await live.refresh([RUT, ETH])
    assert live.leg(RUT).prices.daily.index[-1] == pd.Timestamp("2026-02-23")
    assert live.leg(ETH).prices.hourly.index[-1] == pd.Timestamp("2026-02-24 21:00", tz="UTC")
    clock.set("2026-02-24 21:20")  # settled
    await live.refresh([RUT])
    assert live.leg(RUT).prices.daily.index[-1] == pd.Timestamp("2026-02-24")


# ---------------------------------------------------------------------------------------------- fallbacks


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        (Failure(status=429, body='{"code":-1003,"msg":"Too many requests."}'), "rate limited (HTTP 429)"),
        (Failure(status=418, body='{"code":-1003,"msg":"IP banned."}'), "rate limited (HTTP 418)"),
        (Failure(status=451, body='{"code":0,"msg":"restricted location"}'), "unavailable from this location"),
        (Failure(status=503, body="Service Unavailable"), "exchange unavailable (HTTP 503)"),
        pytest.param(Failure(delay=1.5), "timed out after 1 s", marks=pytest.mark.market_timeout(1.0)),
        (Failure(html=True), "empty answer"),
        (Failure(empty=True), "empty answer"),
    ],
    ids=["429", "418", "451", "503", "timeout", "html-200", "empty"],
)
async def test_a_failing_exchange_falls_back_to_the_next(fakes, live, store, clock, caplog, failure, reason):
    fakes.binance.failure = failure
    with caplog.at_level(logging.WARNING):
        await live.refresh([ETH])
    assert live.leg(ETH).source == "live"
    assert (await sources_of(store, "ETH", "1h"))[pd.Timestamp("2026-02-25 11:00")] == "coinbase"
    line = await status_of(live, ETH, "1h")
    assert line.origin == "coinbase" and names_failure(line.last_error, "binance", reason), line.last_error
    # each series that asked binance logged its failure; the other (if any) skipped binance on cooldown
    asked = sorted(q["interval"] for q in fakes.binance.price_requests())
    assert asked in (["1d"], ["1h"], ["1d", "1h"])
    for interval in ("1d", "1h"):
        logged = re.search(rf"ETH {interval}: binance failed: {re.escape(reason)}.*; trying coinbase", caplog.text)
        assert (logged is not None) is (interval in asked), (interval, asked, caplog.text)
    cooled = re.match(r"binance: not asked until \d\d:\d\d UTC after: ", line.last_error)
    assert (cooled is not None) is ("1h" not in asked), (asked, line.last_error)
    reply = await dispatch(services_for(live), "/beta 90d ETH RUT", want_chart=False)
    assert reply.data["sources"]["ETH"] == "live"


async def test_kraken_fills_a_short_gap_but_not_a_long_one(fakes, live, store, clock):
    await live.refresh([BTC])
    fakes.binance.failure = Failure(status=503, body="down")
    fakes.coinbase.failure = Failure(status=503, body="down")
    clock.advance(days=2)
    await live.refresh([BTC])
    assert live.leg(BTC).source == "live"
    assert (await sources_of(store, "BTC", "1h"))[clock.naive.floor("h") - pd.Timedelta(hours=1)] == "kraken"
    clock.advance(days=40)  # more than Kraken's 720 latest candles
    await live.refresh([BTC])
    assert live.leg(BTC).source == "cache"
    assert "kraken: the answer starts" in (await status_of(live, BTC, "1h")).last_error


async def test_every_exchange_down_serves_the_snapshot_then_the_cache(fakes, store, sources, clock, settings):
    for name, failure in EVERY_EXCHANGE_DOWN.items():
        fakes.exchanges[name].failure = failure
    cold = make_live(store, sources, clock, settings)
    await cold.refresh([ETH, RUT])
    assert (cold.leg(ETH).source, cold.leg(RUT).source) == ("snapshot", "live")
    error = (await status_of(cold, ETH, "1d")).last_error
    assert names_failure(error, "binance", "exchange unavailable (HTTP 503)"), error
    assert names_failure(error, "coinbase", "rate limited"), error
    assert names_failure(error, "kraken", "empty answer"), error
    reply = await dispatch(services_for(cold), "/corr 90d", want_chart=False)
    assert reply.ok and reply.data["source"] == "snapshot" and reply.data["sources"]["RUT"] == "live"
    assert reply.text.startswith("⚠️") and "ETH data ends 2026-01-18 (snapshot)" in reply.text.splitlines()[0]

    for fake in fakes.exchanges.values():
        fake.failure = None
    clock.advance(minutes=10)  # past the cooldown
    warm = make_live(store, sources, clock, settings, cooldown_seconds=0)
    await warm.refresh([ETH])
    assert warm.leg(ETH).source == "live"
    for name, failure in EVERY_EXCHANGE_DOWN.items():
        fakes.exchanges[name].failure = failure
    clock.advance(days=1)
    await warm.refresh([ETH])
    assert warm.leg(ETH).source == "cache"
    reply = await dispatch(services_for(warm), "/corr 90d", want_chart=False)
    assert reply.data["source"] == "cache" and reply.data["stale"] is True


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        (Failure(status=429, body="Too Many Requests"), "rate limited by Yahoo (HTTP 429)"),
        (Failure(status=503, body="Service Unavailable"), "Yahoo answered HTTP 503"),
        pytest.param(Failure(delay=1.5), "timed out after 1 s", marks=pytest.mark.market_timeout(1.0)),
        (Failure(html=True), "not JSON"),
        (Failure(empty=True), "no prices"),
    ],
    ids=["YFRateLimitError", "503", "timeout", "html-200", "empty"],
)
async def test_yahoo_failures_leave_the_leg_on_the_snapshot(fakes, live, clock, failure, reason):
    fakes.yahoo.failure = failure
    await live.refresh([RUT])
    assert live.leg(RUT).source == "snapshot"
    error = (await status_of(live, RUT, "1d")).last_error
    assert error.startswith("yahoo: ") and reason in error
    reply = await dispatch(services_for(live), "/corr 90d", want_chart=False)
    assert reply.data["sources"]["RUT"] == "snapshot" and reply.data["stale"] is True
    assert reply.text.startswith("⚠️ Stale data: RUT data ends 2026-02-20 (snapshot)")


async def test_a_failed_source_is_left_alone_for_a_while(fakes, store, sources, clock, settings):
    live = make_live(store, sources, clock, settings, cooldown_seconds=2 * 3600)
    failed: list[str] = []
    live.updater.on_source_error = failed.append  # what feeds decoupler_source_errors_total
    fakes.binance.failure = Failure(status=503, body="down")
    await live.refresh([ETH])
    asked = len(fakes.binance.price_requests())
    assert asked in (1, 2)  # 1d and 1h side by side: the second may already find binance cooling down
    assert failed == ["binance"] * asked  # each failed answer counted once; a skip on cooldown is no error
    clock.advance(hours=1)
    await live.refresh([ETH])
    assert len(fakes.binance.price_requests()) == asked  # cooling down: straight to Coinbase
    assert "not asked until" in (await status_of(live, ETH, "1h")).last_error
    assert live.leg(ETH).source == "live"
    fakes.binance.failure = None
    clock.advance(hours=2)
    await live.refresh([ETH])
    assert [q["interval"] for q in fakes.binance.price_requests()[asked:]] == ["1h"]  # asked again


async def test_implausible_jumps_are_errors_not_data(fakes, live, clock):
    day = pd.Timestamp("2026-02-23")
    fakes.book.overrides[("RUT", "1d")] = fakes.book.daily("RUT", crypto=False)[[day]] * 3
    hour = pd.Timestamp("2026-02-25 03:00")
    fakes.book.overrides[("ETH", "1h")] = fakes.book.hourly("ETH")[[hour]] * 4
    await live.refresh([RUT, ETH])
    assert live.leg(RUT).source == "snapshot"
    rut_error = (await status_of(live, RUT, "1d")).last_error
    assert "yahoo: implausible move of 110% in log terms into 2026-02-23" in rut_error
    eth_error = (await status_of(live, ETH, "1h")).last_error
    assert "binance: implausible move" in eth_error and "coinbase: implausible move" in eth_error
    assert "kraken: the answer starts" in eth_error  # Kraken's 720 latest candles do not reach back that far
    assert live.leg(ETH).source == "cache"  # its daily candles did arrive; the hourly ones are the snapshot's


async def test_live_mode_fails_loudly(fakes, store, sources, clock, settings):
    for name, failure in EVERY_EXCHANGE_DOWN.items():
        fakes.exchanges[name].failure = failure
    live = make_live(store, sources, clock, market_settings(market_data="live"))
    assert live.mode is MarketDataMode.LIVE
    await live.refresh([ETH, RUT])
    with pytest.raises(NoData, match=r"^no live prices for ETH: 1d: binance: ") as raised:
        live.leg(ETH)
    assert names_failure(str(raised.value).split(": 1d: ", 1)[1], "binance", "exchange unavailable (HTTP 503)")
    assert live.leg(RUT).source == "live"
    reply = await dispatch(services_for(live), "/corr 90d", want_chart=False)
    assert not reply.ok
    assert reply.text.startswith("No live prices for ETH") and "MARKET_DATA=live does not fall back" in reply.text


async def test_with_no_network_at_all_commands_answer_from_the_snapshot(fakes, store, clock, settings):
    sources = fake_sources(fakes, settings)
    await stop_fakes(fakes)  # every port now refuses connections
    live = make_live(store, sources, clock, settings)
    try:
        reply = await dispatch(services_for(live), "/corr 90d", want_chart=False)
    finally:
        await sources.close()
    assert reply.ok and reply.data["source"] == "snapshot" and reply.data["stale"] is True
    assert reply.text.startswith("⚠️ Stale data:")
    assert "network error" in (await status_of(live, ETH, "1h")).last_error


async def test_the_budget_bounds_the_wait_and_the_fetch_finishes_in_the_background(fakes, store, sources, clock,
                                                                                    settings):
    live = make_live(store, sources, clock, settings, budget_seconds=0.2)
    fakes.binance.failure = Failure(delay=1.0, empty=True)  # slow, and then empty
    fakes.coinbase.failure = Failure(delay=0.5)  # slow, then fine
    await live.refresh([ETH])
    assert live.leg(ETH).source == "snapshot"  # answered from what is stored
    await asyncio.gather(*list(live._running.values()))
    assert live.leg(ETH).source == "live"
    fakes.clear()
    await live.refresh([ETH])
    assert sum(len(f.requests) for f in fakes.all()) == 0


async def test_a_dividend_rebases_the_stored_adjusted_history(fakes, live, store, clock):
    ex_date = pd.Timestamp("2026-02-24")
    closes = fakes.book.daily("IWM", crypto=False)
    fakes.yahoo.dividends["IWM"] = {ex_date: 0.01 * float(closes[pd.Timestamp("2026-02-23")])}  # a 1 % dividend
    clock.set("2026-02-23 22:00")
    await live.refresh([IWM])
    before = await PriceCache(store.db).closes("IWM", "1d")
    clock.set("2026-02-24 22:00")  # Yahoo now knows the dividend and re-bases everything before it
    await live.refresh([IWM])
    after = await PriceCache(store.db).closes("IWM", "1d")
    old = before.index[before.index < pd.Timestamp("2026-02-23")]
    assert after[old].to_numpy() == pytest.approx(before[old].to_numpy() * 0.99)
    served = fakes.yahoo.chart_body("IWM", closes[pd.Timestamp("2026-01-02"):ex_date])
    adjusted = served["chart"]["result"][0]["indicators"]["adjclose"][0]["adjclose"]
    assert after[pd.Timestamp("2026-01-02"):ex_date].to_numpy() == pytest.approx(adjusted, rel=1e-6)
    returns = np.diff(np.log(live.leg(IWM).prices.daily.to_numpy()))
    assert np.abs(returns).max() < 0.05  # no dividend-sized step at the join


async def test_a_source_that_breaks_unexpectedly_is_just_one_failed_source(fakes, live, caplog, monkeypatch):
    async def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(live.sources.crypto[0], "fetch", broken)
    with caplog.at_level(logging.ERROR):
        await live.refresh([ETH])
    assert live.leg(ETH).source == "live"
    line = await status_of(live, ETH, "1h")
    assert line.origin == "coinbase" and "binance: " in line.last_error
    assert "unexpected error (ZeroDivisionError)" in line.last_error
    assert "binance raised" in caplog.text and "ZeroDivisionError: a bug" in caplog.text


async def test_bars_another_process_stored_are_picked_up(fakes, live, store, sources, clock):
    await live.refresh([ETH])
    clock.advance(days=1)
    quiet = io.StringIO()
    await backfill(PriceCache(store.db), sources, [ETH], None, clock=clock, out=quiet, progress_file=quiet)  # the CLI
    fakes.clear()
    await live.refresh([ETH])
    assert sum(len(f.requests) for f in fakes.all()) == 0
    assert live.leg(ETH).prices.hourly.index[-1] == clock.now.floor("h")
    assert live.leg(ETH).prices.daily.index[-1] == clock.naive.floor("D") - pd.Timedelta(days=1)
