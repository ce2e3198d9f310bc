"""Pair-chart data shaping and label geometry: dates to matplotlib numbers, rebased prices, regime spans, tick
and label text, where the current-value label goes. No drawing here."""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib import ticker

from bot.analysis.results import ChartData
from bot.render.chart_style import (
    CORR_BOTTOM,
    CORR_TOP,
    DPI,
    HEIGHT_IN,
    LEFT,
    REGIME_ORDER,
    RIGHT,
    SOURCE_LABELS,
    WIDTH_IN,
)

# ---- data shaping ---------------------------------------------------------------------------------


def naive_dates(index: pd.Index) -> pd.DatetimeIndex:
    dates = pd.DatetimeIndex(index)
    return dates.tz_convert(None) if dates.tz is not None else dates


def date_nums(index: pd.Index) -> np.ndarray:
    return np.asarray(mdates.date2num(naive_dates(index).to_numpy()), dtype=float)


def float_values(series: pd.Series) -> np.ndarray:
    """A writable float copy (pandas hands out read-only views under copy-on-write)."""
    return np.array(pd.to_numeric(series, errors="coerce").to_numpy(dtype=float, na_value=np.nan), copy=True)


def rebased_prices(prices: pd.Series) -> np.ndarray:
    """Prices as 100 × price / first usable price; non-positive or missing prices become gaps."""
    values = float_values(prices)
    values[~(values > 0)] = np.nan
    usable = np.flatnonzero(np.isfinite(values))
    if len(usable) == 0:
        return values
    return 100.0 * values / values[usable[0]]


def regime_name(value: object) -> str | None:
    if not isinstance(value, str):  # None, NaN or pd.NA before the first regime is adopted
        return None
    name = str(value).lower()
    return name if name in REGIME_ORDER else None


def regime_spans(
    dates: np.ndarray, regimes: Sequence[object], end: float
) -> dict[str, list[tuple[float, float]]]:
    """Runs of one adopted regime as (start, width) in date numbers; each date holds until the next one."""
    spans: dict[str, list[tuple[float, float]]] = {name: [] for name in REGIME_ORDER}
    names = [regime_name(value) for value in regimes]
    run_start = 0
    for i in range(1, len(names) + 1):
        if i < len(names) and names[i] == names[run_start]:
            continue
        name = names[run_start]
        stop = dates[i] if i < len(names) else end
        if name is not None and stop > dates[run_start]:
            spans[name].append((float(dates[run_start]), float(stop - dates[run_start])))
        run_start = i
    return spans


def nice_log_ticks(low: float, high: float, max_ticks: int = 6) -> list[float]:
    """Round price levels for a log axis: the finest 1-2-5 style ladder that stays readable."""
    ladders = ((1,), (1, 2, 5), (1, 2, 3, 5, 7), (1, 1.5, 2, 3, 4, 5, 6, 8))
    first, last = math.floor(math.log10(low)) - 1, math.ceil(math.log10(high)) + 1
    chosen: list[float] = []
    for mantissas in ladders:
        ticks = [m * 10.0**e for e in range(first, last + 1) for m in mantissas if low <= m * 10.0**e <= high]
        if len(ticks) > max_ticks:
            break
        chosen = ticks
        if len(ticks) >= 4:
            break
    if len(chosen) < 3:  # a narrow range: evenly spaced levels read better than sparse powers
        linear = ticker.MaxNLocator(nbins=4, steps=[1, 2, 2.5, 5, 10]).tick_values(low, high)
        chosen = [float(t) for t in linear if low <= t <= high and t > 0]
    return chosen


def format_level(value: float, _pos: object = None) -> str:
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.0f}"
    return f"{value:.3g}"


def signed(value: float, digits: int = 2) -> str:
    return f"{value:.{digits}f}".replace("-", "\u2212")


def signed_pct(change: float) -> str:
    return f"{'+' if change >= 0 else ''}{signed(change, 1)}%"


def pct_change(rebased: np.ndarray) -> float:
    finite = rebased[np.isfinite(rebased)]
    return float(finite[-1] - 100.0) if len(finite) else math.nan


def source_line(data: ChartData) -> str:
    providers = []
    for asset in (data.asset, data.benchmark):
        provider = "Binance" if asset.is_crypto else "Yahoo Finance"
        if provider not in providers:
            providers.append(provider)
    label = SOURCE_LABELS.get(data.source, data.source)
    return f"Source: {label} ({', '.join(providers)})"



def label_goes_above(
    data: ChartData, current: float, n_chars: int, x_start: float, x_end: float, as_of: float
) -> bool:
    """Put the current-value label on the side of the marker where the recent lines leave more room."""
    axes_px_w = (RIGHT - LEFT) * WIDTH_IN * DPI
    axes_px_h = (CORR_TOP - CORR_BOTTOM) * HEIGHT_IN * DPI
    x_per_px = (x_end - x_start) / axes_px_w
    y_per_px = 2.0 / axes_px_h
    box_left = as_of - (14 + 10 * n_chars) * x_per_px
    near, far = 14 * y_per_px, 46 * y_per_px  # box edges, measured from the marker
    fits_above, fits_below = current + far <= 1.0, current - far >= -1.0
    if fits_above != fits_below:
        return fits_above
    x = date_nums(data.correlation.index)
    recent = (x >= box_left) & (x <= as_of)
    values = np.concatenate([
        float_values(series.reindex(data.correlation.index))[recent]
        for series in (data.correlation, data.ewma, data.ci_low, data.ci_high)
    ])
    values = values[np.isfinite(values)]
    crowd_above = int(((values >= current + near) & (values <= current + far)).sum())
    crowd_below = int(((values <= current - near) & (values >= current - far)).sum())
    if crowd_above != crowd_below:
        return crowd_above < crowd_below
    return current < 0.55


def x_range(data: ChartData) -> tuple[float, float]:
    as_of = float(date_nums(pd.DatetimeIndex([data.as_of]))[0])
    firsts = [
        float(date_nums(index[:1])[0]) for index in (data.prices.index, data.correlation.index) if len(index)
    ]
    start = min(firsts) if firsts else as_of - 365.0
    start = min(start, as_of - 30.0)
    return start, as_of + (as_of - start) * 0.012  # a little room so the current-value marker shows whole
