"""The independent computation the statistics are checked against: plain pandas on the bundled CSV files
(docs/methods.md §1), written without any of our code, shared by the tests of /scan, /matrix and /gap."""

from __future__ import annotations

import functools
import gzip
from pathlib import Path

import exchange_calendars as xcals
import pandas as pd

DATA = Path(__file__).resolve().parents[1] / "bot" / "data"


def csv(name: str) -> pd.DataFrame:
    with gzip.open(DATA / name, "rt") as fh:
        return pd.read_csv(fh)


@functools.cache
def nyse_closes() -> pd.Series:
    """Each NYSE session's close (UTC), early closes included, by session date."""
    closes = xcals.get_calendar("XNYS", start="1990-01-01").schedule["close"]
    closes.index = pd.DatetimeIndex(closes.index).tz_localize(None)
    return closes


@functools.cache
def sync_close_prices(crypto: str, equity: str) -> pd.DataFrame:
    """Columns `price` (crypto) and `equity` on the NYSE sessions both have: the crypto price is the close of the
    last hourly candle ending at the session's close or up to 3 h before (candles are stored by open time and
    end an hour later), its UTC daily close before the hourly data begins; never filled."""
    daily = csv(f"{crypto}_1d.csv.gz")
    crypto_daily = pd.Series(daily["close"].to_numpy(), index=pd.to_datetime(daily["date"]))
    hourly = csv(f"{crypto}_1h.csv.gz")
    ends = (pd.to_datetime(hourly["time"]).dt.tz_localize("UTC") + pd.Timedelta(hours=1)).dt.as_unit("ns")
    candles = pd.DataFrame({"end": ends, "price": hourly["close"]}).sort_values("end")
    eq = csv(f"{equity}_1d.csv.gz")
    equity_daily = pd.Series(eq["close"].to_numpy(), index=pd.to_datetime(eq["date"]))
    closes = nyse_closes()
    sessions = equity_daily.index.intersection(closes.index)
    frame = pd.DataFrame({"date": sessions, "close": closes.reindex(sessions).dt.as_unit("ns").to_numpy(),
                          "equity": equity_daily.reindex(sessions).to_numpy()})
    merged = pd.merge_asof(frame.sort_values("close"), candles, left_on="close", right_on="end",
                           direction="backward", tolerance=pd.Timedelta(hours=3))
    before_hourly = merged["close"] < candles["end"].iloc[0]
    merged.loc[before_hourly, "price"] = crypto_daily.reindex(merged.loc[before_hourly, "date"]).to_numpy()
    merged = merged.dropna(subset=["price", "equity"])
    merged = merged[(merged["price"] > 0) & (merged["equity"] > 0)].set_index("date").sort_index()
    return merged[["price", "equity"]]
