"""Pure checks on fetched bars: drop provisional bars, reject answers that are not data.

An empty answer, a close that is not a positive number, a timestamp off the interval's grid, a series that
does not reach back to where it was asked to start, or a move larger than the market can plausibly make
(|log return| > 0.5 for an equity or index day, > 1.0 for crypto) are errors with a reason, not data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bot.assets import Asset
from bot.market import calendars
from bot.market.sources.base import DAILY, HOURLY, STEP

# Largest plausible |log return| between consecutive bars. Real extremes: BTC −0.50 and ETH −0.59 on
# 2020-03-12, ^RUT about −0.15 on 2020-03-16.
MAX_LOG_MOVE_CRYPTO = 1.0
MAX_LOG_MOVE_EQUITY = 0.5
# How far after the requested start the first bar may be when continuing a stored series (outages,
# weekends and holidays); beyond it the source has a hole or serves only recent bars (Kraken: 720).
MAX_START_GAP = {HOURLY: pd.Timedelta(hours=6), DAILY: pd.Timedelta(days=6)}


class BarsRejected(ValueError):
    """Fetched bars that are not data; the message says why."""


def max_log_move(asset: Asset) -> float:
    return MAX_LOG_MOVE_CRYPTO if asset.is_crypto else MAX_LOG_MOVE_EQUITY


def complete_bars(bars: pd.Series, asset: Asset, interval: str, now: pd.Timestamp) -> pd.Series:
    """Only bars that are final by `now` (naive UTC): the current unfinished hour or day is dropped.

    A session's daily bar is final once its official close plus settling time has passed (docs/methods.md §1.6).
    """
    if bars.empty:
        return bars
    if interval == HOURLY or asset.calendar is None:
        return bars[bars.index + STEP[interval] <= now]
    closes = calendars.session_closes(asset.calendar)
    close_utc = pd.Series(closes.reindex(bars.index).to_numpy(), index=bars.index)
    settled = close_utc.dt.tz_convert("UTC").dt.tz_localize(None) + calendars.SETTLE <= now
    # A date the calendar does not know (rare in Yahoo data) counts once the next UTC day has ended.
    unknown = close_utc.isna() & (bars.index + pd.Timedelta(days=2) <= now)
    return bars[(settled.fillna(False) | unknown).to_numpy(bool)]


def next_bar_due(asset: Asset, interval: str, last: pd.Timestamp, now: pd.Timestamp) -> bool:
    """Could a complete bar newer than `last` exist by `now`? If not, asking a source is a wasted request."""
    if interval == HOURLY or asset.calendar is None:
        return last + 2 * STEP[interval] <= now
    return calendars.last_completed_session(now.tz_localize("UTC"), asset.calendar) > last


def check_bars(
    bars: pd.Series,
    asset: Asset,
    interval: str,
    *,
    since: pd.Timestamp,
    anchor: tuple[pd.Timestamp, float] | None = None,
) -> None:
    """Raise BarsRejected unless `bars` are usable data.

    `anchor` is the stored bar at or before the first fetched bar (None for a series with no history):
    the fetched series must join it without an implausible jump and, when continuing, start near `since`.
    """
    if bars.empty:
        raise BarsRejected("empty answer: no complete bars (an error page, or an unknown symbol?)")
    values = bars.to_numpy(float)
    bad = ~np.isfinite(values) | (values <= 0)
    if bad.any():
        raise BarsRejected(f"{int(bad.sum())} closes are missing, zero or negative (first {bars.index[bad][0]})")
    index = bars.index
    off_grid = index != index.floor("h" if interval == HOURLY else "D")
    if off_grid.any():
        raise BarsRejected(f"timestamp {index[off_grid][0]} is not on the {interval} grid")
    if anchor is not None and index[0] - since > MAX_START_GAP[interval]:
        raise BarsRejected(f"the answer starts {index[0]:%Y-%m-%d %H:%M}, not at {since:%Y-%m-%d %H:%M}: a gap")
    limit = max_log_move(asset)
    if anchor is not None:
        anchor_ts, anchor_close = anchor
        move = abs(float(np.log(values[0] / anchor_close)))
        if move > limit:
            what = "disagrees with the stored close of" if anchor_ts == index[0] else "jumps from the stored close of"
            raise BarsRejected(f"{what} {anchor_ts:%Y-%m-%d %H:%M} by {move:.0%} in log terms (limit {limit:.0%})")
    if len(values) > 1:
        moves = np.abs(np.diff(np.log(values)))
        worst = int(np.argmax(moves))
        if moves[worst] > limit:
            raise BarsRejected(
                f"implausible move of {moves[worst]:.0%} in log terms into {index[worst + 1]:%Y-%m-%d %H:%M} "
                f"(limit {limit:.0%})"
            )
