"""ccxt against local fakes of Binance, Coinbase and Kraken: ccxt's own parsers, paging, and errors."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from bot.assets import Asset, AssetKind, find_asset
from bot.market.sources import Scope, SourceError
from bot.market.sources.crypto import CcxtSource, market_symbol
from tests.market.conftest import fake_exchange
from tests.market.fake_base import FIXTURES, Failure

ETH, BTC = find_asset("ETH"), find_asset("BTC")
SOL = Asset("SOL", "SOL (crypto)", AssetKind.CRYPTO, "24/7", None, ccxt="SOL/USDT", short="SOL")


def source_for(fakes, name: str, timeout: float = 2.0) -> CcxtSource:
    return CcxtSource(fake_exchange(name, fakes, timeout), timeout)


def test_quote_currencies_are_mapped_explicitly():
    assert [market_symbol(ETH, x) for x in ("binance", "coinbase", "kraken")] == ["ETH/USDT", "ETH/USD", "ETH/USD"]
    assert market_symbol(BTC, "kraken") == "BTC/USD"  # ccxt maps Kraken's XBT to BTC


async def test_recorded_binance_klines_parse_as_ccxt_specifies(fakes):
    case = json.loads((FIXTURES / "binance_fetchOHLCV_static_response.json").read_text())["methods"]["fetchOHLCV"][0]
    symbol, timeframe, since, limit = case["input"]
    fakes.binance.recorded = case["httpResponse"]
    source = source_for(fakes, "binance")
    try:
        assert await source.exchange.fetch_ohlcv(symbol, timeframe, since, limit) == case["parsedResponse"]
        assert fakes.binance.price_requests()[-1] == {
            "symbol": "BTCUSDT", "interval": "1h", "limit": "3", "startTime": str(since)
        }
        fetched = await source.fetch(BTC, "1h", pd.Timestamp(since, unit="ms").floor("h"),
                                     pd.Timestamp("2024-01-30 19:00"))
        assert fetched.bars.tolist() == [row[4] for row in case["parsedResponse"]]
        assert fetched.bars.index[0] == pd.Timestamp("2024-01-30 16:00")
    finally:
        await source.close()


async def test_binance_backfill_pages_forward_without_gaps_or_overlaps(fakes, clock):
    source = source_for(fakes, "binance")
    since = clock.naive.floor("h") - pd.Timedelta(hours=2500)
    try:
        fetched = await source.fetch(SOL, "1h", since, clock.naive)
    finally:
        await source.close()
    bars = fetched.bars
    assert bars.index[0] == since and bars.index.is_unique
    assert (bars.index.to_series().diff().dropna() == pd.Timedelta(hours=1)).all()
    pages = fakes.binance.price_requests()
    assert len(pages) == math.ceil(len(bars) / 1000) == 3  # 2,501 bars incl. the unfinished hour
    starts = [pd.Timestamp(int(p["startTime"]), unit="ms") for p in pages]
    assert starts == [since, since + pd.Timedelta(hours=1000), since + pd.Timedelta(hours=2000)]
    assert {p["limit"] for p in pages} == {"1000"}


async def test_coinbase_pages_are_time_windows_within_its_candle_limit(fakes, clock):
    source = source_for(fakes, "coinbase")
    since = clock.naive.floor("h") - pd.Timedelta(hours=700)
    try:
        fetched = await source.fetch(ETH, "1h", since, clock.naive)
    finally:
        await source.close()
    pages = fakes.coinbase.price_requests()
    assert len(pages) == math.ceil(701 / 300)
    assert all((int(p["end"]) - int(p["start"])) / 3600 <= 300 for p in pages)
    expected = (fakes.book.hourly("ETH")[since:clock.naive] * 1.0003).round(2)
    assert fetched.bars.to_numpy() == pytest.approx(expected.to_numpy())


async def test_kraken_serves_its_latest_candles_through_ccxt(fakes, clock):
    source = source_for(fakes, "kraken")
    since = clock.naive.floor("D") - pd.Timedelta(days=5)
    try:
        fetched = await source.fetch(BTC, "1d", since, clock.naive)
    finally:
        await source.close()
    assert len(fakes.kraken.price_requests()) == 1
    assert fetched.bars.index[0] == since and fetched.bars.index[-1] == clock.naive.floor("D")


@pytest.mark.parametrize(
    ("failure", "reason", "scope", "factor"),
    [
        (Failure(status=429, body='{"code":-1003,"msg":"Too many requests."}'), "rate limited", Scope.SOURCE, 1),
        (Failure(status=418, body='{"code":-1003,"msg":"Way too many requests; IP banned."}'), "rate limited",
         Scope.SOURCE, 1),
        (Failure(status=451, body='{"code":0,"msg":"Service unavailable from a restricted location."}'),
         "unavailable from this location (HTTP 451)", Scope.SOURCE, 12),
        (Failure(status=503, body="Service Unavailable"), "exchange unavailable (HTTP 503)", Scope.SOURCE, 1),
        (Failure(delay=2.0), "timed out after 0.5 s", Scope.SOURCE, 1),
        (Failure(html=True), "empty answer for ETH/USDT 1h", Scope.SERIES, 1),
        (Failure(empty=True), "empty answer for ETH/USDT 1h", Scope.SERIES, 1),
    ],
    ids=["429", "418", "451", "503", "timeout", "html-200", "empty"],
)
async def test_binance_failures_become_short_reasons(fakes, clock, failure, reason, scope, factor):
    fakes.binance.failure = failure
    source = source_for(fakes, "binance", timeout=0.5)
    try:
        with pytest.raises(SourceError) as caught:
            await source.fetch(ETH, "1h", clock.naive.floor("h") - pd.Timedelta(hours=3), clock.naive)
    finally:
        await source.close()
    assert reason in caught.value.reason
    assert caught.value.scope is scope and caught.value.cooldown_factor == factor
    assert "127.0.0.1" not in caught.value.reason


async def test_an_unlisted_market_is_refused_before_any_candle_request(fakes, clock):
    source = source_for(fakes, "binance")
    doge = Asset("DOGE", "Dogecoin", AssetKind.CRYPTO, "24/7", None, ccxt="DOGE/USDT")
    try:
        with pytest.raises(SourceError, match="no DOGE/USDT market") as caught:
            await source.fetch(doge, "1d", clock.naive.floor("D"), clock.naive)
    finally:
        await source.close()
    assert caught.value.scope is Scope.SERIES
    assert fakes.binance.price_requests() == []
