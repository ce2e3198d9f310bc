"""The /gap chart: the asset's actual path and its beta-implied path since the anchor (both rebased to 100),
the gap between them shaded, and the benchmark beneath (docs/methods.md §8).

Like the other charts it uses matplotlib's object-oriented API only (its own `Figure` and `FigureCanvasAgg`,
never `pyplot`, never rcParams), so renders in worker threads share no state, and the light and dark themes
of the pair charts. The upper panel's axis is logarithmic, so the shaded height at each date is the gap g
itself (a log distance), whichever way the prices went. The numbers come ready in `GapResult`.
"""

from __future__ import annotations

import io
import itertools
import math

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib import ticker
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from bot.analysis.gap_results import GIVEN, GapResult
from bot.analysis.results import BUNDLED_END
from bot.render.chart_style import SOURCE_LABELS, chart_theme, style_axes
from bot.render.gap_text import benchmark_name, move, pct, two_decimals
from bot.render.text import capitalise, num

WIDTH_IN, HEIGHT_IN, DPI = 10.0, 6.4, 100
LEFT, RIGHT = 0.095, 0.845
PATH_BOTTOM, PATH_TOP = 0.39, 0.835
BENCH_BOTTOM, BENCH_TOP = 0.105, 0.3
TITLE_Y, SUBTITLE_Y, FOOTER_Y = 0.962, 0.918, 0.022
MARGIN_X = 1.012  # axes fraction: just right of the plotting area

TITLE_PT, LABEL_PT, TICK_PT, LEGEND_PT, SMALL_PT = 15, 12, 11, 11, 10
# the gap's colours: below the beta line (the asset lags) and above it (the asset leads)
GAP_FILL = {"light": ("#d64545", "#2e9e4f"), "dark": ("#ff6b6b", "#3cc46a")}
GAP_INK = {"light": ("#b02a2a", "#1e7b3a"), "dark": ("#ff8a8a", "#6fd692")}


def _dates(index: pd.Index) -> np.ndarray:
    dates = pd.DatetimeIndex(index)
    if dates.tz is not None:
        dates = dates.tz_convert(None)
    return np.asarray(mdates.date2num(dates.to_numpy()), dtype=float)


def _levels(low: float, high: float) -> list[float]:
    """Round levels for a log axis of rebased prices: evenly spaced in a narrow range, 1-2-5 in a wide one."""
    if high / low <= 4:
        values = ticker.MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10]).tick_values(low, high)
        return [float(v) for v in values if low <= v <= high and v > 0]
    first, last = math.floor(math.log10(low)), math.ceil(math.log10(high))
    return [m * 10.0**e for e in range(first, last + 1) for m in (1, 2, 5) if low <= m * 10.0**e <= high]


def _level_texts(levels: list[float]) -> list[str]:
    """Labels with as many decimals as the spacing of the levels needs (a narrow range: 99.5, 100.0, 100.5)."""
    steps = [b - a for a, b in itertools.pairwise(levels) if b > a]
    decimals = max(0, -math.floor(math.log10(min(steps)))) if steps else 0
    decimals = min(decimals, 3)
    return [f"{value:,.{decimals}f}" for value in levels]


def _log_axis(ax: Axes, values: list[np.ndarray], max_ticks: int = 6) -> None:
    finite = np.concatenate([v[np.isfinite(v) & (v > 0)] for v in values])
    low, high = (float(finite.min()), float(finite.max())) if len(finite) else (90.0, 110.0)
    low, high = min(low, 100.0), max(high, 100.0)
    pad = (high / low) ** 0.07 if high > low else 1.05
    ax.set_yscale("log")
    ax.set_ylim(low / pad, high * pad)
    levels = _levels(low / pad, high * pad)
    if len(levels) > max_ticks:
        levels = levels[::2]
    ax.yaxis.set_major_locator(ticker.FixedLocator(levels))
    ax.yaxis.set_major_formatter(ticker.FixedFormatter(_level_texts(levels)))
    ax.yaxis.set_minor_locator(ticker.NullLocator())


def source_line(result: GapResult) -> str:
    pair = result.pair
    providers = list(dict.fromkeys("Binance" if a.is_crypto else "Yahoo Finance" for a in (pair.asset, pair.benchmark)))
    return f"Source: {SOURCE_LABELS.get(pair.source, pair.source)} ({', '.join(providers)})"


def render_gap_chart(result: GapResult, theme: str = "light") -> bytes:
    """The /gap chart as PNG bytes (about 1000×640 px)."""
    th = chart_theme(theme)
    below_fill, above_fill = GAP_FILL.get(th.name, GAP_FILL["light"])
    below_ink, above_ink = GAP_INK.get(th.name, GAP_INK["light"])
    pair = result.pair
    a, b = pair.asset.symbol, pair.benchmark.symbol
    path = result.path
    x = _dates(path.index)
    actual = path["asset"].to_numpy(float)
    implied = path["implied"].to_numpy(float)
    bench = path["benchmark"].to_numpy(float)

    fig = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI, facecolor=th.figure_bg, layout="none")  # type: ignore[arg-type]  # documented value, missing from the stubs
    FigureCanvasAgg(fig)
    ax = fig.add_axes((LEFT, PATH_BOTTOM, RIGHT - LEFT, PATH_TOP - PATH_BOTTOM))
    bx = fig.add_axes((LEFT, BENCH_BOTTOM, RIGHT - LEFT, BENCH_TOP - BENCH_BOTTOM), sharex=ax)
    for axes in (ax, bx):
        style_axes(axes, th, fixed_limits=False)

    # ---- the asset against its beta line, inside the ±1σ and ±2σ band of the gap's wander (σ_ε·√k, §8.4)
    bands = {k: (result.band(-k).to_numpy(float), result.band(k).to_numpy(float)) for k in (1.0, 2.0)}
    for k, alpha in ((2.0, 0.07), (1.0, 0.12)):
        low, high = bands[k]
        ax.fill_between(x, low, high, color=th.muted, alpha=alpha, linewidth=0, zorder=0, label="±1σ/±2σ")
    below = actual < implied
    ax.fill_between(x, actual, implied, where=below, interpolate=True, color=below_fill, alpha=0.2, linewidth=0,
                    zorder=1, label="gap: below")
    ax.fill_between(x, actual, implied, where=~below, interpolate=True, color=above_fill, alpha=0.2, linewidth=0,
                    zorder=1, label="gap: above")
    ax.axhline(100.0, color=th.muted, linewidth=1.0, linestyle=(0, (1, 2)), zorder=1)
    ax.plot(x, implied, color=th.asset_line, linewidth=1.8, linestyle=(0, (5, 3)), zorder=3,
            label=f"beta-implied {a}  {pct(result.change('implied'), 1)}")
    ax.plot(x, actual, color=th.asset_line, linewidth=2.4, zorder=4, solid_capstyle="round",
            label=f"{a}  {pct(result.change('asset'), 1)}")
    _log_axis(ax, [actual, implied, *bands[2.0]])
    ax.set_ylabel(f"{a}, rebased to 100", fontsize=LABEL_PT, color=th.muted)
    ax.tick_params(axis="x", labelbottom=False)
    handles, labels = ax.get_legend_handles_labels()
    # actual, implied, then the sides the gap has been on (the side it is on now first), then the bands
    sides = [2 + side for side, seen in ((0, bool(below.any())), (1, bool((~below).any()))) if seen]
    sides.sort(key=lambda side: side != (2 if result.gap < 0 else 3))
    order = [5, 4, *sides, 1]
    ax.legend([handles[i] for i in order], [labels[i] for i in order], loc="lower left", bbox_to_anchor=(0.0, 1.0),
              ncol=len(order), frameon=False, handlelength=1.8, columnspacing=1.4, borderaxespad=0.2,
              labelcolor=th.text, prop={"weight": "bold", "size": LEGEND_PT})

    # the gap at as_of, in the right margin: a bracket from the line to the asset and what closes it
    end_x, end_a, end_i = x[-1], actual[-1], implied[-1]
    ink = below_ink if result.gap < 0 else above_ink
    ax.plot([end_x, end_x], [end_a, end_i], color=ink, linewidth=2.2, zorder=5, solid_capstyle="butt")
    ax.plot([end_x], [end_a], marker="o", markersize=7, color=th.asset_line, markeredgecolor=th.axes_bg,
            markeredgewidth=1.5, zorder=6, clip_on=False)
    middle = math.sqrt(end_a * end_i)  # the middle on a log axis
    side = "below" if result.gap < 0 else "above"
    label = (f"{100 * abs(result.gap_pct):.0f}% {side}\n{num(result.gap_z, 2, signed=True)} σ\n"
             f"{a} {move(result.asset_move)}\nto close")
    ax.annotate(label, xy=(MARGIN_X, middle), xycoords=("axes fraction", "data"), ha="left", va="center",
                fontsize=LABEL_PT, fontweight="bold", color=ink, annotation_clip=False)

    # ---- the benchmark beneath
    bx.axhline(100.0, color=th.muted, linewidth=1.0, linestyle=(0, (1, 2)), zorder=1)
    bx.plot(x, bench, color=th.benchmark_line, linewidth=2.2, zorder=3, solid_capstyle="round")
    _log_axis(bx, [bench], max_ticks=3)
    bx.set_ylabel(b, fontsize=LABEL_PT, color=th.muted)
    bench_move = result.benchmark_move
    closes = f" · alone it closes the gap at {move(bench_move)}" if bench_move is not None else \
        (" · no benchmark move offered" if result.benchmark_move_withheld_reason is not None else "")
    named = benchmark_name(pair.benchmark)
    named = named if f"({b})" in named else f"{named} ({b})"
    bx.set_title(f"{capitalise(named)}  {pct(result.change('benchmark'), 1)}{closes}",
                 loc="left", fontsize=LEGEND_PT, fontweight="bold", color=th.text, pad=5)

    span = max(end_x - x[0], 1.0)
    if span < 14:  # a few sessions: one tick a day, never hours
        locator: ticker.Locator = mdates.DayLocator()
        bx.xaxis.set_major_formatter(mdates.DateFormatter("%b %d"))
    else:
        locator = mdates.AutoDateLocator(minticks=4, maxticks=8)
        bx.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, show_offset=False))
    bx.xaxis.set_major_locator(locator)
    bx.set_xlim(x[0], end_x + span * 0.01)

    # ---- title, subtitle, footer
    fig.text(LEFT, TITLE_Y, f"{a} vs its beta to {b} · since {result.anchor:%Y-%m-%d} · as of {pair.when:%Y-%m-%d}",
             ha="left", va="center", fontsize=TITLE_PT, fontweight="bold", color=th.text)
    how = "the date given" if result.anchor_kind == GIVEN else "the session before the last decoupling"
    subtitle = (f"beta {two_decimals(result.beta)} ± {num(result.fit.beta_se)}, fitted on {result.fit.n_obs} daily "
                f"returns in the year to "
                f"{result.anchor:%Y-%m-%d} (correlation {num(result.fit.correlation)}) · anchor: {how} · log scale")
    fig.text(LEFT, SUBTITLE_Y, subtitle, ha="left", va="center", fontsize=SMALL_PT, color=th.muted)
    fig.text(LEFT, FOOTER_Y, source_line(result), ha="left", va="bottom", fontsize=SMALL_PT, color=th.muted)
    fig.text(0.985, FOOTER_Y, "decoupler", ha="right", va="bottom", fontsize=SMALL_PT + 1, fontweight="bold",
             color=th.muted)
    if pair.as_of.stale and pair.as_of.stale_kind != BUNDLED_END:  # the snapshot just ends: no badge
        fig.text(0.62, FOOTER_Y, "STALE DATA", ha="center", va="bottom", fontsize=SMALL_PT, fontweight="bold",
                 color=th.figure_bg, bbox={"boxstyle": "round,pad=0.25", "facecolor": th.warning, "edgecolor": "none"})

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, facecolor=th.figure_bg)
    return buffer.getvalue()
