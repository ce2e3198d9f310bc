"""Requests and seconds of the price cache's refreshes, against local fakes of Binance and Yahoo.

1. Cold backfill into an empty cache (no snapshot): ETH and BTC hourly and daily over 5 years, RUT, IWM,
   SPY and QQQ daily over 10 years — what `python -m bot backfill --since …` does.
2. The next day's refresh of all six (what the bot does after each close), then one with nothing new.
3. A first start on a fresh database: seeded from the bundled snapshot, then only the gap is fetched.

The fakes (tests/market/fakes.py) serve real-format answers: the bundled snapshot where it has data, a
seeded random walk elsewhere. ccxt's rate limiter runs with the exchanges' real intervals unless
`--rate-limit-ms` says otherwise (then the figures show the code's own cost, not Binance's limits).
Run: `.venv/bin/python bench/refresh.py [--rate-limit-ms 2]`.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import io
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import yfinance as yf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.market.cli import backfill

from bot.assets import find_asset
from bot.config import load_settings
from bot.market.cache import PriceCache
from bot.market.live import BundledSnapshot, LiveMarketData
from bot.market.sources import build_sources
from bot.market.sources.crypto import make_exchange
from bot.store import open_store
from tests.market.fake_base import TestClock
from tests.market.fake_yahoo import LocalYahooSession, point_exchange_at
from tests.market.fakes import Fakes, start_fakes, stop_fakes

NOW = "2026-11-24 12:00"
CRYPTO = ("ETH", "BTC")
EQUITIES = ("RUT", "IWM", "SPY", "QQQ")


class NoSnapshot(BundledSnapshot):
    def bars(self, asset, interval):
        return None


def make_sources(fakes: Fakes, rate_limit_ms: int | None, retries: int = 0):
    settings = load_settings(market_data="auto", exchanges="binance", market_timeout_seconds=10,
                             database_url="sqlite://")
    extra = {} if rate_limit_ms is None else {"rateLimit": rate_limit_ms}
    binance = point_exchange_at(make_exchange("binance", 10, retries, **extra), fakes.binance.base_url)
    session = LocalYahooSession(fakes.yahoo.port, max_timeout=10)
    return settings, build_sources(settings, retries=retries, exchanges={"binance": binance}, yahoo_session=session)


def requests_made(fakes: Fakes) -> Counter:
    counts: Counter = Counter()
    for path, query in fakes.binance.requests:
        key = f"binance klines {query.get('symbol', '')} {query.get('interval', '')}" if "klines" in path else (
            f"binance {path}")
        counts[key] += 1
    for path, query in fakes.yahoo.requests:
        if "/v8/finance/chart/" in path:
            counts["yahoo chart (history)" if "period1" in query else "yahoo chart (time-zone lookup)"] += 1
        else:
            counts[f"yahoo {path} (cookie/crumb)"] += 1
    return counts


def show(title: str, seconds: float, counts: Counter, extra: str = "") -> None:
    print(f"\n{title}\n  {sum(counts.values())} requests in {seconds:.2f} s{extra}")
    for key, value in sorted(counts.items()):
        print(f"    {value:4d}  {key}")


async def main(rate_limit_ms: int | None) -> None:
    clock = TestClock(NOW)
    fakes = await start_fakes(clock)
    workdir = Path(tempfile.mkdtemp(prefix="decoupler-bench-"))
    yf.set_tz_cache_location(str(workdir / "yfinance"))
    crypto = [find_asset(s) for s in CRYPTO]
    equities = [find_asset(s) for s in EQUITIES]
    try:
        # 1. cold backfill into an empty cache
        store = await open_store(f"sqlite:///{workdir}/cold.sqlite3")
        cache = PriceCache(store.db)
        _, sources = make_sources(fakes, rate_limit_ms, retries=2)
        started = time.perf_counter()
        five_years = (clock.naive - pd.DateOffset(years=5)).date()
        ten_years = (clock.naive - pd.DateOffset(years=10)).date()
        quiet = io.StringIO()
        await backfill(cache, sources, crypto, five_years, clock=clock, bundled=NoSnapshot(), out=quiet,
                       progress_file=quiet)
        await backfill(cache, sources, equities, ten_years, clock=clock, bundled=NoSnapshot(), out=quiet,
                       progress_file=quiet)
        seconds = time.perf_counter() - started
        stored = {f"{a.symbol} {i}": await cache.count(a.symbol, i) for a in crypto for i in ("1h", "1d")}
        stored.update({f"{a.symbol} 1d": await cache.count(a.symbol, "1d") for a in equities})
        detail = ", ".join(f"{k} {v:,}" for k, v in stored.items())
        show(f"1. cold backfill: crypto 1h+1d since {five_years}, equities 1d since {ten_years}", seconds,
             requests_made(fakes), f"; bars stored: {sum(stored.values()):,} ({detail})")
        await sources.close()

        # 2. the next day's refresh, then one with nothing new
        _, sources = make_sources(fakes, rate_limit_ms)
        live = LiveMarketData(load_settings(market_data="auto", database_url="sqlite://").market_data, cache,
                              sources, budget_seconds=60, cooldown_seconds=300, clock=clock, bundled=NoSnapshot())
        await live.refresh(crypto + equities)  # loads the cache into memory; nothing is due yet
        fakes.clear()
        clock.advance(days=1)
        started = time.perf_counter()
        await live.refresh(crypto + equities)
        labels = ", ".join(f"{a.symbol} {live.leg(a).source}" for a in crypto + equities)
        show("2a. refresh the next day (one request per asset and interval expected)", time.perf_counter() - started,
             requests_made(fakes), f"; sources: {labels}")
        fakes.clear()
        started = time.perf_counter()
        await live.refresh(crypto + equities)
        show("2b. refresh again with nothing new", time.perf_counter() - started, requests_made(fakes))
        await live.close()
        await store.close()

        # 3. first start on a fresh database: bundled snapshot, then the gap
        clock.set(NOW)
        fakes.clear()
        yf.data.YfData.cache_get.cache_clear()
        store = await open_store(f"sqlite:///{workdir}/fresh.sqlite3")
        _, sources = make_sources(fakes, rate_limit_ms)
        live = LiveMarketData(load_settings(market_data="auto", database_url="sqlite://").market_data,
                              PriceCache(store.db), sources, budget_seconds=60, cooldown_seconds=300, clock=clock)
        started = time.perf_counter()
        await live.refresh(crypto + equities)
        seeded = sum([await PriceCache(store.db).count(a.symbol, i) for a in crypto for i in ("1h", "1d")]
                     + [await PriceCache(store.db).count(a.symbol, "1d") for a in equities])
        show("3. first start: seed from the bundled snapshot, fetch the gap", time.perf_counter() - started,
             requests_made(fakes), f"; bars in the cache afterwards: {seeded:,}")
        await live.close()
        await store.close()
    finally:
        await stop_fakes(fakes)
    limit = "each exchange's default" if rate_limit_ms is None else f"{rate_limit_ms} ms"
    print(f"\n(clock {NOW} UTC; ccxt rateLimit {limit}; run on {dt.date.today()})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate-limit-ms", type=int, default=None, help="ccxt rateLimit for the fake Binance")
    asyncio.run(main(parser.parse_args().rate_limit_ms))
