"""Pair charts: both prices rebased to 100 above, the rolling correlation with its regimes below.

Charts are drawn in render worker processes (bot.render.chart_pool) and, as a fallback or for the CLI,
in threads, so this module uses matplotlib's object-oriented API only: `Figure` and `FigureCanvasAgg`
objects that are never shared between two renders at once, every colour set on the artists themselves. It
never imports `matplotlib.pyplot` (its figure registry is global and not thread-safe) and never writes
rcParams. The statistics come ready in `ChartData`; nothing here computes them.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Sequence

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib import ticker
from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.transforms import blended_transform_factory

from bot.analysis.results import ChartData
from bot.analytics.thresholds import Regime, Thresholds
from bot.render.chart_shapes import (
    date_nums,
    float_values,
    format_level,
    label_goes_above,
    nice_log_ticks,
    pct_change,
    rebased_prices,
    regime_spans,
    signed,
    signed_pct,
    source_line,
    x_range,
)
from bot.render.chart_style import (
    BRAND_X,
    CORR_BOTTOM,
    CORR_LW,
    CORR_TOP,
    DPI,
    EWMA_LW,
    FOOTER_PT,
    FOOTER_Y,
    HEIGHT_IN,
    LABEL_PT,
    LEFT,
    LEGEND_PT,
    MARGIN_LABEL_X,
    PRICE_BOTTOM,
    PRICE_LW,
    PRICE_TOP,
    REGIME_ORDER,
    RIGHT,
    SMALL_PT,
    STALE_BADGE_X,
    THEMES,
    THRESHOLD_LW,
    TITLE_PT,
    TITLE_Y,
    WIDTH_IN,
    ChartTheme,
    chart_theme,
    style_axes,
)
from bot.render.png import encode_png

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

THRESHOLD_REGIMES = (Regime.COUPLED, Regime.DECOUPLED, Regime.INVERSE)
KEEP_FREE_CANVASES = 2  # per theme, for renders in threads; more concurrent renders build and drop theirs
KEEP_BACKGROUNDS = 3  # per canvas (2.4 MB each): one per thresholds and source line in use



def _correlation_tick(value: float, _pos: object = None) -> str:
    return signed(value, 1).replace(".0", "")


class PairChartCanvas:
    """One reusable pair-chart figure of one theme. Not thread-safe: one render at a time."""

    def __init__(self, theme: ChartTheme) -> None:
        self.theme = theme
        self.figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI, facecolor=theme.figure_bg, layout="none")  # type: ignore[arg-type]  # documented value, missing from the stubs
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
        # 3.5 to 4 years: too few yearly ticks, too many at 6 months; matplotlib warns and guesses, so offer 12
        self.date_locator.intervald[mdates.MONTHLY] = [1, 2, 3, 4, 6, 12]
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
        x_start, x_end = x_range(data)
        self._update_prices(data)
        self._update_correlation(data, x_start, x_end)
        self.corr_ax.set_xlim(x_start, x_end)
        self._set_date_ticks()
        self.title.set_text(
            f"{data.asset.symbol} vs {data.benchmark.symbol} · {data.window.label} correlation · "
            f"as of {pd.Timestamp(data.as_of):%Y-%m-%d}"
        )
        self.stale_badge.set_visible(bool(data.stale))
        self._draw(data.thresholds, source_line(data))
        return self._png_bytes()

    def _set_date_ticks(self) -> None:
        """The date locator and formatter run once here, not once per panel and again to place labels."""
        locations = self.date_locator()
        labels = self.date_formatter.format_ticks(locations)
        self.corr_ax.xaxis.set_major_locator(ticker.FixedLocator(locations))  # shared with the price panel
        self.corr_ax.xaxis.set_major_formatter(ticker.FixedFormatter(labels))

    def _update_prices(self, data: ChartData) -> None:
        ax = self.price_ax
        x = date_nums(data.prices.index)
        levels: list[np.ndarray] = []
        ends: list[tuple[float, str, str]] = []  # last level, symbol, colour
        for line, text, column, asset in zip(
            self.price_lines, self.price_legend.get_texts(), ("a", "b"), (data.asset, data.benchmark), strict=True
        ):
            rebased = rebased_prices(data.prices[column]) if column in data.prices else np.full(len(x), np.nan)
            change = pct_change(rebased)
            text.set_text(asset.symbol if math.isnan(change) else f"{asset.symbol}  {signed_pct(change)}")
            with np.errstate(invalid="ignore", divide="ignore"):
                line.set_data(x, np.log10(rebased))
            finite = rebased[np.isfinite(rebased)]
            levels.append(finite)
            if len(finite):
                ends.append((float(finite[-1]), asset.symbol, str(line.get_color())))

        finite = np.concatenate(levels)
        low, high = (float(finite.min()), float(finite.max())) if len(finite) else (90.0, 110.0)
        low, high = min(low, 100.0), max(high, 100.0)
        pad = (high / low) ** 0.06 if high > low else 1.05
        ax.set_ylim(np.log10(low / pad), np.log10(high * pad))
        levels_at = nice_log_ticks(low / pad, high * pad)
        ax.yaxis.set_major_locator(ticker.FixedLocator(np.log10(levels_at).tolist()))
        ax.yaxis.set_major_formatter(ticker.FixedFormatter([format_level(level) for level in levels_at]))
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
        x = date_nums(index)
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

        low = float_values(data.ci_low.reindex(index))
        high = float_values(data.ci_high.reindex(index))
        band = np.isfinite(low) & np.isfinite(high)
        self.ci_band.set_data(x, np.where(band, low, 0.0), np.where(band, high, 0.0), where=band)

        self.ewma_line.set_data(x, float_values(data.ewma.reindex(index)))
        self.rho_line.set_data(x, float_values(data.correlation))
        self._mark_current(data, x_start, x_end)

        self.lines_legend.get_texts()[0].set_text(f"{data.window.label} correlation")

    def _set_thresholds(self, th: Thresholds) -> None:
        """Threshold lines at their levels, and their names in the right margin, nudged apart when custom
        thresholds sit close together."""
        levels = {
            Regime.COUPLED: th.coupled_enter, Regime.DECOUPLED: th.decoupled_enter, Regime.INVERSE: th.inverse_enter,
        }
        min_gap = 0.16  # in correlation units; about one line of small text at this panel height
        placed: list[float] = []
        for regime, level in sorted(levels.items(), key=lambda item: -item[1]):
            y = level if not placed else min(level, placed[-1] - min_gap)
            placed.append(y)
            self.threshold_lines[regime].set_ydata([level, level])
            label = self.threshold_labels[regime]
            label.set_text(f"{regime} {signed(level)}")
            label.set_y(y)

    def _mark_current(self, data: ChartData, x_start: float, x_end: float) -> None:
        as_of = float(date_nums(pd.DatetimeIndex([data.as_of]))[0])
        current = float(data.current) if data.current is not None else math.nan
        available = math.isfinite(current)
        self.marker.set_visible(available)
        self.current_label.set_visible(available)
        self.no_current_label.set_visible(not available)
        if not available:
            self.no_current_label.set_text(f"ρ n/a · n={data.n_obs}")
            return
        self.marker.set_data([as_of], [current])
        label = f"ρ {signed(current)} · n={data.n_obs}"
        above = label_goes_above(data, current, len(label), x_start, x_end, as_of)
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
