"""Price sources behind one small interface: `fetch(asset, interval, since, until) -> Fetched`.

- `crypto.CcxtSource`: hourly and daily candles from Binance, Coinbase or Kraken (ccxt, async);
- `yahoo.YahooSource`: daily closes of equities, ETFs and indices (yfinance, in a worker thread);
- `checks`: pure functions that drop provisional bars and reject answers that are not data;
- `updater.SeriesUpdater`: brings one stored series up to date through its fallback chain;
- `lookup`: validates tickers users add.
"""

from bot.market.sources.base import DAILY, HOURLY, Fetched, PriceSource, Scope, SourceError, intervals_of
from bot.market.sources.factory import SourceSet, build_sources

__all__ = [
    "DAILY",
    "HOURLY",
    "Fetched",
    "PriceSource",
    "Scope",
    "SourceError",
    "SourceSet",
    "build_sources",
    "intervals_of",
]
