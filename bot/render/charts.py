"""Pair charts: both prices rebased to 100 above, the rolling correlation with its regimes below.

Charts are drawn in worker threads, so this module uses matplotlib's object-oriented API only: one
`Figure` and `FigureCanvasAgg` per chart, every colour set on the artists themselves. It never imports
`matplotlib.pyplot` (its figure registry is global and not thread-safe) and never writes rcParams.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib import ticker
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.transforms import blended_transform_factory
from PIL import Image

from bot.analysis import ChartData

WIDTH_IN, HEIGHT_IN, DPI = 10.0, 6.0, 100
PNG_COMPRESS_LEVEL = 3
REGIME_ORDER = ("coupled", "neutral", "decoupled", "inverse")

TITLE_PT = 15
LABEL_PT = 12
TICK_PT = 11
LEGEND_PT = 11
SMALL_PT = 10
FOOTER_PT = 10

PRICE_LW = 2.2
CORR_LW = 2.4
EWMA_LW = 1.5
THRESHOLD_LW = 1.2

# Figure-fraction layout, top to bottom: title, price legend row, price panel, correlation legend row,
# correlation panel, date labels, footer. The right margin holds line-end symbols and threshold names.
LEFT, RIGHT = 0.075, 0.875
PRICE_BOTTOM, PRICE_TOP = 0.49, 0.875
CORR_BOTTOM, CORR_TOP = 0.115, 0.425
TITLE_Y = 0.955
FOOTER_Y = 0.022
STALE_BADGE_X, BRAND_X = 0.62, 0.985
MARGIN_LABEL_X = 1.012  # axes fraction: just right of the plotting area


@dataclass(frozen=True)
class ChartTheme:
    name: str
    figure_bg: str
    axes_bg: str
    text: str
    muted: str
    grid: str
    spine: str
    asset_line: str
    benchmark_line: str
    correlation_line: str
    ewma_line: str
    ci_band: str
    ci_alpha: float
    regime_fill: dict[str, str]  # background band per adopted regime
    regime_alpha: float
    regime_ink: dict[str, str]  # the same hues, strong enough for lines and text
    warning: str


LIGHT = ChartTheme(
    name="light",
    figure_bg="#ffffff",
    axes_bg="#ffffff",
    text="#1b1b1f",
    muted="#5f6368",
    grid="#e4e4e7",
    spine="#c4c4c8",
    asset_line="#1f6fd1",
    benchmark_line="#e8590c",
    correlation_line="#1b1b1f",
    ewma_line="#6e6e78",
    ci_band="#1b1b1f",
    ci_alpha=0.13,
    regime_fill={"coupled": "#2e9e4f", "neutral": "#9aa0a6", "decoupled": "#f2a900", "inverse": "#9b4fd6"},
    regime_alpha=0.15,
    regime_ink={"coupled": "#1e7b3a", "neutral": "#5f6368", "decoupled": "#a86a00", "inverse": "#7b35b5"},
    warning="#c62828",
)

DARK = ChartTheme(
    name="dark",
    figure_bg="#141414",
    axes_bg="#1c1c1e",
    text="#ececf0",
    muted="#a3a3ab",
    grid="#2f2f33",
    spine="#4a4a50",
    asset_line="#5aa9ff",
    benchmark_line="#ff9b4a",
    correlation_line="#f4f4f6",
    ewma_line="#a8a8b2",
    ci_band="#ffffff",
    ci_alpha=0.15,
    regime_fill={"coupled": "#3cc46a", "neutral": "#9aa0a6", "decoupled": "#f5b82e", "inverse": "#b57aee"},
    regime_alpha=0.17,
    regime_ink={"coupled": "#6fd692", "neutral": "#a3a3ab", "decoupled": "#f7c85a", "inverse": "#c99bf3"},
    warning="#ff6b5e",
)

THEMES: dict[str, ChartTheme] = {LIGHT.name: LIGHT, DARK.name: DARK}

SOURCE_LABELS = {"snapshot": "bundled snapshot", "cache": "cached live data", "live": "live data"}


def chart_theme(name: str) -> ChartTheme:
    try:
        return THEMES[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown chart theme {name!r}; use one of: {', '.join(THEMES)}") from None


# ---- data shaping ---------------------------------------------------------------------------------


def _naive_dates(index: pd.Index) -> pd.DatetimeIndex:
    dates = pd.DatetimeIndex(index)
    return dates.tz_convert(None) if dates.tz is not None else dates


def _date_nums(index: pd.Index) -> np.ndarray:
    return np.asarray(mdates.date2num(_naive_dates(index).to_numpy()), dtype=float)


def _float_values(series: pd.Series) -> np.ndarray:
    """A writable float copy (pandas hands out read-only views under copy-on-write)."""
    return np.array(pd.to_numeric(series, errors="coerce").to_numpy(dtype=float, na_value=np.nan), copy=True)


def _rebased(prices: pd.Series) -> np.ndarray:
    """Prices as 100 × price / first usable price; non-positive or missing prices become gaps."""
    values = _float_values(prices)
    values[~(values > 0)] = np.nan
    usable = np.flatnonzero(np.isfinite(values))
    if len(usable) == 0:
        return values
    return 100.0 * values / values[usable[0]]


def _regime_name(value: object) -> str | None:
    if not isinstance(value, str):  # None, NaN or pd.NA before the first regime is adopted
        return None
    name = str(value).lower()
    return name if name in REGIME_ORDER else None


def regime_spans(
    dates: np.ndarray, regimes: Sequence[object], end: float
) -> dict[str, list[tuple[float, float]]]:
    """Runs of one adopted regime as (start, width) in date numbers; each date holds until the next one."""
    spans: dict[str, list[tuple[float, float]]] = {name: [] for name in REGIME_ORDER}
    names = [_regime_name(value) for value in regimes]
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


def _nice_log_ticks(low: float, high: float, max_ticks: int = 6) -> list[float]:
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


def _format_level(value: float, _pos: object = None) -> str:
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.0f}"
    return f"{value:.3g}"


def _signed(value: float, digits: int = 2) -> str:
    return f"{value:.{digits}f}".replace("-", "\u2212")


def _signed_pct(change: float) -> str:
    return f"{'+' if change >= 0 else ''}{_signed(change, 1)}%"


def _pct_change(rebased: np.ndarray) -> float:
    finite = rebased[np.isfinite(rebased)]
    return float(finite[-1] - 100.0) if len(finite) else math.nan


def _source_line(data: ChartData) -> str:
    providers = []
    for asset in (data.asset, data.benchmark):
        provider = "Binance" if asset.is_crypto else "Yahoo Finance"
        if provider not in providers:
            providers.append(provider)
    label = SOURCE_LABELS.get(data.source, data.source)
    return f"Source: {label} ({', '.join(providers)})"


# ---- drawing --------------------------------------------------------------------------------------


def _style_axes(ax: Axes, theme: ChartTheme) -> None:
    ax.set_facecolor(theme.axes_bg)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color(theme.spine)
    ax.tick_params(axis="both", which="both", colors=theme.spine, labelcolor=theme.text, labelsize=TICK_PT)
    ax.grid(True, which="major", color=theme.grid, linewidth=0.9)
    ax.set_axisbelow(True)


def _draw_prices(ax: Axes, data: ChartData, theme: ChartTheme) -> None:
    x = _date_nums(data.prices.index)
    levels: list[np.ndarray] = []
    ends: list[tuple[float, str, str]] = []  # last level, symbol, colour
    for column, asset, colour in (
        ("a", data.asset, theme.asset_line),
        ("b", data.benchmark, theme.benchmark_line),
    ):
        if column not in data.prices:
            continue
        rebased = _rebased(data.prices[column])
        change = _pct_change(rebased)
        label = asset.symbol if math.isnan(change) else f"{asset.symbol}  {_signed_pct(change)}"
        ax.plot(x, rebased, color=colour, linewidth=PRICE_LW, label=label, solid_capstyle="round")
        levels.append(rebased[np.isfinite(rebased)])
        if len(levels[-1]):
            ends.append((float(levels[-1][-1]), asset.symbol, colour))

    ax.set_yscale("log")
    finite = np.concatenate(levels) if levels else np.array([])
    low, high = (float(finite.min()), float(finite.max())) if len(finite) else (90.0, 110.0)
    low, high = min(low, 100.0), max(high, 100.0)
    pad = (high / low) ** 0.06 if high > low else 1.05
    ax.set_ylim(low / pad, high * pad)
    ax.yaxis.set_major_locator(ticker.FixedLocator(_nice_log_ticks(low / pad, high * pad)))
    ax.yaxis.set_major_formatter(ticker.FuncFormatter(_format_level))
    ax.yaxis.set_minor_locator(ticker.NullLocator())
    ax.axhline(100.0, color=theme.muted, linewidth=1.0, linestyle=(0, (1, 2)), zorder=1)
    ax.set_ylabel("Price, rebased to 100", fontsize=LABEL_PT, color=theme.muted)
    ax.tick_params(axis="x", labelbottom=False)
    _label_line_ends(ax, ends, math.log(low / pad), math.log(high * pad))
    if levels:
        ax.legend(
            loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=2, frameon=False,
            handlelength=1.6, columnspacing=1.6, borderaxespad=0.2, labelcolor=theme.text,
            prop={"weight": "bold", "size": LEGEND_PT},
        )


def _label_line_ends(ax: Axes, ends: list[tuple[float, str, str]], log_low: float, log_high: float) -> None:
    """Symbols in the right margin at each line's last level, kept one text line apart."""
    min_gap = 0.08  # axes fraction
    ends = sorted(ends, key=lambda end: -end[0])
    positions: list[float] = []
    for level, _symbol, _colour in ends:
        y = (math.log(level) - log_low) / (log_high - log_low)
        positions.append(y if not positions else min(y, positions[-1] - min_gap))
    shift = max(0.0, min_gap / 2 - positions[-1]) if positions else 0.0  # keep the lowest label inside
    for y, (_level, symbol, colour) in zip(positions, ends, strict=True):
        ax.text(
            MARGIN_LABEL_X, y + shift, symbol, transform=ax.transAxes, ha="left", va="center",
            fontsize=LABEL_PT, fontweight="bold", color=colour, clip_on=False,
        )


def _draw_correlation(ax: Axes, data: ChartData, theme: ChartTheme, x_start: float, x_end: float) -> None:
    x = _date_nums(data.correlation.index)
    rho = _float_values(data.correlation)
    th = data.thresholds

    regimes = data.regimes.reindex(data.correlation.index) if len(data.regimes) else data.regimes
    for name, spans in regime_spans(x, list(regimes), x_end).items():
        if spans:
            ax.broken_barh(
                spans, (-1.0, 2.0), facecolors=theme.regime_fill[name], alpha=theme.regime_alpha,
                linewidth=0, zorder=0,
            )

    low = _float_values(data.ci_low.reindex(data.correlation.index))
    high = _float_values(data.ci_high.reindex(data.correlation.index))
    band = np.isfinite(low) & np.isfinite(high)
    if band.any():
        ax.fill_between(
            x, np.where(band, low, 0.0), np.where(band, high, 0.0), where=band, interpolate=False,
            color=theme.ci_band, alpha=theme.ci_alpha, linewidth=0, zorder=2,
        )

    ax.axhline(0.0, color=theme.muted, linewidth=1.0, zorder=1)
    threshold_lines = (
        (th.coupled_enter, "coupled"), (th.decoupled_enter, "decoupled"), (th.inverse_enter, "inverse")
    )
    for level, regime in threshold_lines:
        ax.axhline(
            level, color=theme.regime_ink[regime], linewidth=THRESHOLD_LW, linestyle=(0, (5, 3)),
            alpha=0.9, zorder=1,
        )
    _label_thresholds(ax, theme, threshold_lines)

    ewma = _float_values(data.ewma.reindex(data.correlation.index))
    ax.plot(x, ewma, color=theme.ewma_line, linewidth=EWMA_LW, zorder=3)
    ax.plot(x, rho, color=theme.correlation_line, linewidth=CORR_LW, zorder=4, solid_capstyle="round")

    ax.set_ylim(-1.0, 1.0)
    ax.yaxis.set_major_locator(ticker.FixedLocator([-1.0, -0.5, 0.0, 0.5, 1.0]))
    ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _pos: _signed(v, 1).replace(".0", "")))
    ax.grid(False, axis="y")
    ax.set_ylabel("Correlation", fontsize=LABEL_PT, color=theme.muted)
    _mark_current(ax, data, theme, x_start, x_end)
    _correlation_legends(ax, data, theme)


def _label_thresholds(ax: Axes, theme: ChartTheme, lines: Sequence[tuple[float, str]]) -> None:
    """Threshold names in the right margin, nudged apart when custom thresholds sit close together."""
    min_gap = 0.16  # in correlation units; about one line of small text at this panel height
    margin = blended_transform_factory(ax.transAxes, ax.transData)
    placed: list[float] = []
    for level, regime in sorted(lines, key=lambda item: -item[0]):
        y = level if not placed else min(level, placed[-1] - min_gap)
        placed.append(y)
        ax.text(
            MARGIN_LABEL_X, y, f"{regime} {_signed(level)}", transform=margin, ha="left", va="center",
            fontsize=SMALL_PT, color=theme.regime_ink[regime], clip_on=False,
        )


def _mark_current(ax: Axes, data: ChartData, theme: ChartTheme, x_start: float, x_end: float) -> None:
    as_of = float(_date_nums(pd.DatetimeIndex([data.as_of]))[0])
    current = float(data.current) if data.current is not None else math.nan
    if not math.isfinite(current):
        ax.annotate(
            f"ρ n/a · n={data.n_obs}", xy=(1.0, 0.97), xycoords="axes fraction", ha="right", va="top",
            fontsize=LABEL_PT, fontweight="bold", color=theme.text, zorder=7,
        )
        return
    ax.plot(
        [as_of], [current], marker="o", markersize=9, color=theme.correlation_line,
        markeredgecolor=theme.axes_bg, markeredgewidth=1.8, zorder=6, clip_on=False,
    )
    label = f"ρ {_signed(current)} · n={data.n_obs}"
    above = _label_goes_above(data, current, len(label), x_start, x_end, as_of)
    ax.annotate(
        label, xy=(as_of, current), xytext=(-10, 13 if above else -13), textcoords="offset points",
        ha="right", va="bottom" if above else "top", fontsize=LABEL_PT, fontweight="bold",
        color=theme.text, zorder=7,
        bbox={"boxstyle": "round,pad=0.3", "facecolor": theme.axes_bg, "edgecolor": theme.spine,
              "linewidth": 0.8, "alpha": 0.92},
    )


def _label_goes_above(
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
    x = _date_nums(data.correlation.index)
    recent = (x >= box_left) & (x <= as_of)
    values = np.concatenate([
        _float_values(series.reindex(data.correlation.index))[recent]
        for series in (data.correlation, data.ewma, data.ci_low, data.ci_high)
    ])
    values = values[np.isfinite(values)]
    crowd_above = int(((values >= current + near) & (values <= current + far)).sum())
    crowd_below = int(((values <= current - near) & (values >= current - far)).sum())
    if crowd_above != crowd_below:
        return crowd_above < crowd_below
    return current < 0.55


def _correlation_legends(ax: Axes, data: ChartData, theme: ChartTheme) -> None:
    line_handles = [
        Line2D(
            [], [], color=theme.correlation_line, linewidth=CORR_LW, label=f"{data.window.label} correlation"
        ),
        Line2D([], [], color=theme.ewma_line, linewidth=EWMA_LW, label="EWMA"),
        Patch(facecolor=theme.ci_band, alpha=theme.ci_alpha * 1.6, linewidth=0, label="95% CI"),
    ]
    swatch_alpha = min(1.0, 2.2 * theme.regime_alpha)  # small swatches need more colour than wide bands
    regime_handles = [
        Patch(facecolor=theme.regime_fill[name], alpha=swatch_alpha, linewidth=0, label=name)
        for name in REGIME_ORDER
    ]
    common = {
        "fontsize": SMALL_PT + 0.5, "frameon": False, "ncol": 4, "handlelength": 1.5, "handletextpad": 0.5,
        "columnspacing": 1.1, "borderaxespad": 0.2, "labelcolor": theme.text,
    }
    lines_legend = ax.legend(handles=line_handles, loc="lower left", bbox_to_anchor=(0.0, 1.0), **common)
    ax.add_artist(lines_legend)
    ax.legend(handles=regime_handles, loc="lower right", bbox_to_anchor=(1.0, 1.0), **common)


def _draw_date_axis(ax: Axes, theme: ChartTheme) -> None:
    locator = mdates.AutoDateLocator(minticks=4, maxticks=8)
    formatter = mdates.ConciseDateFormatter(locator, show_offset=False)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(formatter)
    ax.tick_params(axis="x", labelsize=TICK_PT, labelcolor=theme.text)


def _x_range(data: ChartData) -> tuple[float, float]:
    as_of = float(_date_nums(pd.DatetimeIndex([data.as_of]))[0])
    firsts = [
        float(_date_nums(index[:1])[0]) for index in (data.prices.index, data.correlation.index) if len(index)
    ]
    start = min(firsts) if firsts else as_of - 365.0
    start = min(start, as_of - 30.0)
    return start, as_of + (as_of - start) * 0.012  # a little room so the current-value marker shows whole


def render_pair_chart(data: ChartData, theme: str = "light") -> bytes:
    """The pair chart as PNG bytes (about 1000×600 px)."""
    colours = chart_theme(theme)
    fig = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI, facecolor=colours.figure_bg, layout="none")
    canvas = FigureCanvasAgg(fig)
    price_ax = fig.add_axes((LEFT, PRICE_BOTTOM, RIGHT - LEFT, PRICE_TOP - PRICE_BOTTOM))
    corr_ax = fig.add_axes((LEFT, CORR_BOTTOM, RIGHT - LEFT, CORR_TOP - CORR_BOTTOM), sharex=price_ax)
    for ax in (price_ax, corr_ax):
        _style_axes(ax, colours)

    x_start, x_end = _x_range(data)
    _draw_prices(price_ax, data, colours)
    _draw_correlation(corr_ax, data, colours, x_start, x_end)
    corr_ax.set_xlim(x_start, x_end)
    _draw_date_axis(corr_ax, colours)

    title = (
        f"{data.asset.symbol} vs {data.benchmark.symbol} · {data.window.label} correlation · "
        f"as of {pd.Timestamp(data.as_of):%Y-%m-%d}"
    )
    fig.text(LEFT, TITLE_Y, title, ha="left", va="center", fontsize=TITLE_PT, fontweight="bold",
             color=colours.text)
    fig.text(
        LEFT, FOOTER_Y, _source_line(data), ha="left", va="bottom", fontsize=FOOTER_PT, color=colours.muted
    )
    fig.text(BRAND_X, FOOTER_Y, "decoupler", ha="right", va="bottom", fontsize=FOOTER_PT + 1,
             fontweight="bold", color=colours.muted)
    if data.stale:
        fig.text(
            STALE_BADGE_X, FOOTER_Y, "STALE DATA", ha="center", va="bottom", fontsize=FOOTER_PT,
            fontweight="bold", color=colours.figure_bg,
            bbox={"boxstyle": "round,pad=0.25", "facecolor": colours.warning, "edgecolor": "none"},
        )

    return _png_bytes(canvas)


def _png_bytes(canvas: FigureCanvasAgg) -> bytes:
    """Encode as opaque RGB at a moderate compression level: smaller and about twice as fast as
    matplotlib's default RGBA/level-6 PNG (the figure background is opaque anyway)."""
    canvas.draw()
    width, height = canvas.get_width_height(physical=True)
    rgba = Image.frombuffer("RGBA", (width, height), canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
    buffer = io.BytesIO()
    rgba.convert("RGB").save(buffer, format="png", compress_level=PNG_COMPRESS_LEVEL)
    return buffer.getvalue()
