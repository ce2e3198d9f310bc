"""The bundled snapshot in bot/data: real daily and hourly closes, read once per process."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import pandas as pd


def _path(name: str):
    return resources.files("bot").joinpath("data", name)


def has_series(symbol: str, interval: str) -> bool:
    return _path(f"{symbol}_{interval}.csv.gz").is_file()


@lru_cache(maxsize=32)
def daily_closes(symbol: str) -> pd.Series:
    """Daily closes indexed by date (naive). Crypto days are UTC days dated by their open."""
    with _path(f"{symbol}_1d.csv.gz").open("rb") as fh:
        frame = pd.read_csv(fh, compression="gzip")
    index = pd.DatetimeIndex(pd.to_datetime(frame["date"]), name="date").as_unit("ns")
    return pd.Series(frame["close"].to_numpy(float), index=index, name=symbol)


@lru_cache(maxsize=32)
def hourly_closes(symbol: str) -> pd.Series:
    """Hourly closes indexed by the candle's *end* time in UTC (open time + 1 hour)."""
    with _path(f"{symbol}_1h.csv.gz").open("rb") as fh:
        frame = pd.read_csv(fh, compression="gzip")
    opens = pd.DatetimeIndex(pd.to_datetime(frame["time"])).tz_localize("UTC").as_unit("ns")
    return pd.Series(frame["close"].to_numpy(float), index=opens + pd.Timedelta(hours=1), name=symbol)
