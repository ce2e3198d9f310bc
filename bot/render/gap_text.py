"""Words and fields of /gap and of the gap alert (docs/methods.md §8; numbers as §3.10 shows them: beta and
correlations with 2 decimals; percentages in the first sentence whole, in the detail line with 1 decimal; the
minus sign U+2212)."""

from __future__ import annotations

import math
from typing import Any

from bot.alerts.rules import AlertEvent, RuleParams
from bot.analysis.gap_results import GIVEN, CoupledEnd, CoupledNow, GapResult, PairContext
from bot.analytics import gap as gm
from bot.assets import Asset, AssetKind
from bot.render.text import ALIGNMENT_WORDS, as_of_line, capitalise, day, num, rounded, source_words
from bot.windows import Window

RELIABLE_CORRELATION = 0.5  # as /beta: below it, the beta explains little of the day-to-day moves
MAX_SHOWN_MOVE = 1.0  # a move beyond +100% is said as "more than double", never as a number


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


def move(fraction: float | None, decimals: int = 0) -> str:
    """A move that would close a gap: +45%, −21%, and never a number beyond +100% ('more than double'): a move
    that large is a sign the line is far away, not a target anyone can read (docs/methods.md §8.4)."""
    if fraction is not None and math.isfinite(fraction) and fraction > MAX_SHOWN_MOVE:
        return "more than double"
    return pct(fraction, decimals)


def two_decimals(value: float | None) -> str:
    """A beta or a correlation with 2 decimals, 3 when 2 would show a zero ('−0.002', never '−0.00')."""
    if value is not None and math.isfinite(value) and round(value, 2) == 0 and value != 0:
        return num(value, 3)
    return num(value)


def gap_z_words(z: float) -> str:
    """How unusual a gap of z standard deviations is under the fit's model (docs/methods.md §8.4)."""
    if not math.isfinite(z):
        return "n/a σ: no spread to measure it against"
    size = abs(z)
    if size < 1:
        reading = "within the pair's normal wander"
    elif size < 2:
        reading = "a wide wander, not a rare one (about 1 gap in 3 is at least 1 σ)"
    elif size < 3:
        reading = "unusual: about 1 gap in 20 is at least 2 σ"
    else:
        reading = "rare: beyond 3 σ, about 1 gap in 400"
    return f"{num(z, 2, signed=True)} σ: {reading}"


WITHHELD_WORDS = {
    gm.BETA_NOT_POSITIVE: "the beta ({beta}) is not positive, so a benchmark move would not read as a catch-up",
    gm.BETA_NOT_SIGNIFICANT: "the beta ({beta} ± {se}) is not significantly different from 0 at 95%",
    gm.WEAK_CORRELATION: "the fit's correlation ({rho}) is below 0.3 in absolute value: it explains too little",
}


def withheld_words(result: GapResult) -> str | None:
    """Why the benchmark move is not offered, in words; None when it is."""
    reason = result.benchmark_move_withheld_reason
    if reason is None:
        return None
    fit = result.fit
    return WITHHELD_WORDS[reason].format(beta=two_decimals(fit.beta), se=num(fit.beta_se),
                                         rho=two_decimals(fit.correlation))


def closing_line(result: GapResult) -> str:
    """The moves that close the gap, called what they are: the arithmetic of realignment, not a forecast."""
    asset = result.pair.asset.symbol
    bench = benchmark_name(result.pair.benchmark)
    start = f"Realignment arithmetic, not a forecast: the gap closes with {asset} at {move(result.asset_move)}"
    withheld = withheld_words(result)
    if withheld is not None:
        return f"{start}; no move of {bench} alone is offered: {withheld}."
    bench_move = result.benchmark_move
    if bench_move is None:  # beyond a float
        return f"{start}; no move of {bench} alone closes it."
    return f"{start}, or with {bench} alone at {move(bench_move)}."


def headline(result: GapResult) -> str:
    """'−0.85 σ: within the pair's normal wander. ETH is 31% below where its beta of 1.62 ± 0.17 to small caps
    (fitted on the year to 2025-07-25) puts it.' How unusual first, then the size; no move yet."""
    pair = result.pair
    asset = pair.asset.symbol
    label = pair.benchmark.label
    year = f"fitted on the year to {day(result.anchor)}"
    beta = f"{two_decimals(result.beta)} ± {num(result.fit.beta_se)}"
    # 'to small caps (fitted on …)', but 'to the S&P 500 (SPY), fitted on …,' where the label has its own brackets
    fitted = f"its beta of {beta} to {label}" + (f", {year}," if label.endswith(")") else f" ({year})")
    unusual = capitalise(gap_z_words(result.gap_z))
    share = abs(result.gap_pct)
    if round(100.0 * share) == 0:
        return f"{unusual}. {asset} is on the line where {fitted} puts it (within 0.5%): there is no gap to close."
    side = "below" if result.gap < 0 else "above"
    return f"{unusual}. {asset} is {100.0 * share:.0f}% {side} where {fitted} puts it."


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


def alpha_line(result: GapResult) -> str:
    """The intercept the beta line leaves out (docs/methods.md §8.2), said with `/gap … alpha`."""
    fit = result.fit
    return (f"Intercept left out: the fit's α is {pct(fit.alpha, 2)} a return; over the gap's {result.n_obs} returns "
            f"that is {num(result.alpha_drift, 3, signed=True)} in log terms, which the beta line does not include "
            f"(with it the gap would be {num(result.gap - result.alpha_drift, 3, signed=True)}).")


def gap_text(result: GapResult, with_alpha: bool = False) -> str:
    pair = result.pair
    asset, bench = pair.asset.symbol, benchmark_name(pair.benchmark)
    fit = result.fit
    guide = ("" if abs(fit.correlation) >= RELIABLE_CORRELATION else
             "; with correlation this low the beta line is a loose guide")
    on_line = round(100.0 * abs(result.gap_pct)) == 0  # the headline says there is no gap to close
    lines = [
        headline(result),
        *([] if on_line else [closing_line(result)]),
        f"Since {day(result.anchor)}: {asset} {pct(result.change('asset'), 1)}, {bench} "
        f"{pct(result.change('benchmark'), 1)}; the beta implies {asset} {pct(result.change('implied'), 1)}. "
        f"Gap {num(result.gap, 3, signed=True)} in log terms ({asset} at {100.0 * (1 + result.gap_pct):.1f}% of "
        f"its beta-implied price); its SD under the fit after {result.n_obs} returns is {num(result.gap_se, 3)} "
        f"(σ_ε {pct(fit.resid_sd, 2).lstrip('+')} a return × √{result.n_obs}).",
        anchor_line(result),
        f"Beta {two_decimals(result.beta)} ± {num(fit.beta_se)} (standard error): OLS slope of {asset}'s daily log "
        f"returns on {pair.benchmark.symbol}'s over the 365 days to {day(result.anchor)} ({fit.n_obs} returns, "
        f"correlation {two_decimals(fit.correlation)}){guide}. {capitalise(regime_now_words(pair))}.",
    ]
    if with_alpha:
        lines.append(alpha_line(result))
    lines.append(footer(result))
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
        "beta_se": rounded(fit.beta_se),
        "resid_sd": rounded(fit.resid_sd),
        "alpha": rounded(fit.alpha),
        "alpha_drift": rounded(result.alpha_drift),
        "gap_log": rounded(result.gap),
        "gap_pct": rounded(result.gap_pct),
        "gap_se": rounded(result.gap_se),
        "gap_z": rounded(result.gap_z),
        "asset_move_to_close": rounded(result.asset_move),
        "benchmark_move_to_close": rounded(result.benchmark_move),
        "benchmark_move_withheld_reason": withheld_words(result),
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
        **dict.fromkeys(("beta", "beta_n_obs", "beta_start", "beta_end", "beta_correlation", "beta_se", "resid_sd",
                         "alpha", "alpha_drift", "gap_log", "gap_pct", "gap_se", "gap_z", "asset_move_to_close",
                         "benchmark_move_to_close", "benchmark_move_withheld_reason", "asset_change",
                         "benchmark_change", "implied_change", "n_obs", "alignment")),
    }


# ---- the gap alert (bot/alerts/gap_rule.py, docs/methods.md §8.6) ----------------------------------------------


def _gap_level(event: AlertEvent) -> float | None:
    level = event.detail.get("level")
    return None if level is None else float(level)


def gap_alert_headline(event: AlertEvent, params: RuleParams, a: str, b: str) -> str:
    detail = event.detail
    if detail.get("event") == "closed":
        return (f"{capitalise(a)} is back on its beta line to {b}: the gap that took a {move(detail.get('peak'))} "
                f"move of {params.asset} to close is within 5% ({pct(event.value, 1)} left).")
    share = abs(float(detail.get("gap_pct") or 0.0))
    side = "below" if event.value > 0 else "above"
    beta = two_decimals(detail.get("beta"))
    return (f"{capitalise(a)} is {100.0 * share:.0f}% {side} where its beta of {beta} to {b} "
            f"puts it: closing the gap now takes {params.asset} {move(event.value)} (past {pct(_gap_level(event))}).")


def gap_alert_detail(event: AlertEvent, params: RuleParams) -> str:
    detail = event.detail
    anchor = detail.get("anchor", "n/a")
    bench = detail.get("benchmark_move")
    alone = f" {params.benchmark} alone would close it at {move(bench)}." if bench is not None else ""
    return (f"Beta fitted on the year to {anchor}, the session before the {Window(params.window_days).long_label} "
            f"coupled regime began to end.{alone} More: /gap {params.asset} {params.benchmark} since {anchor}")


def gap_alert_summary(event: AlertEvent) -> str:
    if event.detail.get("event") == "closed":
        return f"gap closed (was {move(event.detail.get('peak'))} to close)"
    return f"gap {move(event.value)} to close (past {pct(_gap_level(event))})"


def gap_alert_fields(event: AlertEvent) -> dict[str, Any]:
    detail = event.detail
    return {"event": detail.get("event"), "level": detail.get("level"), "anchor": detail.get("anchor"),
            "beta": rounded(detail.get("beta")), "gap_log": rounded(detail.get("gap_log")),
            "benchmark_move_to_close": rounded(detail.get("benchmark_move")),
            "benchmark_move_withheld_reason": detail.get("benchmark_move_withheld_reason")}
