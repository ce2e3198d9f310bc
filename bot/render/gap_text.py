"""Words and fields of /gap and of the gap alert (docs/methods.md §8; numbers as §3.10 shows them: beta and
correlations with 2 decimals; percentages in the first sentence whole, in the detail line with 1 decimal; the
minus sign U+2212)."""

from __future__ import annotations

import math
from typing import Any

from bot.alerts.rules import AlertEvent, RuleParams
from bot.analysis.gap import GIVEN, CoupledEnd, CoupledNow, GapResult, PairContext
from bot.assets import Asset, AssetKind
from bot.render.text import ALIGNMENT_WORDS, as_of_line, capitalise, day, num, rounded, source_words
from bot.windows import Window

RELIABLE_CORRELATION = 0.5  # as /beta: below it, the beta explains little of the day-to-day moves


def benchmark_name(asset: Asset) -> str:
    """How the closing phrase names a benchmark: 'the Russell 2000' for an index, else its short label."""
    if asset.kind is AssetKind.INDEX and asset.name.endswith(" index"):
        return f"the {asset.name.removesuffix(' index')}"
    return asset.label


def pct(fraction: float | None, decimals: int = 0) -> str:
    """+45%, −21%; 'n/a' for a missing value."""
    if fraction is None or math.isnan(fraction):
        return "n/a"
    return f"{num(100.0 * fraction, decimals, signed=True)}%"


def _closing_words(result: GapResult) -> str:
    asset = result.pair.asset.symbol
    bench = benchmark_name(result.pair.benchmark)
    move = result.benchmark_move
    if move is None:
        return f"closing the gap takes {asset} {pct(result.asset_move)} (no move of {bench} alone closes it: " \
               f"the beta is too close to 0)"
    return f"closing the gap takes {asset} {pct(result.asset_move)} or {bench} {pct(move)}"


def headline(result: GapResult) -> str:
    """'ETH is 31% below where its beta of 1.62 to small caps (fitted on the year to 2025-07-25) puts it:
    closing the gap takes ETH +45% or the Russell 2000 −21%.'"""
    pair = result.pair
    asset = pair.asset.symbol
    label = pair.benchmark.label
    year = f"fitted on the year to {day(result.anchor)}"
    # 'to small caps (fitted on …)', but 'to the S&P 500 (SPY), fitted on …,' where the label has its own brackets
    fitted = f"its beta of {num(result.beta)} to {label}" + (f", {year}," if label.endswith(")") else f" ({year})")
    share = abs(result.gap_pct)
    if round(100.0 * share) == 0:
        return f"{asset} is on the line where {fitted} puts it (within 0.5%): there is no gap to close."
    side = "below" if result.gap < 0 else "above"
    return f"{asset} is {100.0 * share:.0f}% {side} where {fitted} puts it: {_closing_words(result)}."


def _coupled_end_words(end: CoupledEnd, window_words: str) -> str:
    """'the 90-day coupled regime that began on 2024-10-16 started to end on 2025-07-21 (neutral from …)'"""
    began = f" that began on {day(end.began)}" if end.began is not None else ""
    return (f"the {window_words} coupled regime{began} started to end on {day(end.since)} "
            f"({end.to_regime} from {day(end.changed)})")


def anchor_line(result: GapResult) -> str:
    pair = result.pair
    if result.anchor_kind == GIVEN:
        asked = result.requested_since
        on_or_before = "" if asked is None or asked == result.anchor else \
            f" (the last session on or before {day(asked)})"
        return f"Anchor {day(result.anchor)}: the date given{on_or_before}."
    end = result.coupled_end
    assert end is not None
    return (f"Anchor {day(result.anchor)}, the session before the decoupling: "
            f"{_coupled_end_words(end, pair.window.long_label)}.")


def regime_now_words(pair: PairContext) -> str:
    if pair.regime is None:
        return f"regime at the {pair.window.long_label} window not yet established"
    return (f"{pair.window.long_label} regime now: {pair.regime} since {day(pair.regime_since)} "
            f"(correlation {num(pair.correlation)})")


def footer(result: GapResult) -> str:
    pair = result.pair
    return (
        f"Gap {day(result.anchor)} → {day(pair.when)}, {result.n_obs} daily returns · beta on "
        f"{day(result.fit.start)} → {day(result.fit.end)}, {result.fit.n_obs} daily returns · as of {day(pair.when)}"
        f" · {ALIGNMENT_WORDS[result.alignment]} · data: {source_words(pair.sources, pair.source)}"
    )


def gap_text(result: GapResult) -> str:
    pair = result.pair
    asset, bench = pair.asset.symbol, benchmark_name(pair.benchmark)
    fit = result.fit
    guide = ("" if abs(fit.correlation) >= RELIABLE_CORRELATION else
             "; with correlation this low the beta line is a loose guide")
    lines = [
        headline(result),
        f"Since {day(result.anchor)}: {asset} {pct(result.change('asset'), 1)}, {bench} "
        f"{pct(result.change('benchmark'), 1)}; the beta implies {asset} {pct(result.change('implied'), 1)}. "
        f"Gap {num(result.gap, 3, signed=True)} in log terms ({asset} at {100.0 * (1 + result.gap_pct):.1f}% of "
        "its beta-implied price).",
        anchor_line(result),
        f"Beta {num(result.beta)}: OLS slope of {asset}'s daily log returns on {pair.benchmark.symbol}'s over the "
        f"365 days to {day(result.anchor)} ({fit.n_obs} returns, correlation {num(fit.correlation)}){guide}. "
        f"{capitalise(regime_now_words(pair))}.",
        footer(result),
    ]
    if pair.as_of.stale:
        lines.insert(0, as_of_line(pair.as_of))
    return "\n".join(lines)


def suggestion(now: CoupledNow) -> str | None:
    """The command that measures anyway, from where the last coupled regime ended."""
    if now.suggested_anchor is None:
        return None
    pair = now.pair
    return f"/gap {pair.asset.symbol} {pair.benchmark.symbol} since {day(now.suggested_anchor)}"


def coupled_text(now: CoupledNow) -> str:
    pair = now.pair
    lines = [
        f"{pair.asset.symbol} and {pair.benchmark.label} are coupled since {day(pair.regime_since)} "
        f"({pair.window.long_label} correlation {num(pair.correlation)}): no gap to close.",
    ]
    command = suggestion(now)
    end = pair.last_coupled_end
    if command is not None and end is not None:
        lines.append(f"The last decoupling: {_coupled_end_words(end, pair.window.long_label)}. To measure from the "
                     f"session before it anyway, ask {command}.")
    else:
        lines.append(f"To measure from a date anyway, ask /gap {pair.asset.symbol} {pair.benchmark.symbol} "
                     "since YYYY-MM-DD.")
    lines.append(f"Window {pair.window.label}: {pair.n_obs_window} daily returns · as of {day(pair.when)} · "
                 f"data: {source_words(pair.sources, pair.source)}")
    if pair.as_of.stale:
        lines.insert(0, as_of_line(pair.as_of))
    return "\n".join(lines)


def _pair_fields(pair: PairContext) -> dict[str, Any]:
    return {
        "asset": pair.asset.symbol,
        "benchmark": pair.benchmark.symbol,
        "as_of": day(pair.when),
        "window": pair.window.label,
        "regime": pair.regime,
        "regime_since": day(pair.regime_since) if pair.regime_since is not None else None,
        "correlation": rounded(pair.correlation),
        "source": pair.source,
        "sources": pair.sources,
        "stale": pair.as_of.stale,
        "stale_reason": pair.as_of.reason,
        "data_end": day(pair.data_end),
    }


def _end_fields(end: CoupledEnd | None) -> dict[str, Any] | None:
    if end is None:
        return None
    return {"began": day(end.began) if end.began is not None else None, "since": day(end.since),
            "changed": day(end.changed), "to": end.to_regime}


def gap_fields(result: GapResult) -> dict[str, Any]:
    """The machine-readable fields of a /gap answer (CLI --json); fractions, not percentages."""
    fit = result.fit
    return {
        **_pair_fields(result.pair),
        "coupled": result.pair.coupled,
        "since": day(result.anchor),
        "since_requested": day(result.requested_since) if result.requested_since is not None else None,
        "anchor": result.anchor_kind,
        "coupled_end": _end_fields(result.coupled_end),
        "beta": rounded(fit.beta),
        "beta_n_obs": fit.n_obs,
        "beta_start": day(fit.start),
        "beta_end": day(fit.end),
        "beta_correlation": rounded(fit.correlation),
        "gap_log": rounded(result.gap),
        "gap_pct": rounded(result.gap_pct),
        "asset_move_to_close": rounded(result.asset_move),
        "benchmark_move_to_close": rounded(result.benchmark_move),
        "asset_change": rounded(result.change("asset")),
        "benchmark_change": rounded(result.change("benchmark")),
        "implied_change": rounded(result.change("implied")),
        "n_obs": result.n_obs,
        "alignment": result.alignment,
    }


def coupled_fields(now: CoupledNow) -> dict[str, Any]:
    """A coupled pair without a date: the same keys, the measurement empty."""
    return {
        **_pair_fields(now.pair),
        "coupled": True,
        "since": None,
        "since_requested": None,
        "anchor": None,
        "coupled_end": _end_fields(now.pair.last_coupled_end),
        "suggested_since": day(now.suggested_anchor) if now.suggested_anchor is not None else None,
        **dict.fromkeys(("beta", "beta_n_obs", "beta_start", "beta_end", "beta_correlation", "gap_log", "gap_pct",
                         "asset_move_to_close", "benchmark_move_to_close", "asset_change", "benchmark_change",
                         "implied_change", "n_obs", "alignment")),
    }


# ---- the gap alert (bot/alerts/gap_rule.py, docs/methods.md §8.6) ----------------------------------------------


def _gap_level(event: AlertEvent) -> float | None:
    level = event.detail.get("level")
    return None if level is None else float(level)


def gap_alert_headline(event: AlertEvent, params: RuleParams, a: str, b: str) -> str:
    detail = event.detail
    if detail.get("event") == "closed":
        return (f"{capitalise(a)} is back on its beta line to {b}: the gap that took a {pct(detail.get('peak'))} "
                f"move of {params.asset} to close is within 5% ({pct(event.value, 1)} left).")
    share = abs(float(detail.get("gap_pct") or 0.0))
    side = "below" if event.value > 0 else "above"
    return (f"{capitalise(a)} is {100.0 * share:.0f}% {side} where its beta of {num(detail.get('beta'))} to {b} "
            f"puts it: closing the gap now takes {params.asset} {pct(event.value)} (past {pct(_gap_level(event))}).")


def gap_alert_detail(event: AlertEvent, params: RuleParams) -> str:
    detail = event.detail
    anchor = detail.get("anchor", "n/a")
    bench = detail.get("benchmark_move")
    alone = f" {params.benchmark} alone would close it at {pct(bench)}." if bench is not None else ""
    return (f"Beta fitted on the year to {anchor}, the session before the {Window(params.window_days).long_label} "
            f"coupled regime began to end.{alone} More: /gap {params.asset} {params.benchmark} since {anchor}")


def gap_alert_summary(event: AlertEvent) -> str:
    if event.detail.get("event") == "closed":
        return f"gap closed (was {pct(event.detail.get('peak'))} to close)"
    return f"gap {pct(event.value)} to close (past {pct(_gap_level(event))})"


def gap_alert_fields(event: AlertEvent) -> dict[str, Any]:
    detail = event.detail
    return {"event": detail.get("event"), "level": detail.get("level"), "anchor": detail.get("anchor"),
            "beta": rounded(detail.get("beta")), "gap_log": rounded(detail.get("gap_log")),
            "benchmark_move_to_close": rounded(detail.get("benchmark_move"))}
