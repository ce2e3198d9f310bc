"""Words and fields of /scan and /matrix (docs/methods.md §9; numbers as §3.10 shows them)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from bot.analysis.results import AsOf
from bot.analysis.scan_results import SCAN_TOP, LeftOut, MatrixData, ScanResult, ScanRow, SkippedPair
from bot.analytics.scan import LOOKBACK
from bot.render.text import (
    ALIGNMENT_WORDS,
    as_of_line,
    candidate_fields,
    day,
    num,
    rounded,
    source_words,
    years_of_data,
)

MAX_REASONS = 3  # pairs without an answer named with their reason; the rest are counted


def score_line(lookback: int = LOOKBACK) -> str:
    """The one line that explains the ranking."""
    longer = (f" ({LOOKBACK} per year of window: a long window's correlation barely moves in {LOOKBACK})"
              if lookback > LOOKBACK else "")
    return (
        f"Score: how far the correlation fell over the last {lookback} sessions{longer}, in standard errors of "
        "that fall (Fisher z, corrected for the returns both windows share: about N(0,1) under no change, on one "
        "scale for every window); a ranking aid, not a test; ties: larger |divergence z| first."
    )


def window_heading(result: ScanResult) -> str:
    """'90-day correlation', or, when windows reach back before the pairs' data (§3.10), never '10-year
    correlation' over 8.4 years: '10-year window, 8.4 years of data' (the range when pairs differ)."""
    truncated = result.truncated
    if not truncated:
        return f"{result.window.long_label} correlation"
    spans = sorted({years_of_data(row.result) for row in truncated})
    years = spans[0] if len(spans) == 1 else f"{spans[0].split()[0]}–{spans[-1]}"
    if len(truncated) == len(result.rows):
        return f"{result.window.long_label} window, {years}"
    return (f"{result.window.long_label} window ({len(truncated)} of {len(result.rows)} pairs with less data: "
            f"{years})")


def _regime_words(row: ScanRow) -> str:
    result = row.result
    if result.regime is None:
        return "regime not yet established"
    words = f"{result.regime} since {day(result.regime_since)}"
    candidate = result.candidate
    if candidate is not None:
        words += f", turning {candidate.regime} ({candidate.count}/{candidate.dwell})"
    return words


def scan_row_text(rank: int, row: ScanRow, as_of: Any, lookback: int) -> str:
    score = f"score {num(row.score, 1, signed=True)}" if row.score is not None else "score n/a"
    before = (f"{lookback} sessions ago {num(row.correlation_before)}" if row.correlation_before is not None
              else f"none {lookback} sessions ago")
    when = f" · as of {day(row.as_of)}" if row.as_of != as_of else ""
    return (
        f"{rank}. {row.pair} · {score} · ρ {num(row.correlation)}, {before} · {_regime_words(row)} · "
        f"divergence z {num(row.divergence_z, 1, signed=True)} · n={row.n_obs}{when}"
    )


def left_out_words(left_out: tuple[LeftOut, ...]) -> str:
    """'Left out, no data: SPX, NDX (no bundled history: live data only).' — the reason when they share it."""
    if not left_out:
        return ""
    symbols = ", ".join(item.symbol for item in left_out)
    reasons = {item.reason for item in left_out}
    why = f" ({reasons.pop()})" if len(reasons) == 1 and len(left_out) > 1 else ""
    if len(left_out) == 1:
        why = f" ({left_out[0].reason})"
    return f"Left out, no data: {symbols}{why}."


def skipped_words(skipped: tuple[SkippedPair, ...]) -> str:
    if not skipped:
        return ""
    named = "; ".join(f"{item.pair}: {item.reason}" for item in skipped[:MAX_REASONS])
    more = f"; and {len(skipped) - MAX_REASONS} more" if len(skipped) > MAX_REASONS else ""
    return f"Not ranked: {named}{more}."


def _scan_as_of(result: ScanResult) -> AsOf | None:
    stale = next((row.result for row in result.rows if row.result.stale), None)
    if stale is None:
        return None
    return AsOf(stale.as_of, True, stale.stale_reason, stale.stale_kind, stale.requested)


def _alignment(rows: tuple[ScanRow, ...]) -> str:
    labels = {row.result.alignment for row in rows}
    if len(labels) == 1:
        return ALIGNMENT_WORDS[labels.pop()]
    return "alignment per pair in --json"


def _sources(rows: tuple[ScanRow, ...]) -> str:
    sources: dict[str, str] = {}
    for row in rows:
        sources.update(row.result.sources)
    overall = {row.result.source for row in rows}
    return source_words(sources, overall.pop() if len(overall) == 1 else "mixed")


def scan_text(result: ScanResult, top: int = SCAN_TOP) -> str:
    as_of = result.as_of
    shown = result.rows[:top]
    count = (f"top {len(shown)} of {len(result.rows)} pairs" if len(shown) < len(result.rows)
             else f"all {len(result.rows)} pairs")
    lines = [
        f"Biggest decouplings, {window_heading(result)}, as of {day(as_of)} ({count}):",
        score_line(result.lookback),
    ]
    lines += [scan_row_text(i, row, as_of, result.lookback) for i, row in enumerate(shown, start=1)]
    for extra in (left_out_words(result.left_out), skipped_words(result.skipped)):
        if extra:
            lines.append(extra)
    lines.append(
        f"Universe: every crypto asset against every equity/index benchmark with data ({result.universe_size} "
        f"pairs) · window {result.window.label}, n = returns in it · {_alignment(result.rows)} · "
        f"data: {_sources(result.rows)}"
    )
    stale = _scan_as_of(result)
    if stale is not None:
        lines.insert(0, as_of_line(stale))
    return "\n".join(lines)


def scan_row_fields(row: ScanRow) -> dict[str, Any]:
    result = row.result
    return {
        "pair": row.pair,
        "asset": result.asset.symbol,
        "benchmark": result.benchmark.symbol,
        "as_of": day(row.as_of),
        "score": rounded(row.score),
        "correlation": rounded(row.correlation),
        "correlation_before": rounded(row.correlation_before),
        "before": day(row.before) if row.before is not None else None,
        "n_obs": row.n_obs,
        "n_obs_before": row.n_obs_before,
        "shared": row.shared,
        "window_truncated": result.window_truncated,
        "data_start": day(result.data_start) if result.data_start is not None else None,
        "regime": result.regime,
        "regime_since": day(result.regime_since) if result.regime_since is not None else None,
        "regime_candidate": candidate_fields(result.candidate),
        "divergence_z": rounded(row.divergence_z),
        "alignment": result.alignment,
        "source": result.source,
        "stale": result.stale,
    }


def scan_fields(result: ScanResult, top: int = SCAN_TOP) -> dict[str, Any]:
    """Every row (not only the top N a chat sees), sorted by score descending."""
    return {
        "window": result.window.label,
        "as_of": day(result.as_of) if result.as_of is not None else None,
        "lookback": result.lookback,
        "score": "(atanh(correlation_before) - atanh(correlation)) / sqrt(1/(n_obs-3) + 1/(n_obs_before-3) "
                 "- 2*shared/sqrt(n_obs*n_obs_before*(n_obs-3)*(n_obs_before-3)))",
        "universe_size": result.universe_size,
        "top": min(top, len(result.rows)),
        "rows": [scan_row_fields(row) for row in result.rows],
        "left_out": [item.symbol for item in result.left_out],
        "left_out_reasons": {item.symbol: item.reason for item in result.left_out},
        "skipped": [{"pair": item.pair, "reason": item.reason} for item in result.skipped],
        "stale": any(row.result.stale for row in result.rows),
    }


# ---- /matrix ----------------------------------------------------------------------------------------
CROSS_ALIGNMENT = {
    "sync-close": "crypto at the US close (sync-close)",
    "daily-close": "crypto at its UTC daily close (daily-close)",
    "mixed": "crypto partly at the US close, partly at its UTC daily close (mixed)",
}


def cross_alignment(matrix: MatrixData) -> str:
    """How the crypto–equity cells sample crypto (§1.3–1.4): 'crypto at the US close (sync-close)'; '' if none."""
    labels = {
        matrix.alignment[f"{a.symbol}:{b.symbol}"]
        for i, a in enumerate(matrix.assets) for b in matrix.assets[i + 1:]
        if a.is_crypto != b.is_crypto and f"{a.symbol}:{b.symbol}" in matrix.alignment
    }
    if not labels:
        return ""
    return CROSS_ALIGNMENT[labels.pop() if len(labels) == 1 else "mixed"]


def matrix_alignment_words(matrix: MatrixData, compact: bool = False) -> str:
    """How each kind of pair in the matrix is aligned (§1.2), naming only the kinds it has."""
    crypto = sum(1 for a in matrix.assets if a.is_crypto)
    others = len(matrix.assets) - crypto
    parts = []
    cross = cross_alignment(matrix)
    if cross:
        parts.append(f"crypto vs equity: {cross}" if compact else f"crypto–equity pairs with {cross}")
    if crypto >= 2:
        parts.append("crypto pairs: UTC days" if compact else "crypto–crypto over UTC days")
    if others >= 2:
        parts.append("equity pairs: common sessions" if compact else "equity–equity over common sessions")
    return (" · " if compact else ", ").join(parts)


def _cross_extremes(matrix: MatrixData) -> str:
    """The weakest and the strongest crypto–equity link, the part of the matrix the bot is about."""
    cells = [
        (float(matrix.correlation[i, j]), f"{a.symbol}:{b.symbol}")
        for i, a in enumerate(matrix.assets) for j, b in enumerate(matrix.assets)
        if a.is_crypto and not b.is_crypto and not math.isnan(matrix.correlation[i, j])
    ]
    if len(cells) < 2:
        return ""
    low, high = min(cells), max(cells)
    return f"Crypto vs equities: weakest {low[1]} {num(low[0])}, strongest {high[1]} {num(high[0])}."


def n_range(matrix: MatrixData) -> str:
    k = len(matrix.assets)
    counts = [int(matrix.n_obs[i, j]) for i in range(k) for j in range(i + 1, k) if matrix.n_obs[i, j] > 0]
    if not counts:
        return "n/a"
    low, high = min(counts), max(counts)
    return f"{low}" if low == high else f"{low}–{high}"


def matrix_caption(matrix: MatrixData) -> str:
    lines = [
        f"Return correlations, {matrix.window.long_label} window, as of {day(matrix.as_of.when)}: "
        f"{', '.join(matrix.symbols)}.",
        f"Each cell is the pair's /corr correlation: {matrix_alignment_words(matrix)}; "
        f"n = {n_range(matrix)} daily returns.",
    ]
    for extra in (_cross_extremes(matrix), left_out_words(matrix.left_out), skipped_words(matrix.missing)):
        if extra:
            lines.append(extra)
    overall = set(matrix.sources.values())
    lines.append(f"Data: {source_words(matrix.sources, overall.pop() if len(overall) == 1 else 'mixed')}.")
    if matrix.as_of.stale:
        lines.insert(0, as_of_line(matrix.as_of))
    return "\n".join(lines)


def matrix_fields(matrix: MatrixData) -> dict[str, Any]:
    k = len(matrix.assets)
    values: np.ndarray = matrix.correlation
    return {
        "window": matrix.window.label,
        "as_of": day(matrix.as_of.when),
        "assets": matrix.symbols,
        "matrix": [[rounded(float(values[i, j])) for j in range(k)] for i in range(k)],
        "pairs": [
            {"pair": f"{matrix.assets[i].symbol}:{matrix.assets[j].symbol}",
             "correlation": rounded(float(values[i, j])), "n_obs": int(matrix.n_obs[i, j]),
             "alignment": matrix.alignment.get(f"{matrix.assets[i].symbol}:{matrix.assets[j].symbol}")}
            for i in range(k) for j in range(i + 1, k)
        ],
        "left_out": [item.symbol for item in matrix.left_out],
        "missing": [{"pair": item.pair, "reason": item.reason} for item in matrix.missing],
        "stale": matrix.as_of.stale,
    }
