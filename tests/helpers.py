"""Small builders shared by tests."""

from __future__ import annotations

import pandas as pd

from bot.assets import find_asset
from bot.market import snapshot
from bot.market.align import LegPrices


def leg(symbol: str, hourly: bool = True) -> LegPrices:
    asset = find_asset(symbol)
    assert asset is not None
    hourly_series = (
        snapshot.hourly_closes(symbol) if hourly and snapshot.has_series(symbol, "1h") else None
    )
    return LegPrices(symbol, asset.is_crypto, snapshot.daily_closes(symbol), hourly_series)


def window_of(returns: pd.DataFrame, as_of: str, days: int) -> pd.DataFrame:
    """Returns dated in (as_of - days, as_of], selected the plainest way."""
    end = pd.Timestamp(as_of)
    return returns[(returns.index > end - pd.Timedelta(days=days)) & (returns.index <= end)]
