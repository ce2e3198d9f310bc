"""The /odds chart: how long past gap episodes stayed open (docs/methods.md §10). With enough episodes it is the
Kaplan–Meier curve (the open fraction against sessions since each episode reached today's level) with its 95%
interval and the censored episodes ticked; with fewer, one lane per episode (a count, not an estimate). Today's
episode is marked at its age. matplotlib's object-oriented API only, as the other charts."""

from __future__ import annotations

import io

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from bot.analysis.odds import HORIZONS, OddsResult, Summary
from bot.analysis.results import BUNDLED_END
from bot.render.chart_style import SOURCE_LABELS, ChartTheme, chart_theme, style_axes
from bot.render.odds_text import sigma
from bot.render.text import num

WIDTH_IN, HEIGHT_IN, DPI = 10.0, 6.4, 100
LEFT, RIGHT, BOTTOM, TOP = 0.085, 0.965, 0.13, 0.82
TITLE_Y, SUBTITLE_Y, FOOTER_Y = 0.955, 0.905, 0.022
TITLE_PT, LABEL_PT, LEGEND_PT, SMALL_PT = 15, 12, 11, 10


def _today(ax, result: OddsResult, th: ChartTheme, bottom: float) -> None:
    today = result.today
    if today.age is None:
        return
    ax.axvline(today.age, color=th.warning, linewidth=2.0, zorder=5)
    ax.annotate(f"today: {today.gap.pair.asset.symbol}:{today.gap.pair.benchmark.symbol}, {today.age} sessions "
                f"({sigma(today.gap_z)})", xy=(today.age, bottom), xytext=(6, 6), textcoords="offset points",
                ha="left", va="bottom", fontsize=LEGEND_PT, fontweight="bold", color=th.warning, zorder=6)


def _curve(ax, summary: Summary, th: ChartTheme) -> float:
    """The Kaplan–Meier step curve and its band; returns the x extent."""
    km = summary.km
    assert km is not None
    times = np.concatenate([[0], km.times, [km.longest]]).astype(float)
    s = np.concatenate([[1.0], km.survival, [km.survival[-1] if len(km.survival) else 1.0]])
    lo = np.concatenate([[1.0], km.lower, [km.lower[-1] if len(km.lower) else 1.0]])
    hi = np.concatenate([[1.0], km.upper, [km.upper[-1] if len(km.upper) else 1.0]])
    ax.fill_between(times, lo, hi, step="post", color=th.asset_line, alpha=0.15, linewidth=0, zorder=1,
                    label="95% interval (log-log)")
    ax.step(times, s, where="post", color=th.asset_line, linewidth=2.4, zorder=3,
            label=f"still open (Kaplan–Meier, {summary.n} episodes)")
    censored = [c.sessions for c in summary.episodes if not c.closed]
    if censored:
        at = np.searchsorted(km.times, censored, side="right") - 1
        heights = [1.0 if i < 0 else float(km.survival[i]) for i in at]
        ax.plot(censored, heights, linestyle="none", marker="|", markersize=14, markeredgewidth=2.2,
                color=th.text, zorder=4, label="censored: re-coupled or still open")
    for sessions in HORIZONS:
        ax.axvline(sessions, color=th.muted, linewidth=1.0, linestyle=(0, (2, 3)), zorder=2)
    ax.set_ylim(0, 1.05)
    ax.set_yticks([0, 0.25, 0.5, 0.75, 1.0], ["0%", "25%", "50%", "75%", "100%"])
    ax.set_ylabel("episodes still open", fontsize=LABEL_PT, color=th.muted)
    return float(km.longest)


def _lanes(ax, summary: Summary, th: ChartTheme) -> float:
    """One lane per episode: too few to estimate, so each is shown as it went."""
    for lane, item in enumerate(summary.episodes):
        y = len(summary.episodes) - lane
        closed = item.closed
        ink = th.asset_line if closed else th.muted
        ax.plot([0, item.sessions], [y, y], color=ink, linewidth=6, solid_capstyle="butt", zorder=3)
        ax.plot([item.sessions], [y], marker="o" if closed else ">", markersize=10, color=ink, zorder=4)
        how = "closed" if closed else item.episode.outcome
        ax.annotate(f"{item.episode.pair} from {item.reached:%Y-%m-%d}: {how} after {item.sessions} sessions",
                    xy=(item.sessions, y), xytext=(10, 0), textcoords="offset points", ha="left", va="center",
                    fontsize=LEGEND_PT, color=th.text)
    ax.set_ylim(0.3, len(summary.episodes) + 0.9)
    ax.set_yticks([])
    ax.set_ylabel(f"{summary.n} episode{'s' if summary.n > 1 else ''}: too few to estimate", fontsize=LABEL_PT,
                  color=th.muted)
    return float(max(item.sessions for item in summary.episodes)) * 1.9


def render_odds_chart(result: OddsResult, theme: str = "light") -> bytes:
    """The /odds chart as PNG bytes (about 1000×640 px); needs at least one comparable episode."""
    th = chart_theme(theme)
    summary = result.summary
    gap = result.today.gap
    pair = gap.pair
    fig = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI, facecolor=th.figure_bg, layout="none")  # type: ignore[arg-type]  # documented value, missing from the stubs
    FigureCanvasAgg(fig)
    ax = fig.add_axes((LEFT, BOTTOM, RIGHT - LEFT, TOP - BOTTOM))
    style_axes(ax, th, fixed_limits=False)
    extent = _curve(ax, summary, th) if summary.estimated else _lanes(ax, summary, th)
    extent = max(extent, float(result.today.age or 0), float(HORIZONS[-1]) if summary.estimated else 0.0)
    ax.set_xlim(0, extent * 1.04)
    _today(ax, result, th, ax.get_ylim()[0])
    ax.set_xlabel(f"sessions since the gap reached |gap_z| ≥ {num(summary.level)}", fontsize=LABEL_PT,
                  color=th.muted)
    if summary.estimated:
        ax.legend(loc="upper right", frameon=False, labelcolor=th.text, prop={"size": LEGEND_PT})

    scope = f"{len(result.pairs)} pairs pooled (not independent)" if result.pooled else result.pairs[0]
    fig.text(LEFT, TITLE_Y, f"How past gaps like {pair.asset.symbol}:{pair.benchmark.symbol}'s ended · as of "
             f"{pair.when:%Y-%m-%d}", ha="left", va="center", fontsize=TITLE_PT, fontweight="bold", color=th.text)
    today = f"today {sigma(result.today.gap_z)} since {gap.anchor:%Y-%m-%d}" + (
        f", open {result.today.age} sessions at this level" if result.today.age is not None else ", no episode open")
    fig.text(LEFT, SUBTITLE_Y, f"{summary.n} past episodes, {scope} · {summary.closed} closed · {today}",
             ha="left", va="center", fontsize=SMALL_PT, color=th.muted)
    fig.text(LEFT, FOOTER_Y, f"Source: {SOURCE_LABELS.get(pair.source, pair.source)} · episode: |gap_z| ≥ 1.5 after "
             "a coupled regime ends, until the move to close is ≤ 5%", ha="left", va="bottom",
             fontsize=SMALL_PT, color=th.muted)
    fig.text(0.985, FOOTER_Y, "decoupler", ha="right", va="bottom", fontsize=SMALL_PT + 1, fontweight="bold",
             color=th.muted)
    if pair.as_of.stale and pair.as_of.stale_kind != BUNDLED_END:
        fig.text(0.5, TITLE_Y - 0.005, "STALE DATA", ha="center", va="center", fontsize=SMALL_PT, fontweight="bold",
                 color=th.figure_bg, bbox={"boxstyle": "round,pad=0.25", "facecolor": th.warning, "edgecolor": "none"})
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, facecolor=th.figure_bg)
    return buffer.getvalue()
