"""Pair charts: both prices rebased to 100 above, the rolling correlation with its regimes below.

Charts are drawn in render worker processes (bot.render.chart_pool) and, as a fallback or for the CLI,
in threads, so this module uses matplotlib's object-oriented API only: `Figure` and `FigureCanvasAgg`
objects that are never shared between two renders at once, every colour set on the artists themselves. It
never imports `matplotlib.pyplot` (its figure registry is global and not thread-safe) and never writes
rcParams. The statistics come ready in `ChartData`; nothing here computes them.
"""

from __future__ import annotations

import math
import struct
import threading
import zlib
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib import ticker
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.transforms import blended_transform_factory

from bot.analysis.results import ChartData
from bot.analytics.regimes import Thresholds

WIDTH_IN, HEIGHT_IN, DPI = 10.0, 6.0, 100
PNG_COMPRESS_LEVEL = 1  # zlib level of the PNG: level 6 saves a tenth of the bytes in twice the time
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
#
# Most of the time of a chart drawn from scratch goes to building axes, ticks, texts and legends that are
# the same in every chart. So a `PairChartCanvas` builds its figure, axes and every artist once for its
# theme, draws the parts that don't change with each chart (backgrounds, the correlation axis, threshold
# names, the regime legend, the source line, the brand) once into a saved background (one per thresholds
# and source line in use), and each render restores that background and draws only the artists that depend
# on the data, in the order matplotlib would (by zorder within each axes, then the figure's texts). A canvas
# serves one render at a time: `render_pair_chart` keeps a few free ones per theme for threads, and a render
# worker process (bot.render.chart_pool) keeps one per theme.

THRESHOLD_REGIMES = ("coupled", "decoupled", "inverse")
KEEP_FREE_CANVASES = 2  # per theme, for renders in threads; more concurrent renders build and drop theirs
KEEP_BACKGROUNDS = 3  # per canvas (2.4 MB each): one per thresholds and source line in use


def style_axes(ax: Axes, theme: ChartTheme, *, fixed_limits: bool = True) -> None:
    """The house look of an axes (also the gap chart's); `fixed_limits`: every render sets both limits."""
    ax.set_facecolor(theme.axes_bg)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color(theme.spine)
    ax.tick_params(axis="both", which="both", colors=theme.spine, labelcolor=theme.text, labelsize=TICK_PT)
    ax.grid(True, which="major", color=theme.grid, linewidth=0.9)
    ax.set_axisbelow(True)
    ax.set_autoscale_on(not fixed_limits)


def _correlation_tick(value: float, _pos: object = None) -> str:
    return _signed(value, 1).replace(".0", "")


class PairChartCanvas:
    """One reusable pair-chart figure of one theme. Not thread-safe: one render at a time."""

    def __init__(self, theme: ChartTheme) -> None:
        self.theme = theme
        self.figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI, facecolor=theme.figure_bg, layout="none")
        self.canvas = FigureCanvasAgg(self.figure)
        self.price_ax = self.figure.add_axes((LEFT, PRICE_BOTTOM, RIGHT - LEFT, PRICE_TOP - PRICE_BOTTOM))
        self.corr_ax = self.figure.add_axes(
            (LEFT, CORR_BOTTOM, RIGHT - LEFT, CORR_TOP - CORR_BOTTOM), sharex=self.price_ax
        )
        for ax in (self.price_ax, self.corr_ax):
            style_axes(ax, theme)
        self._build_prices()
        self._build_correlation()
        self._build_texts()
        self._dynamic = self._draw_order()
        for artist in self._dynamic:
            artist.set_animated(True)  # left out of the background; drawn by each render
        # Saved backgrounds by what they show that varies: the thresholds and the source line.
        self._backgrounds: OrderedDict[tuple[Thresholds, str], object] = OrderedDict()

    # ---- built once

    def _build_prices(self) -> None:
        ax, theme = self.price_ax, self.theme
        # A log price axis drawn as log10 levels on a linear axis: the same pixels, but every line, tick and
        # grid line goes through an affine transform instead of matplotlib's slower non-affine log path.
        ax.yaxis.set_major_formatter(ticker.NullFormatter())  # every render sets its levels and labels
        ax.yaxis.set_minor_locator(ticker.NullLocator())
        ax.set_ylabel("Price, rebased to 100", fontsize=LABEL_PT, color=theme.muted)
        ax.tick_params(axis="x", labelbottom=False)
        self.hundred = ax.axhline(2.0, color=theme.muted, linewidth=1.0, linestyle=(0, (1, 2)), zorder=1)  # 100
        self.price_lines = [
            ax.plot([], [], color=colour, linewidth=PRICE_LW, solid_capstyle="round")[0]
            for colour in (theme.asset_line, theme.benchmark_line)
        ]
        self.end_labels = [
            ax.text(MARGIN_LABEL_X, 0.5, "", transform=ax.transAxes, ha="left", va="center", fontsize=LABEL_PT,
                    fontweight="bold", clip_on=False)
            for _ in self.price_lines
        ]
        self.price_legend = ax.legend(
            self.price_lines, ["", ""], loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=2, frameon=False,
            handlelength=1.6, columnspacing=1.6, borderaxespad=0.2, labelcolor=theme.text,
            prop={"weight": "bold", "size": LEGEND_PT},
        )

    def _build_correlation(self) -> None:
        ax, theme = self.corr_ax, self.theme
        ax.set_ylim(-1.0, 1.0)
        ax.yaxis.set_major_locator(ticker.FixedLocator([-1.0, -0.5, 0.0, 0.5, 1.0]))
        ax.yaxis.set_major_formatter(ticker.FuncFormatter(_correlation_tick))
        ax.grid(False, axis="y")
        ax.set_ylabel("Correlation", fontsize=LABEL_PT, color=theme.muted)
        # Date ticks are worked out once per render (`_set_date_ticks`); the two panels share them.
        self.date_locator = mdates.AutoDateLocator(minticks=4, maxticks=8)
        self.date_locator.set_axis(ax.xaxis)
        self.date_formatter = mdates.ConciseDateFormatter(self.date_locator, show_offset=False)

        # Regime runs as one collection of rectangles, each coloured by its regime.
        self.regime_bands = PolyCollection([], alpha=theme.regime_alpha, linewidths=0, zorder=0)
        ax.add_collection(self.regime_bands, autolim=False)
        empty = np.array([], dtype=float)
        self.ci_band = ax.fill_between(
            empty, empty, empty, interpolate=False, color=theme.ci_band, alpha=theme.ci_alpha, linewidth=0,
            zorder=2,
        )
        self.zero_line = ax.axhline(0.0, color=theme.muted, linewidth=1.0, zorder=1)
        self.threshold_lines = {
            regime: ax.axhline(0.0, color=theme.regime_ink[regime], linewidth=THRESHOLD_LW, linestyle=(0, (5, 3)),
                               alpha=0.9, zorder=1)
            for regime in THRESHOLD_REGIMES
        }
        margin = blended_transform_factory(ax.transAxes, ax.transData)
        self.threshold_labels = {
            regime: ax.text(MARGIN_LABEL_X, 0.0, "", transform=margin, ha="left", va="center", fontsize=SMALL_PT,
                            color=theme.regime_ink[regime], clip_on=False)
            for regime in THRESHOLD_REGIMES
        }
        self.ewma_line = ax.plot([], [], color=theme.ewma_line, linewidth=EWMA_LW, zorder=3)[0]
        self.rho_line = ax.plot(
            [], [], color=theme.correlation_line, linewidth=CORR_LW, zorder=4, solid_capstyle="round"
        )[0]
        self.marker = ax.plot(
            [], [], linestyle="none", marker="o", markersize=9, color=theme.correlation_line,
            markeredgecolor=theme.axes_bg, markeredgewidth=1.8, zorder=6, clip_on=False,
        )[0]
        self.current_label = ax.annotate(
            "", xy=(0.0, 0.0), xytext=(-10, 13), textcoords="offset points", ha="right", va="bottom",
            fontsize=LABEL_PT, fontweight="bold", color=theme.text, zorder=7,
            bbox={"boxstyle": "round,pad=0.3", "facecolor": theme.axes_bg, "edgecolor": theme.spine,
                  "linewidth": 0.8, "alpha": 0.92},
        )
        self.no_current_label = ax.annotate(
            "", xy=(1.0, 0.97), xycoords="axes fraction", ha="right", va="top", fontsize=LABEL_PT,
            fontweight="bold", color=theme.text, zorder=7,
        )
        self._build_correlation_legends()

    def _build_correlation_legends(self) -> None:
        ax, theme = self.corr_ax, self.theme
        line_handles = [
            Line2D([], [], color=theme.correlation_line, linewidth=CORR_LW),
            Line2D([], [], color=theme.ewma_line, linewidth=EWMA_LW),
            Patch(facecolor=theme.ci_band, alpha=theme.ci_alpha * 1.6, linewidth=0),
        ]
        swatch_alpha = min(1.0, 2.2 * theme.regime_alpha)  # small swatches need more colour than wide bands
        regime_handles = [
            Patch(facecolor=theme.regime_fill[name], alpha=swatch_alpha, linewidth=0) for name in REGIME_ORDER
        ]
        common = {
            "fontsize": SMALL_PT + 0.5, "frameon": False, "ncol": 4, "handlelength": 1.5, "handletextpad": 0.5,
            "columnspacing": 1.1, "borderaxespad": 0.2, "labelcolor": theme.text,
        }
        self.lines_legend = ax.legend(
            line_handles, ["correlation", "EWMA", "95% CI"], loc="lower left", bbox_to_anchor=(0.0, 1.0), **common
        )
        ax.add_artist(self.lines_legend)
        ax.legend(regime_handles, list(REGIME_ORDER), loc="lower right", bbox_to_anchor=(1.0, 1.0), **common)

    def _build_texts(self) -> None:
        fig, theme = self.figure, self.theme
        self.title = fig.text(LEFT, TITLE_Y, "", ha="left", va="center", fontsize=TITLE_PT, fontweight="bold",
                              color=theme.text)
        self.source = fig.text(LEFT, FOOTER_Y, "", ha="left", va="bottom", fontsize=FOOTER_PT, color=theme.muted)
        fig.text(BRAND_X, FOOTER_Y, "decoupler", ha="right", va="bottom", fontsize=FOOTER_PT + 1,
                 fontweight="bold", color=theme.muted)
        self.stale_badge = fig.text(
            STALE_BADGE_X, FOOTER_Y, "STALE DATA", ha="center", va="bottom", fontsize=FOOTER_PT,
            fontweight="bold", color=theme.figure_bg,
            bbox={"boxstyle": "round,pad=0.25", "facecolor": theme.warning, "edgecolor": "none"},
        )

    def _draw_order(self) -> list[Artist]:
        """The artists that change with the data, in matplotlib's drawing order (zorder within each axes)."""
        price, corr = self.price_ax, self.corr_ax
        return [
            price.xaxis, price.yaxis,  # 0.5 (ticks and grid below the data)
            self.hundred,  # 1
            *self.price_lines,  # 2
            price.spines["left"], price.spines["bottom"],  # 2.5
            *self.end_labels,  # 3
            self.price_legend,  # 5
            self.regime_bands,  # 0
            corr.xaxis,  # 0.5 (the correlation axis itself never changes: it is in the background)
            self.zero_line, *self.threshold_lines.values(),  # 1
            self.ci_band,  # 2
            corr.spines["left"], corr.spines["bottom"],  # 2.5
            self.ewma_line,  # 3
            self.rho_line,  # 4
            self.lines_legend,  # 5
            self.marker,  # 6
            self.current_label, self.no_current_label,  # 7
            self.title, self.stale_badge,  # the figure's texts, above both axes
        ]

    # ---- each render

    def render(self, data: ChartData) -> bytes:
        """The chart of `data` as PNG bytes; nothing of an earlier render shows through."""
        x_start, x_end = _x_range(data)
        self._update_prices(data)
        self._update_correlation(data, x_start, x_end)
        self.corr_ax.set_xlim(x_start, x_end)
        self._set_date_ticks()
        self.title.set_text(
            f"{data.asset.symbol} vs {data.benchmark.symbol} · {data.window.label} correlation · "
            f"as of {pd.Timestamp(data.as_of):%Y-%m-%d}"
        )
        self.stale_badge.set_visible(bool(data.stale))
        self._draw(data.thresholds, _source_line(data))
        return self._png_bytes()

    def _set_date_ticks(self) -> None:
        """The date locator and formatter run once here, not once per panel and again to place labels."""
        locations = self.date_locator()
        labels = self.date_formatter.format_ticks(locations)
        self.corr_ax.xaxis.set_major_locator(ticker.FixedLocator(locations))  # shared with the price panel
        self.corr_ax.xaxis.set_major_formatter(ticker.FixedFormatter(labels))

    def _update_prices(self, data: ChartData) -> None:
        ax = self.price_ax
        x = _date_nums(data.prices.index)
        levels: list[np.ndarray] = []
        ends: list[tuple[float, str, str]] = []  # last level, symbol, colour
        for line, text, column, asset in zip(
            self.price_lines, self.price_legend.get_texts(), ("a", "b"), (data.asset, data.benchmark), strict=True
        ):
            rebased = _rebased(data.prices[column]) if column in data.prices else np.full(len(x), np.nan)
            change = _pct_change(rebased)
            text.set_text(asset.symbol if math.isnan(change) else f"{asset.symbol}  {_signed_pct(change)}")
            with np.errstate(invalid="ignore", divide="ignore"):
                line.set_data(x, np.log10(rebased))
            finite = rebased[np.isfinite(rebased)]
            levels.append(finite)
            if len(finite):
                ends.append((float(finite[-1]), asset.symbol, line.get_color()))

        finite = np.concatenate(levels)
        low, high = (float(finite.min()), float(finite.max())) if len(finite) else (90.0, 110.0)
        low, high = min(low, 100.0), max(high, 100.0)
        pad = (high / low) ** 0.06 if high > low else 1.05
        ax.set_ylim(np.log10(low / pad), np.log10(high * pad))
        levels_at = _nice_log_ticks(low / pad, high * pad)
        ax.yaxis.set_major_locator(ticker.FixedLocator(np.log10(levels_at)))
        ax.yaxis.set_major_formatter(ticker.FixedFormatter([_format_level(level) for level in levels_at]))
        self._label_line_ends(ends, math.log(low / pad), math.log(high * pad))

    def _label_line_ends(self, ends: list[tuple[float, str, str]], log_low: float, log_high: float) -> None:
        """Symbols in the right margin at each line's last level, kept one text line apart."""
        min_gap = 0.08  # axes fraction
        ends = sorted(ends, key=lambda end: -end[0])
        positions: list[float] = []
        for level, _symbol, _colour in ends:
            y = (math.log(level) - log_low) / (log_high - log_low)
            positions.append(y if not positions else min(y, positions[-1] - min_gap))
        shift = max(0.0, min_gap / 2 - positions[-1]) if positions else 0.0  # keep the lowest label inside
        for i, text in enumerate(self.end_labels):
            text.set_visible(i < len(ends))
            if i < len(ends):
                _level, symbol, colour = ends[i]
                text.set_text(symbol)
                text.set_color(colour)
                text.set_y(positions[i] + shift)

    def _update_correlation(self, data: ChartData, x_start: float, x_end: float) -> None:
        theme = self.theme
        index = data.correlation.index
        x = _date_nums(index)
        regimes = data.regimes.reindex(index) if len(data.regimes) else data.regimes
        rectangles: list[list[tuple[float, float]]] = []
        colours: list[str] = []
        for name, spans in regime_spans(x, list(regimes), x_end).items():
            for start, width in spans:
                rectangles.append([(start, -1.0), (start, 1.0), (start + width, 1.0), (start + width, -1.0)])
                colours.append(theme.regime_fill[name])
        self.regime_bands.set_verts(rectangles)
        self.regime_bands.set_facecolor(colours or "none")
        self.regime_bands.set_visible(bool(rectangles))

        low = _float_values(data.ci_low.reindex(index))
        high = _float_values(data.ci_high.reindex(index))
        band = np.isfinite(low) & np.isfinite(high)
        self.ci_band.set_data(x, np.where(band, low, 0.0), np.where(band, high, 0.0), where=band)

        self.ewma_line.set_data(x, _float_values(data.ewma.reindex(index)))
        self.rho_line.set_data(x, _float_values(data.correlation))
        self._mark_current(data, x_start, x_end)

        self.lines_legend.get_texts()[0].set_text(f"{data.window.label} correlation")

    def _set_thresholds(self, th: Thresholds) -> None:
        """Threshold lines at their levels, and their names in the right margin, nudged apart when custom
        thresholds sit close together."""
        levels = {"coupled": th.coupled_enter, "decoupled": th.decoupled_enter, "inverse": th.inverse_enter}
        min_gap = 0.16  # in correlation units; about one line of small text at this panel height
        placed: list[float] = []
        for regime, level in sorted(levels.items(), key=lambda item: -item[1]):
            y = level if not placed else min(level, placed[-1] - min_gap)
            placed.append(y)
            self.threshold_lines[regime].set_ydata([level, level])
            label = self.threshold_labels[regime]
            label.set_text(f"{regime} {_signed(level)}")
            label.set_y(y)

    def _mark_current(self, data: ChartData, x_start: float, x_end: float) -> None:
        as_of = float(_date_nums(pd.DatetimeIndex([data.as_of]))[0])
        current = float(data.current) if data.current is not None else math.nan
        available = math.isfinite(current)
        self.marker.set_visible(available)
        self.current_label.set_visible(available)
        self.no_current_label.set_visible(not available)
        if not available:
            self.no_current_label.set_text(f"ρ n/a · n={data.n_obs}")
            return
        self.marker.set_data([as_of], [current])
        label = f"ρ {_signed(current)} · n={data.n_obs}"
        above = _label_goes_above(data, current, len(label), x_start, x_end, as_of)
        self.current_label.set_text(label)
        self.current_label.xy = (as_of, current)
        self.current_label.xyann = (-10, 13 if above else -13)
        self.current_label.set_verticalalignment("bottom" if above else "top")

    def _draw(self, thresholds: Thresholds, source: str) -> None:
        key = (thresholds, source)
        background = self._backgrounds.get(key)
        if background is None:
            self._set_thresholds(thresholds)
            self.source.set_text(source)
            self.canvas.draw()  # the static artists only: the dynamic ones are animated
            self._backgrounds[key] = self.canvas.copy_from_bbox(self.figure.bbox)
            while len(self._backgrounds) > KEEP_BACKGROUNDS:
                self._backgrounds.popitem(last=False)
        else:
            self._backgrounds.move_to_end(key)
            self.canvas.restore_region(background)
            self._set_thresholds(thresholds)  # the threshold lines are drawn with the data
        renderer = self.canvas.get_renderer()
        for artist in self._dynamic:
            artist.draw(renderer)

    def _png_bytes(self) -> bytes:
        return encode_png(np.asarray(self.canvas.buffer_rgba()))


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def encode_png(rgba: np.ndarray) -> bytes:
    """An opaque RGB PNG of an RGBA image (the figure background is opaque), every row unfiltered and
    deflated at a low level: lossless, about twice as fast as Pillow's adaptive filtering at level 3 and
    smaller on charts, whose flat colours compress well without filters."""
    height, width = rgba.shape[:2]
    rows = np.empty((height, 1 + 3 * width), dtype=np.uint8)
    rows[:, 0] = 0  # filter type None
    rows[:, 1:].reshape(height, width, 3)[...] = rgba[..., :3]
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    return b"".join((
        b"\x89PNG\r\n\x1a\n",
        _png_chunk(b"IHDR", header),
        _png_chunk(b"IDAT", zlib.compress(rows.tobytes(), PNG_COMPRESS_LEVEL)),
        _png_chunk(b"IEND", b""),
    ))


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


def _x_range(data: ChartData) -> tuple[float, float]:
    as_of = float(_date_nums(pd.DatetimeIndex([data.as_of]))[0])
    firsts = [
        float(_date_nums(index[:1])[0]) for index in (data.prices.index, data.correlation.index) if len(index)
    ]
    start = min(firsts) if firsts else as_of - 365.0
    start = min(start, as_of - 30.0)
    return start, as_of + (as_of - start) * 0.012  # a little room so the current-value marker shows whole


# ---- canvases per theme -----------------------------------------------------------------------------

_free_canvases: dict[str, list[PairChartCanvas]] = {}
_free_lock = threading.Lock()


def _take_canvas(theme: ChartTheme) -> PairChartCanvas:
    with _free_lock:
        free = _free_canvases.get(theme.name)
        if free:
            return free.pop()
    return PairChartCanvas(theme)


def _give_back(canvas: PairChartCanvas) -> None:
    with _free_lock:
        free = _free_canvases.setdefault(canvas.theme.name, [])
        if len(free) < KEEP_FREE_CANVASES:
            free.append(canvas)


def prepare_canvases(themes: Sequence[str] = tuple(THEMES)) -> None:
    """Build one canvas per theme ahead of the first render (a render worker does this as it starts)."""
    for name in themes:
        _give_back(_take_canvas(chart_theme(name)))


def render_pair_chart(data: ChartData, theme: str = "light") -> bytes:
    """The pair chart as PNG bytes (about 1000×600 px). Safe to call from several threads at once."""
    canvas = _take_canvas(chart_theme(theme))
    png = canvas.render(data)
    _give_back(canvas)  # only after a render that finished: a failed one may have left it half updated
    return png
