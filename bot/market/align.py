"""Pair alignment (docs/methods.md §1): one price per leg per observation date, never filled.

- equity/index vs equity/index: daily closes on the dates both have;
- crypto vs crypto: UTC daily closes on every day both have ("daily-close");
- crypto vs equity/index: sessions of the equity's exchange calendar; the crypto price is the close of
  the hourly candle ending at the session's official close (early closes included), else the last hourly
  close in the 3 hours before, else the date is dropped ("sync-close"). Sessions that close before the
  hourly history begins use the crypto UTC daily candle of that date ("daily-close"). A session whose close
  the hourly candles have not reached yet is pending, not aligned (docs/methods.md §1.7, `sync_ready`): its
  price would otherwise be an earlier hour's, or the date would be silently dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

SYNC_TOLERANCE = pd.Timedelta(hours=3)


@dataclass(frozen=True)
class LegPrices:
    """Prices of one leg as its source has them."""

    symbol: str
    is_crypto: bool
    daily: pd.Series  # date (naive) -> close
    hourly: pd.Series | None = None  # candle end time (UTC) -> close; crypto only


def sync_ready(close_times: pd.Series, hourly: pd.Series) -> np.ndarray:
    """Per session close: have the hourly candles reached it (docs/methods.md §1.7)?

    A close is ready once a candle ending at or after it has arrived — the candle of the close hour
    (19:00–20:00 UTC for a 20:00 close) or a later one; for a close off the hour, a candle ending at or
    after the hour it falls in. Candles arrive in order, so from then on the price the 3-hour rule picks
    can no longer change, and a candle missing before it is a real gap, not one still to come.
    """
    if not len(hourly):
        return np.zeros(len(close_times), dtype=bool)
    last_end = pd.DatetimeIndex(hourly.index).max()
    return (close_times.dt.floor("h") <= last_end).to_numpy(bool)


def crypto_at_closes(hourly: pd.Series, closes: pd.Series) -> pd.Series:
    """Crypto price at each session close: the candle ending at the close or up to 3 hours before."""
    left = pd.DataFrame({"date": closes.index, "close_time": closes.dt.as_unit("ns").array})
    right = pd.DataFrame({"end": pd.DatetimeIndex(hourly.index).as_unit("ns"), "price": hourly.to_numpy()})
    merged = pd.merge_asof(
        left, right, left_on="close_time", right_on="end", direction="backward", tolerance=SYNC_TOLERANCE
    )
    return pd.Series(merged["price"].to_numpy(), index=closes.index)


def align(asset: LegPrices, bench: LegPrices, session_closes: pd.Series | None = None) -> pd.DataFrame:
    """Aligned prices: index = observation date; columns `a`, `b` (prices) and `sync` (bool per row)."""
    if asset.is_crypto == bench.is_crypto:
        both = pd.concat([asset.daily.rename("a"), bench.daily.rename("b")], axis=1, join="inner").dropna()
        both = both[(both["a"] > 0) & (both["b"] > 0)]
        both["sync"] = not asset.is_crypto
        return both

    if session_closes is None:
        raise ValueError("a crypto-equity pair needs the equity calendar's session closes")
    crypto, equity = (asset, bench) if asset.is_crypto else (bench, asset)
    equity_daily = equity.daily[equity.daily.index.isin(session_closes.index)]
    closes = session_closes.reindex(equity_daily.index)

    hourly = crypto.hourly if crypto.hourly is not None else pd.Series(dtype=float)
    first_end = hourly.index[0] if len(hourly) else None
    if first_end is not None:
        use_sync = (closes >= first_end).to_numpy()
        # pending sessions (candles not up to their close yet) get no price: never an earlier hour's
        sync_px = np.where(sync_ready(closes, hourly), crypto_at_closes(hourly, closes).to_numpy(), np.nan)
    else:
        use_sync = np.zeros(len(closes), dtype=bool)
        sync_px = np.full(len(closes), np.nan)
    daily_px = crypto.daily.reindex(equity_daily.index).to_numpy()
    crypto_px = np.where(use_sync, sync_px, daily_px)

    frame = pd.DataFrame(
        {"crypto": crypto_px, "equity": equity_daily.to_numpy(), "sync": use_sync}, index=equity_daily.index
    )
    frame = frame.dropna()
    frame = frame[(frame["crypto"] > 0) & (frame["equity"] > 0)]
    a_col, b_col = ("crypto", "equity") if asset.is_crypto else ("equity", "crypto")
    out = pd.DataFrame({"a": frame[a_col], "b": frame[b_col], "sync": frame["sync"].astype(bool)})
    out.index.name = "date"
    return out


def aligned_returns(aligned: pd.DataFrame) -> pd.DataFrame:
    """Log returns between consecutive aligned observations, dated by the later one.

    `sync`/`daily` say whether both ends of a return were sampled the sync-close / daily-close way.
    """
    a = np.log(aligned["a"].to_numpy())
    b = np.log(aligned["b"].to_numpy())
    sync = aligned["sync"].to_numpy(bool)
    out = pd.DataFrame(
        {
            "ra": np.diff(a),
            "rb": np.diff(b),
            "sync": sync[1:] & sync[:-1],
            "daily": ~sync[1:] & ~sync[:-1],
        },
        index=aligned.index[1:],
    )
    out.index.name = "date"
    return out


def alignment_label(returns: pd.DataFrame) -> str:
    if len(returns) and bool(returns["sync"].all()):
        return "sync-close"
    if len(returns) and bool(returns["daily"].all()):
        return "daily-close"
    return "mixed"
