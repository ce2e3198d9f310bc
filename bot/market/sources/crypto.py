"""Crypto candles through ccxt's async exchanges (Binance, Coinbase, Kraken), hourly and daily.

Each exchange quotes our assets in its own currency, mapped explicitly (Binance ETH/USDT, Coinbase and
Kraken ETH/USD). ccxt's rate limiter is on and its retry option (`maxRetriesOnFailure`) stays at 0 in the
bot: the next exchange in the chain is the retry, so a failing exchange costs one short timeout. The CLI
backfill, which has no time budget, asks ccxt for a couple of delayed retries instead.

Paging is written here rather than with ccxt's `paginate` option: that option anchors its pages to the
real clock unless `until` is given, and with `until` every Coinbase page asks for more than the 350
candles Coinbase allows; it also fires all pages at once. This loop walks forward one page at a time and
stops at the first page that reaches the clock, so N missing bars cost ceil(N / page size) requests.
"""

from __future__ import annotations

import re

import ccxt.async_support as ccxt
import pandas as pd

from bot.assets import Asset
from bot.market.sources.base import DAILY, HOURLY, STEP, Fetched, Progress, Scope, SourceError, bars_from

QUOTE_CURRENCY = {"binance": "USDT", "coinbase": "USD", "kraken": "USD"}
# Candles per request: Binance's spot maximum; Coinbase answers at most 300 per time window (350 hard limit);
# Kraken returns only its latest 720 candles whatever `since` says, so it can fill short gaps only.
PAGE_LIMIT = {"binance": 1000, "coinbase": 300, "kraken": 720}
# Coinbase pages are time windows (since .. since + limit candles); an empty window is not the end of data.
TIME_WINDOW_PAGES = {"coinbase"}
EXCHANGE_OPTIONS: dict[str, dict[str, object]] = {
    "binance": {"fetchMarkets": {"types": ["spot"]}},  # spot markets only: one exchangeInfo request
}
_HTTP_STATUS = re.compile(r"\s([1-5]\d\d)\s")


def make_exchange(
    exchange_id: str, timeout_seconds: float, retries: int = 0, **config: object
) -> ccxt.Exchange:
    """A ccxt async exchange with the rate limiter on and short timeouts (`config` adds ccxt settings)."""
    if exchange_id not in QUOTE_CURRENCY:
        raise ValueError(f"no quote-currency mapping for exchange {exchange_id!r}")
    options: dict[str, object] = {"maxRetriesOnFailure": retries, "maxRetriesOnFailureDelay": 1000 if retries else 0}
    options.update(EXCHANGE_OPTIONS.get(exchange_id, {}))
    exchange_class = getattr(ccxt, exchange_id)
    settings = {"enableRateLimit": True, "timeout": int(timeout_seconds * 1000), "options": options, **config}
    return exchange_class(settings)


def market_symbol(asset: Asset, exchange_id: str) -> str:
    """The ccxt symbol of a crypto asset on an exchange: its base against that exchange's quote currency."""
    base = (asset.ccxt or asset.symbol).split("/")[0].upper()
    return f"{base}/{QUOTE_CURRENCY[exchange_id]}"


def describe_error(exc: Exception, timeout_seconds: float) -> tuple[str, Scope, float]:
    """A short reason for a ccxt error, whether it is the exchange's fault or the asset's, and how much
    longer than usual to leave the exchange alone (a 451 — unavailable from here — does not pass soon)."""
    message = str(exc)
    found = _HTTP_STATUS.search(message)
    status = f"HTTP {found.group(1)}" if found else None
    if isinstance(exc, ccxt.RequestTimeout):
        return f"timed out after {timeout_seconds:g} s", Scope.SOURCE, 1.0
    if isinstance(exc, ccxt.DDoSProtection | ccxt.RateLimitExceeded):
        return f"rate limited ({status or type(exc).__name__})", Scope.SOURCE, 1.0
    if status == "HTTP 451":
        return "unavailable from this location (HTTP 451)", Scope.SOURCE, 12.0
    if isinstance(exc, ccxt.ExchangeNotAvailable) and status is None and not isinstance(exc.__cause__, ccxt.BaseError):
        cause = type(exc.__cause__).__name__ if exc.__cause__ is not None else "no answer"
        return f"network error ({cause})", Scope.SOURCE, 1.0
    if isinstance(exc, ccxt.ExchangeNotAvailable):
        return f"exchange unavailable ({status or type(exc).__name__})", Scope.SOURCE, 1.0
    if isinstance(exc, ccxt.NetworkError):
        return f"network error ({type(exc).__name__})", Scope.SOURCE, 1.0
    if isinstance(exc, ccxt.BadSymbol):
        return "unknown market", Scope.SERIES, 1.0
    return f"exchange error ({status or type(exc).__name__})", Scope.SERIES, 1.0


class CcxtSource:
    adjusted = False

    def __init__(self, exchange: ccxt.Exchange, timeout_seconds: float):
        self.exchange = exchange
        self.name: str = exchange.id
        self.timeout_seconds = timeout_seconds
        self.page_limit = PAGE_LIMIT[self.name]

    def __repr__(self) -> str:
        return f"CcxtSource({self.name})"

    def supports(self, asset: Asset, interval: str) -> bool:
        return asset.is_crypto and interval in (DAILY, HOURLY)

    async def markets(self) -> dict[str, dict]:
        """The exchange's own symbol list (loaded once per process by ccxt)."""
        try:
            return await self.exchange.load_markets()
        except ccxt.BaseError as exc:
            reason, _scope, factor = describe_error(exc, self.timeout_seconds)
            raise SourceError(self.name, f"markets: {reason}", scope=Scope.SOURCE, cooldown_factor=factor) from exc

    async def has_market(self, asset: Asset) -> bool:
        return market_symbol(asset, self.name) in await self.markets()

    async def fetch(
        self, asset: Asset, interval: str, since: pd.Timestamp, until: pd.Timestamp, progress: Progress | None = None
    ) -> Fetched:
        symbol = market_symbol(asset, self.name)
        if not await self.has_market(asset):
            raise SourceError(self.name, f"no {symbol} market", scope=Scope.SERIES)
        step_ms = int(STEP[interval] / pd.Timedelta(milliseconds=1))
        cursor = _ms(since)
        end = _ms(until)
        rows: list[list] = []
        while cursor + step_ms <= end:  # a complete candle can still open at `cursor`
            page = await self._page(symbol, interval, cursor)
            if progress is not None:
                progress(len(page))
            if not page:
                if self.name in TIME_WINDOW_PAGES:
                    cursor += self.page_limit * step_ms
                    continue
                break
            rows.extend(page)
            last_open = int(page[-1][0])
            if last_open < cursor:
                break
            cursor = last_open + step_ms
        if not rows:
            raise SourceError(self.name, f"empty answer for {symbol} {interval} (no candles)", scope=Scope.SERIES)
        opens = pd.to_datetime([int(r[0]) for r in rows], unit="ms")
        return Fetched(bars_from(opens, [r[4] for r in rows]))

    async def _page(self, symbol: str, interval: str, since_ms: int) -> list[list]:
        try:
            return await self.exchange.fetch_ohlcv(symbol, interval, since=since_ms, limit=self.page_limit)
        except ccxt.BaseError as exc:
            reason, scope, factor = describe_error(exc, self.timeout_seconds)
            raise SourceError(self.name, reason, scope=scope, cooldown_factor=factor) from exc

    async def close(self) -> None:
        await self.exchange.close()


def _ms(ts: pd.Timestamp) -> int:
    return int(pd.Timestamp(ts).value // 1_000_000)  # `.value` is nanoseconds since the epoch, whatever the unit
