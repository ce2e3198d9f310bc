"""How pair charts look: sizes, the light and dark themes, and the axes style every chart shares."""

from __future__ import annotations

from dataclasses import dataclass

from matplotlib.axes import Axes

from bot.analytics.thresholds import Regime

WIDTH_IN, HEIGHT_IN, DPI = 10.0, 6.0, 100

REGIME_ORDER = tuple(Regime)  # coupled, neutral, decoupled, inverse

TITLE_PT = 15
LABEL_PT = 12
TICK_PT = 11
LEGEND_PT = 11
SMALL_PT = 10
FOOTER_PT = 10

WIDTH_IN, HEIGHT_IN, DPI = 10.0, 6.0, 100

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
    regime_fill={
        Regime.COUPLED: "#2e9e4f", Regime.NEUTRAL: "#9aa0a6", Regime.DECOUPLED: "#f2a900",
        Regime.INVERSE: "#9b4fd6",
    },
    regime_alpha=0.15,
    regime_ink={
        Regime.COUPLED: "#1e7b3a", Regime.NEUTRAL: "#5f6368", Regime.DECOUPLED: "#a86a00",
        Regime.INVERSE: "#7b35b5",
    },
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
    regime_fill={
        Regime.COUPLED: "#3cc46a", Regime.NEUTRAL: "#9aa0a6", Regime.DECOUPLED: "#f5b82e",
        Regime.INVERSE: "#b57aee",
    },
    regime_alpha=0.17,
    regime_ink={
        Regime.COUPLED: "#6fd692", Regime.NEUTRAL: "#a3a3ab", Regime.DECOUPLED: "#f7c85a",
        Regime.INVERSE: "#c99bf3",
    },
    warning="#ff6b5e",
)

THEMES: dict[str, ChartTheme] = {LIGHT.name: LIGHT, DARK.name: DARK}

SOURCE_LABELS = {"snapshot": "bundled snapshot", "cache": "cached live data", "live": "live data"}


def chart_theme(name: str) -> ChartTheme:
    try:
        return THEMES[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown chart theme {name!r}; use one of: {', '.join(THEMES)}") from None



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
