"""The configured sources and the fallback order per asset: crypto through the exchanges in EXCHANGES
order, everything else through Yahoo."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

import ccxt.async_support as ccxt
from curl_cffi import requests as curl_requests

from bot.assets import Asset
from bot.config import Settings
from bot.market.sources.base import PriceSource
from bot.market.sources.crypto import CcxtSource, make_exchange
from bot.market.sources.yahoo import YahooSource

log = logging.getLogger(__name__)


@dataclass
class SourceSet:
    crypto: list[CcxtSource] = field(default_factory=list)
    yahoo: YahooSource | None = None

    def chain(self, asset: Asset, interval: str) -> list[PriceSource]:
        """The sources to try for one series, in order."""
        candidates: list[PriceSource] = [*self.crypto]
        if self.yahoo is not None:
            candidates.append(self.yahoo)
        return [s for s in candidates if s.supports(asset, interval)]

    async def close(self) -> None:
        sources: list[PriceSource] = [*self.crypto, *([self.yahoo] if self.yahoo else [])]
        results = await asyncio.gather(*(s.close() for s in sources), return_exceptions=True)
        for source, result in zip(sources, results, strict=True):
            if isinstance(result, Exception):
                log.warning("closing %s failed: %s", source.name, result)


def build_sources(
    settings: Settings,
    *,
    retries: int = 0,
    exchanges: Mapping[str, ccxt.Exchange] | None = None,
    yahoo_session: curl_requests.Session | None = None,
) -> SourceSet:
    """Sources as configured. `exchanges` and `yahoo_session` replace the default clients (tests point
    them at local fakes); `retries` is ccxt's own retry count per request (0 in the bot)."""
    timeout = settings.market_timeout_seconds
    crypto = []
    for exchange_id in settings.exchanges:
        exchange = (exchanges or {}).get(exchange_id) or make_exchange(exchange_id, timeout, retries)
        crypto.append(CcxtSource(exchange, timeout))
    return SourceSet(crypto, YahooSource(timeout, yahoo_session))
