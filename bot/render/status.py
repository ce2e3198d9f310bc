"""/status and `doctor` lines: where each series' prices come from, how old they are, the last error."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from bot.market.data import AssetStatus

DAILY = "1d"


def status_lines(statuses: list[AssetStatus], now: pd.Timestamp | None) -> list[str]:
    """One line per series: `ETH 1h [live]: binance, last bar 2026-11-24 17:00, age 1h 40m, up to date`
    (+ the last error). Without a clock (snapshot mode): `ETH: snapshot, last daily bar 2026-01-16`."""
    lines = []
    for status in statuses:
        if now is None:
            lines += _snapshot_lines(status)
            continue
        label = f" [{status.label}]" if status.label else ""
        for line in status.series:
            if line.last_bar is None:
                text = f"{status.symbol} {line.interval}{label}: nothing stored yet"
            else:
                when = f"{line.last_bar:%Y-%m-%d}" if line.interval == DAILY else f"{line.last_bar:%Y-%m-%d %H:%M}"
                age = _age(_naive_utc(now) - line.ended) if line.ended is not None else "?"
                state = "behind" if line.behind else "up to date"
                text = (f"{status.symbol} {line.interval}{label}: {line.origin}, last bar {when}, "
                        f"age {age}, {state}")
            if line.last_error:
                at = f" ({line.last_error_at:%Y-%m-%d %H:%M} UTC)" if line.last_error_at else ""
                text += f"; last error{at}: {line.last_error}"
            lines.append(text)
    return lines


def _snapshot_lines(status: AssetStatus) -> list[str]:
    if not status.series:
        return [f"{status.symbol}: no bundled history"]
    return [f"{status.symbol}: snapshot, last daily bar {line.last_bar:%Y-%m-%d}" for line in status.series]


def _naive_utc(ts: pd.Timestamp) -> pd.Timestamp:
    ts = pd.Timestamp(ts)
    return ts.tz_convert("UTC").tz_localize(None) if ts.tzinfo is not None else ts


def _age(delta: pd.Timedelta) -> str:
    minutes = max(int(delta.total_seconds() // 60), 0)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    return f"{hours}h {minutes}m" if hours else f"{minutes}m"
