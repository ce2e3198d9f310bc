"""`/assets add`: turn a user's ticker into an Asset only after a source has vouched for it.

The text must first match a strict pattern (letters and digits, an optional leading ^, an optional
.X or -X class suffix); only then is it looked up — in the exchanges' own market lists for crypto (no URL
is built from it), or with one Yahoo test fetch for equities and indices.
"""

from __future__ import annotations

import re
import unicodedata

from bot.assets import Asset, AssetKind, find_asset
from bot.market.sources.base import Scope, SourceError
from bot.market.sources.crypto import QUOTE_CURRENCY, market_symbol
from bot.market.sources.factory import SourceSet

YAHOO_SYMBOL = re.compile(r"^\^?[A-Z0-9]{1,10}(?:[.-][A-Z0-9]{1,4})?$")
CRYPTO_BASE = re.compile(r"^[A-Z0-9]{2,10}$")
KINDS = {"crypto": "crypto", "coin": "crypto", "stock": "equity", "equity": "equity", "etf": "equity",
         "index": "equity"}
# Pairs align on New York sessions: only symbols that trade on that clock can be added for now.
US_TIME_ZONE = "America/New_York"
YAHOO_KINDS = {"EQUITY": AssetKind.EQUITY, "ETF": AssetKind.EQUITY, "INDEX": AssetKind.INDEX}


class AssetRejected(ValueError):
    """The ticker cannot be added; the message says why, in words a user understands."""


def normalise_ticker(text: str) -> str:
    symbol = text.strip().upper()
    if not YAHOO_SYMBOL.match(symbol):
        raise AssetRejected(
            f"'{symbol[:16]}' is not a ticker: use letters and digits, e.g. SOL, TSLA, BRK-B or ^VIX"
        )
    return symbol


async def lookup_asset(text: str, kind: str | None, sources: SourceSet) -> Asset:
    symbol = normalise_ticker(text)
    wanted = KINDS.get(kind.lower()) if kind else None
    if kind and wanted is None:
        raise AssetRejected(f"unknown kind '{kind[:12]}': use crypto, stock or index")
    known = find_asset(symbol) or find_asset(symbol.lstrip("^").replace("-", "."))
    if known is not None:
        raise AssetRejected(f"{symbol} is already known as {known.symbol}")
    problems: list[str] = []
    if wanted in (None, "crypto") and CRYPTO_BASE.match(symbol):
        asset = await _crypto(symbol, sources, problems)
        if asset is not None:
            return asset
    if wanted in (None, "equity") and sources.yahoo is not None:
        asset = await _equity(symbol, sources, problems)
        if asset is not None:
            return asset
    reasons = f" ({'; '.join(problems)})" if problems else ""
    raise AssetRejected(f"no market lists {symbol}{reasons}")


async def _crypto(base: str, sources: SourceSet, problems: list[str]) -> Asset | None:
    primary = sources.crypto[0].name if sources.crypto else "binance"
    candidate = Asset(base, base, AssetKind.CRYPTO, "24/7", None, ccxt=f"{base}/{QUOTE_CURRENCY[primary]}",
                      short=base)
    answered = False
    for source in sources.crypto:
        try:
            listed = await source.has_market(candidate)
        except SourceError as exc:
            problems.append(f"{source.name}: {exc.reason}")
            continue
        answered = True
        if listed:
            symbol = market_symbol(candidate, source.name)
            return Asset(base, base, AssetKind.CRYPTO, "24/7", None, ccxt=symbol, short=base)
    if not answered and sources.crypto:
        raise AssetRejected(
            f"could not reach an exchange to check {base} ({'; '.join(problems)}); try again later, or add it "
            f"as a stock with /assets add {base} stock"
        )
    return None


async def _equity(symbol: str, sources: SourceSet, problems: list[str]) -> Asset | None:
    assert sources.yahoo is not None
    try:
        frame, meta = await sources.yahoo.probe(symbol)
    except SourceError as exc:
        if exc.scope is Scope.SOURCE:
            raise AssetRejected(f"could not reach Yahoo to check {symbol}: {exc.reason}") from exc
        problems.append(f"yahoo: {exc.reason}")
        return None
    if frame.empty:
        problems.append("yahoo: no recent prices")
        return None
    kind = YAHOO_KINDS.get(str(meta.get("instrumentType", "")).upper())
    if kind is None:
        raise AssetRejected(f"{symbol} is a {meta.get('instrumentType', 'instrument')} on Yahoo; "
                            "only stocks, ETFs and indices can be added")
    zone = meta.get("exchangeTimezoneName")
    if zone != US_TIME_ZONE:
        raise AssetRejected(f"{symbol} trades on {zone or 'an unknown'} time; only US-listed symbols "
                            "(New York sessions) can be added for now")
    name = _clean(str(meta.get("longName") or meta.get("shortName") or symbol))
    plain = symbol.lstrip("^").replace("-", ".")  # '-' separates the two tickers of a pair in URLs
    aliases = (symbol,) if plain != symbol else ()
    return Asset(plain, name, kind, "NYSE", "XNYS", yahoo=symbol, aliases=aliases, short=plain)


def _clean(text: str) -> str:
    """A name fit to show: printable characters only, at most 80 of them."""
    printable = "".join(ch for ch in text if unicodedata.category(ch)[0] not in {"C"})
    return " ".join(printable.split())[:80] or "?"
