"""The asset registry: what each ticker is, where it trades and where its prices come from."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class AssetKind(StrEnum):
    CRYPTO = "crypto"
    EQUITY = "equity"
    INDEX = "index"


@dataclass(frozen=True)
class Asset:
    symbol: str
    name: str
    kind: AssetKind
    market: str  # "NYSE" for US equities and indices, "24/7" for crypto
    calendar: str | None  # exchange_calendars code; None means every UTC day
    yahoo: str | None = None
    ccxt: str | None = None
    aliases: tuple[str, ...] = ()
    short: str = ""  # how a sentence names it ("small caps")
    bundled: bool = field(default=False)

    @property
    def is_crypto(self) -> bool:
        return self.kind is AssetKind.CRYPTO

    @property
    def label(self) -> str:
        return self.short or self.symbol


ASSETS: tuple[Asset, ...] = (
    Asset("ETH", "Ether", AssetKind.CRYPTO, "24/7", None, yahoo="ETH-USD", ccxt="ETH/USDT",
          aliases=("ETHEREUM", "ETHUSD", "ETHUSDT", "ETH-USD"), short="ETH", bundled=True),
    Asset("BTC", "Bitcoin", AssetKind.CRYPTO, "24/7", None, yahoo="BTC-USD", ccxt="BTC/USDT",
          aliases=("BITCOIN", "XBT", "BTCUSD", "BTCUSDT", "BTC-USD"), short="BTC", bundled=True),
    Asset("RUT", "Russell 2000 index", AssetKind.INDEX, "NYSE", "XNYS", yahoo="^RUT",
          aliases=("R2K", "RUSSELL", "RUSSELL2000", "^RUT"), short="small caps", bundled=True),
    Asset("IWM", "iShares Russell 2000 ETF", AssetKind.EQUITY, "NYSE", "XNYS", yahoo="IWM",
          short="small caps (IWM)", bundled=True),
    Asset("SPY", "SPDR S&P 500 ETF", AssetKind.EQUITY, "NYSE", "XNYS", yahoo="SPY",
          short="the S&P 500 (SPY)", bundled=True),
    Asset("QQQ", "Invesco QQQ (Nasdaq-100) ETF", AssetKind.EQUITY, "NYSE", "XNYS", yahoo="QQQ",
          short="the Nasdaq-100 (QQQ)", bundled=True),
    Asset("SPX", "S&P 500 index", AssetKind.INDEX, "NYSE", "XNYS", yahoo="^GSPC",
          aliases=("SP500", "S&P500", "^GSPC", "GSPC"), short="the S&P 500"),
    Asset("NDX", "Nasdaq-100 index", AssetKind.INDEX, "NYSE", "XNYS", yahoo="^NDX",
          aliases=("NASDAQ", "NASDAQ100", "^NDX"), short="the Nasdaq-100"),
)

_BY_NAME: dict[str, Asset] = {}
for _asset in ASSETS:
    for _name in (_asset.symbol, *_asset.aliases):
        _BY_NAME[_name.upper()] = _asset

# Assets users added with `/assets add`, validated against a source first; the store's custom_assets table
# makes them survive restarts (bot.market.live loads them at start-up and registers them here).
_CUSTOM: dict[str, Asset] = {}


def find_asset(name: str) -> Asset | None:
    return _BY_NAME.get(name.strip().upper())


def known_symbols() -> list[str]:
    return [a.symbol for a in all_assets()]


def all_assets() -> tuple[Asset, ...]:
    """Built-in assets first, then user-added ones in the order they were registered."""
    return ASSETS + tuple(_CUSTOM.values())


def is_custom(asset: Asset) -> bool:
    return asset.symbol in _CUSTOM


def register_asset(asset: Asset) -> Asset:
    """Make a user-added asset known to this process; registering the same asset again is a no-op."""
    names = [n.upper() for n in (asset.symbol, *asset.aliases)]
    for name in names:
        known = _BY_NAME.get(name)
        if known is not None and known != asset:
            raise ValueError(f"{name} is already known as {known.symbol}")
    _CUSTOM[asset.symbol] = asset
    for name in names:
        _BY_NAME[name] = asset
    return asset


def unregister_asset(symbol: str) -> None:
    """Forget a user-added asset (built-in assets cannot be removed)."""
    asset = _CUSTOM.pop(symbol.upper(), None)
    if asset is None:
        return
    for name in (asset.symbol, *asset.aliases):
        if _BY_NAME.get(name.upper()) == asset:
            del _BY_NAME[name.upper()]
