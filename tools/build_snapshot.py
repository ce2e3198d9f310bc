"""Build the bundled price snapshot in bot/data/ from the real price files in ../shared/data/prices.

Run once by a developer (`python tools/build_snapshot.py [SHARED_PRICES_DIR]`); the bot never reads
../shared at run time. Provisional last bars are dropped as shared/data/SOURCES.md explains.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bot" / "data"

EQUITY_FILES = {
    "RUT": "RUT_yahoo_daily.csv",
    "IWM": "IWM_yahoo_daily.csv",
    "SPY": "SPY_yahoo_daily.csv",
    "QQQ": "QQQ_yahoo_daily.csv",
}
CRYPTO_FILES = {
    "ETH": ("ETHUSDT_binance_daily.csv", "ETHUSDT_binance_1h.csv"),
    "BTC": ("BTCUSDT_binance_daily.csv", "BTCUSDT_binance_1h.csv"),
}


def _write(frame: pd.DataFrame, name: str) -> None:
    path = OUT / name
    frame.to_csv(path, index=False, compression={"method": "gzip", "mtime": 0}, float_format="%.10g")
    print(f"{name}: {len(frame)} rows, {frame.iloc[0, 0]} -> {frame.iloc[-1, 0]}, {path.stat().st_size} bytes")


def build(prices: Path) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for asset, fname in EQUITY_FILES.items():
        df = pd.read_csv(prices / fname, usecols=["Date", "Close"])
        df = df.iloc[:-1]  # last row of every Yahoo file is a provisional intraday snapshot
        _write(df.rename(columns={"Date": "date", "Close": "close"}), f"{asset}_1d.csv.gz")

    for asset, (daily_name, hourly_name) in CRYPTO_FILES.items():
        hourly = pd.read_csv(prices / hourly_name, usecols=["timestamp", "close"], parse_dates=["timestamp"])
        hourly = hourly.iloc[:-1]  # last candle was still in progress when the file was saved
        daily = pd.read_csv(prices / daily_name, usecols=["timestamp", "close"], parse_dates=["timestamp"])
        daily = daily.iloc[:-1]  # last daily candle was saved mid-day
        # Extend the daily series with UTC days that the hourly file covers in full (24 candles):
        # SOURCES.md checked that hourly candles sum to exactly the daily candles on shared days.
        by_day = hourly.groupby(hourly["timestamp"].dt.floor("D"))
        full = by_day["close"].last()[by_day.size() == 24]
        extra = full[full.index > daily["timestamp"].max()]
        daily = pd.concat(
            [daily, pd.DataFrame({"timestamp": extra.index, "close": extra.to_numpy()})], ignore_index=True
        )
        daily_out = pd.DataFrame({"date": daily["timestamp"].dt.strftime("%Y-%m-%d"), "close": daily["close"]})
        hourly_out = pd.DataFrame(
            {"time": hourly["timestamp"].dt.strftime("%Y-%m-%d %H:%M"), "close": hourly["close"]}
        )
        _write(daily_out, f"{asset}_1d.csv.gz")
        _write(hourly_out, f"{asset}_1h.csv.gz")


if __name__ == "__main__":
    build(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "data" / "prices")
