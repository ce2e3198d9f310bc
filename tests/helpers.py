"""Small builders shared by tests (the `services` fixture they go with is in tests/conftest.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd

from bot.assets import find_asset
from bot.config import Settings, load_settings
from bot.market import snapshot
from bot.market.align import LegPrices
from bot.market.data import MarketData
from bot.ports.reply import Reply
from bot.ports.services import Services
from bot.store import Store
from handlers.commands import dispatch  # and so every command is in handlers.registry.COMMANDS


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


def make_services(settings: Settings | None = None, *, store: Store | None = None,
                  market: MarketData | None = None) -> Services:
    """Services from the composition root (snapshot data and a memory database unless told otherwise)."""
    from bot.app import App

    settings = settings or load_settings(market_data="snapshot", database_url="sqlite://")
    return App(settings, store=store, market=market).services


async def ask(services: Services, text: str, as_of: dt.date | str | None = None, **kw: Any) -> Reply:
    """A command's reply from the command layer, without the chart unless `want_chart=True`; `as_of` may be an ISO
    date."""
    kw.setdefault("want_chart", False)
    return await dispatch(services, text, as_of=dt.date.fromisoformat(as_of) if isinstance(as_of, str) else as_of, **kw)
