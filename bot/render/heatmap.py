"""The /matrix heatmap: pairwise return correlations, one cell per pair, the value printed in each cell.

Like the pair charts, it uses matplotlib's object-oriented API only (a `Figure` with its own
`FigureCanvasAgg`, never `pyplot`, never rcParams), so renders in worker threads do not share state. The
numbers come ready in `MatrixData` (bot/analysis/scan.py); nothing here computes them.

Colours: a diverging map centred at 0 (RdBu, −1 red, 0 white, +1 blue, fixed limits so colours mean the same
in every matrix). Each cell's text is white or near-black, whichever has the higher contrast ratio (WCAG) with
the cell's colour. The diagonal (always 1) is greyed out so it does not draw the eye; a pair without an
answer shows "n/a". Order: crypto first, then equities and indices (docs/methods.md §9.4), with a line between
the two blocks, so the crypto–equity block — what Decoupler is about — is always in the same place.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Colormap, Normalize, to_rgba
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from bot.analysis.results import BUNDLED_END
from bot.analysis.scan_results import MatrixData
from bot.render.scan_text import matrix_alignment_words, n_range
from bot.render.text import SOURCE_WORDS

DPI = 100
MIN_WIDTH_IN = 9.0
LABELS_IN = 0.9
CMAP = "RdBu"


@dataclass(frozen=True)
class HeatmapTheme:
    figure_bg: str
    text: str
    muted: str
    diagonal: str
    separator: str
    dark_ink: str
    light_ink: str


THEMES = {
    "light": HeatmapTheme("#ffffff", "#1f2328", "#57606a", "#e6e8eb", "#1f2328", "#111111", "#ffffff"),
    "dark": HeatmapTheme("#0f1419", "#e6edf3", "#9aa4ae", "#2a313a", "#e6edf3", "#111111", "#ffffff"),
}


def _minus(text: str) -> str:
    return text.replace("-", "−")


def _luminance(rgba: tuple[float, float, float, float]) -> float:
    """Relative luminance (WCAG) of an sRGB colour."""

    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in rgba[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _contrast(a: float, b: float) -> float:
    """WCAG contrast ratio of two relative luminances."""
    light, dark = max(a, b), min(a, b)
    return (light + 0.05) / (dark + 0.05)


def _ink(colour: tuple[float, float, float, float], th: HeatmapTheme) -> str:
    """White or near-black text, whichever contrasts more with the cell."""
    cell = _luminance(colour)
    inks = (th.light_ink, th.dark_ink)
    return max(inks, key=lambda ink: _contrast(cell, _luminance(to_rgba(ink))))


def render_matrix(matrix: MatrixData, theme: str = "light") -> bytes:
    """The heatmap as PNG bytes."""
    th = THEMES.get(theme, THEMES["light"])
    k = len(matrix.assets)
    cell = 1.0 if k <= 6 else max(0.5, 6.0 / k)  # inches per cell
    grid = cell * k
    # inches: the row labels left of the grid, the colour bar and its labels right of it; title and two subtitle
    # lines above the column labels, the footer below; never narrower than MIN_WIDTH_IN (the title must fit)
    content = LABELS_IN + grid + 0.3 + 0.22 + 1.0
    width, height = max(content, MIN_WIDTH_IN), grid + 2.15
    fig = Figure(figsize=(width, height), dpi=DPI, facecolor=th.figure_bg)
    FigureCanvasAgg(fig)
    left, bottom = ((width - content) / 2 + LABELS_IN) / width, 0.65 / height
    ax = fig.add_axes((left, bottom, grid / width, grid / height))
    cax = fig.add_axes((left + (grid + 0.3) / width, bottom, 0.22 / width, grid / height))
    ax.set_facecolor(th.figure_bg)

    cmap = colormaps[CMAP]
    norm = Normalize(vmin=-1.0, vmax=1.0)
    value_pt = 15 if k <= 6 else max(8, int(15 * 6 / k))
    label_pt = 13 if k <= 8 else 10
    for i in range(k):
        for j in range(k):
            value = float(matrix.correlation[i, j])
            x, y = j, k - 1 - i  # row 0 at the top
            if i == j:
                ax.add_patch(Rectangle((x, y), 1, 1, facecolor=th.diagonal, edgecolor=th.figure_bg, linewidth=2))
                continue
            if math.isnan(value):
                ax.add_patch(Rectangle((x, y), 1, 1, facecolor=th.figure_bg, edgecolor=th.muted, linewidth=1,
                                       hatch="//"))
                ax.text(x + 0.5, y + 0.5, "n/a", ha="center", va="center", fontsize=value_pt - 3, color=th.muted)
                continue
            colour = cmap(norm(value))
            ax.add_patch(Rectangle((x, y), 1, 1, facecolor=colour, edgecolor=th.figure_bg, linewidth=2))
            ink = _ink(colour, th)
            ax.text(x + 0.5, y + 0.5, _minus(f"{value:.2f}"), ha="center", va="center", fontsize=value_pt,
                    color=ink, fontweight="bold")

    crypto = sum(1 for a in matrix.assets if a.is_crypto)
    if 0 < crypto < k:  # the line between the crypto block and the equity block
        ax.plot([crypto, crypto], [0, k], color=th.separator, linewidth=2.5, solid_capstyle="butt")
        ax.plot([0, k], [k - crypto, k - crypto], color=th.separator, linewidth=2.5, solid_capstyle="butt")

    symbols = matrix.symbols
    ax.set_xlim(0, k)
    ax.set_ylim(0, k)
    ax.set_aspect("equal")
    ax.set_xticks([j + 0.5 for j in range(k)], symbols, fontsize=label_pt, color=th.text, fontweight="bold")
    ax.set_yticks([k - 1 - i + 0.5 for i in range(k)], symbols, fontsize=label_pt, color=th.text,
                  fontweight="bold")
    ax.xaxis.tick_top()
    ax.tick_params(length=0, pad=6)
    for spine in ax.spines.values():
        spine.set_visible(False)

    bar = fig.colorbar(_mappable(cmap, norm), cax=cax, ticks=[-1, -0.5, 0, 0.5, 1])
    bar.ax.set_yticklabels([_minus(t) for t in ("-1", "-0.5", "0", "0.5", "1")], color=th.text, fontsize=11)
    bar.ax.tick_params(color=th.muted, length=3)
    bar.outline.set_edgecolor(th.muted)
    bar.set_label("correlation ρ", color=th.text, fontsize=11)

    title = (f"Return correlations · {matrix.window.long_label} window · as of {matrix.as_of.when:%Y-%m-%d}")
    fig.text(0.5, 1 - 0.28 / height, title, ha="center", va="top", fontsize=15, color=th.text, fontweight="bold")
    subtitle = (f"Pearson ρ of daily log returns, each cell the pair's /corr value · n = {n_range(matrix)} returns\n"
                f"{matrix_alignment_words(matrix, compact=True)}")
    fig.text(0.5, 1 - 0.6 / height, subtitle, ha="center", va="top", fontsize=10, color=th.muted, linespacing=1.5)
    overall = set(matrix.sources.values())
    source = SOURCE_WORDS.get(overall.pop(), "mixed sources") if len(overall) == 1 else "mixed sources"
    footer = f"Data: {source} · order: crypto, then equities and indices"
    if matrix.left_out:
        footer += f" · no data: {', '.join(item.symbol for item in matrix.left_out)}"
    fig.text(0.5, 0.2 / height, footer, ha="center", va="bottom", fontsize=10, color=th.muted)
    if matrix.as_of.stale and matrix.as_of.stale_kind != BUNDLED_END:
        fig.text(1 - 0.15 / width, 1 - 0.28 / height, "STALE DATA", ha="right", va="top", fontsize=11,
                 color="#ffffff", fontweight="bold", bbox={"facecolor": "#c62828", "edgecolor": "none", "pad": 3})

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, facecolor=th.figure_bg)
    return buffer.getvalue()


def _mappable(cmap: Colormap, norm: Normalize) -> ScalarMappable:
    mappable = ScalarMappable(norm=norm, cmap=cmap)
    mappable.set_array([])
    return mappable
