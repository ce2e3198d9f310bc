"""Numbers and sentences for people (docs/methods.md §3.10: correlations and betas with 2 decimals, z with 1)."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from bot.analysis.results import BUNDLED_END, AsOf, Candidate, CorrResult, PairData, RegimeNow
from bot.analytics.thresholds import DEFAULT_THRESHOLDS, Boundary, Regime, change_boundary, change_direction, classify
from bot.assets import Asset

if TYPE_CHECKING:
    import pandas as pd

SOURCE_WORDS = {"snapshot": "bundled snapshot", "cache": "cached prices", "live": "live prices"}
ALIGNMENT_WORDS = {
    "sync-close": "crypto sampled at the US close (sync-close)",
    "daily-close": "UTC daily closes (daily-close)",
    "mixed": "partly sync-close, partly daily-close (mixed)",
}
REGIME_PHRASES: dict[str, str] = {
    Regime.COUPLED: "are moving together",
    Regime.NEUTRAL: "are loosely linked",
    Regime.DECOUPLED: "are moving apart",
    Regime.INVERSE: "are moving in opposite directions",
}
RECORD_MIN_DAYS = 60  # "lowest since <date>" only when that date is at least this far back


def num(value: float | None, decimals: int = 2, signed: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    text = f"{value:+.{decimals}f}" if signed else f"{value:.{decimals}f}"
    return text.replace("-", "−")


def day(ts: pd.Timestamp | None) -> str:
    return "n/a" if ts is None else f"{ts:%Y-%m-%d}"


def pair_words(asset: Asset, benchmark: Asset) -> str:
    return f"{asset.label} and {benchmark.label}"


def capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def stale_line(reason: str | None) -> str:
    return f"⚠️ Stale data: {reason}. Numbers below are as of the last data, not today."


def as_of_line(as_of: AsOf) -> str:
    """The first line of an answer that is not as of today, or not as of the date asked (docs/methods.md §1.7).
    Snapshot mode has no 'today': a date after the bundled data just gets the data's last day."""
    if as_of.stale_kind == BUNDLED_END and as_of.requested is not None:
        return (f"The bundled data ends on {day(as_of.when)}: numbers below are as of that day, "
                f"not {day(as_of.requested)}.")
    return stale_line(as_of.reason)


def _as_of_of(result: CorrResult) -> AsOf:
    return AsOf(result.as_of, result.stale, result.stale_reason, result.stale_kind, result.requested)


def years_of_data(result: CorrResult) -> str:
    """'1.9 years of data', never rounded up to the window's own length."""
    years = result.years_of_data
    shown = round(years, 1)
    if shown >= result.window.days / 365:
        shown = math.floor(years * 10) / 10
    return f"{shown:.1f} years of data"


def window_words(result: CorrResult) -> str:
    """'10-year window, 1.9 years of data, 468 returns' for a window longer than the pair's history."""
    return f"{result.window.long_label} window, {years_of_data(result)}, {result.n_obs} returns"


def record_phrase(result: CorrResult) -> str:
    rec = result.record
    if rec is None:
        return ""
    if rec.is_record_low:
        return f"the lowest on record (history since {day(rec.history_start)})"
    if rec.is_record_high:
        return f"the highest on record (history since {day(rec.history_start)})"
    far = result.as_of - timedelta(days=RECORD_MIN_DAYS)
    if rec.percentile < 50 and rec.lowest_since is not None and rec.lowest_since <= far:
        return f"the lowest since {day(rec.lowest_since)}"
    if rec.percentile >= 50 and rec.highest_since is not None and rec.highest_since <= far:
        return f"the highest since {day(rec.highest_since)}"
    return f"higher than {rec.percentile:.0f}% of readings since {rec.history_start:%Y}"


def regime_word(result: CorrResult) -> str:
    return result.regime or classify(result.correlation, None, DEFAULT_THRESHOLDS).value


def footer(result: CorrResult) -> str:
    short = f", {years_of_data(result)}" if result.window_truncated else ""
    return (
        f"Window {result.window.label}{short}: {day(result.window_start)} → {day(result.as_of)}, "
        f"{result.n_obs} daily returns · as of {day(result.as_of)} · "
        f"{ALIGNMENT_WORDS[result.alignment]} · data: {source_words(result.sources, result.source)}"
    )


def source_words(sources: dict[str, str], overall: str) -> str:
    if len(set(sources.values())) <= 1:
        return SOURCE_WORDS.get(overall, overall)
    return ", ".join(f"{sym} {SOURCE_WORDS.get(src, src)}" for sym, src in sources.items())


def _headline(result: CorrResult) -> str:
    phrase = REGIME_PHRASES[regime_word(result)]
    record = record_phrase(result)
    record = f", {record}" if record else ""
    if result.window_truncated:  # never "10-year correlation" over two years of data
        value = f"correlation {num(result.correlation)} ({window_words(result)})"
    else:
        value = f"{result.window.long_label} correlation {num(result.correlation)}"
    return f"{capitalise(pair_words(result.asset, result.benchmark))} {phrase}: {value}{record}."


def _with_stale(result: CorrResult, lines: list[str]) -> str:
    if result.stale:
        lines.insert(0, as_of_line(_as_of_of(result)))
    return "\n".join(lines)


def _boundary_words(boundary: Boundary, adopted: Regime | None) -> str:
    """'below the 0.40 exit' (the adopted regime's own exit), 'at or above the 0.50 coupled entry'."""
    name = boundary.name
    if adopted is not None and name == f"{adopted.value} exit":
        name = "exit"
    return f"{boundary.relation} the {num(boundary.level)} {name}"


def change_building_words(regime: str | None, candidate: Candidate | None, rho: float = math.nan,
                          rank: float = math.nan) -> str:
    """When a regime change is building (docs/methods.md §4.6), in words; '' when none is.

    'weakening: below the 0.40 exit for 3 of the 5 sessions a change needs'; before the first regime
    'coupled (at or above the 0.50 coupled entry) for 2 of the 5 sessions a first regime needs'; and when the
    correlation is beyond a line but the rank correlation disagrees, so nothing counts, it says that.
    """
    adopted = Regime(regime) if regime else None
    if candidate is not None:
        cand = Regime(candidate.regime)
        boundary = change_boundary(adopted, cand, DEFAULT_THRESHOLDS)
        where = "" if boundary is None else _boundary_words(boundary, adopted)
        counted = f"for {candidate.count} of the {candidate.dwell} sessions"
        if adopted is None:
            shown = f"{cand.value} ({where})" if where else cand.value
            return f"{shown} {counted} a first regime needs"
        return f"{change_direction(adopted, cand)}: {where} {counted} a change needs"
    if adopted is None or math.isnan(rho) or math.isnan(rank):
        return ""
    cand = classify(rho, adopted, DEFAULT_THRESHOLDS)
    boundary = change_boundary(adopted, cand, DEFAULT_THRESHOLDS) if cand is not adopted else None
    if boundary is None:
        return ""
    # 3 decimals when 2 would show the rank correlation on the line itself (0.498 as "0.50" next to a 0.50 entry)
    shown = num(rank, 3) if num(rank) == num(boundary.level) else num(rank)
    return (f"the correlation is {_boundary_words(boundary, adopted)}, but the rank correlation ({shown}) is not, "
            "so no change is counting")


def regime_since_words(result: CorrResult) -> str:
    building = change_building_words(result.regime, result.candidate, result.correlation, result.spearman)
    building = f"; {building}" if building else ""
    if result.regime is None:
        return f"regime: not yet established{building}"
    return f"regime: {result.regime} since {day(result.regime_since)}{building}"


def corr_text(result: CorrResult) -> str:
    lo, hi = result.ci95
    lines = [
        _headline(result),
        f"95% range {num(lo)} to {num(hi)} · rank correlation {num(result.spearman)} · "
        f"beta {num(result.beta)} · divergence z {num(result.divergence_z, 1, signed=True)} · "
        f"{regime_since_words(result)}",
    ]
    if result.change_z is not None and abs(result.change_z) >= 2.0:
        direction = "weaker" if result.change_z < 0 else "stronger"
        lines.append(
            f"The last 60 sessions are {direction} than the 250 before (Fisher z {num(result.change_z, 1)})."
        )
    lines.append(footer(result))
    return _with_stale(result, lines)


def beta_text(result: CorrResult) -> str:
    a, b = result.asset.symbol, result.benchmark.symbol
    over = (f"({window_words(result)})" if result.window_truncated
            else f"over the {result.window.long_label} window")
    lines = [
        f"{a} beta to {result.benchmark.label}: {num(result.beta)} {over} "
        f"— a 1% move in {b} has come with a {num(result.beta)}% move in {a} on average.",
        f"Correlation {num(result.correlation)} (95% range {num(result.ci95[0])} to {num(result.ci95[1])}): "
        + ("beta is a reliable guide." if abs(result.correlation) >= 0.5 else
           "with correlation this low, beta explains little of the day-to-day moves."),
        footer(result),
    ]
    return _with_stale(result, lines)


def divergence_text(result: CorrResult, z_enter: float = DEFAULT_THRESHOLDS.z_enter,
                    horizon: int = DEFAULT_THRESHOLDS.horizon) -> str:
    a, bench = result.asset.symbol, result.benchmark.label
    z = result.divergence_z
    if z is None:
        head = (f"No divergence reading for {a} vs {result.benchmark.symbol} on {day(result.as_of)}: "
                f"it needs 60 returns in the 180 days before the last {horizon} sessions.")
    else:
        side = "below" if z < 0 else "above"
        verdict = (
            "That is a divergence: an alert fires at this level."
            if abs(z) >= z_enter
            else f"Within the normal range (alert at |z| ≥ {num(z_enter, 1)})."
        )
        head = (
            f"Divergence z {num(z, 1, signed=True)}: over the last {horizon} sessions {a} is "
            f"{num(abs(z), 1)} standard deviations {side} what its beta to {bench} implies. {verdict}"
        )
    return _with_stale(result, [head, footer(result)])


def regime_text(data: PairData, as_of: AsOf, rows: list[RegimeNow]) -> str:
    lines = [f"Correlation regimes of {data.asset.symbol} vs {data.benchmark.symbol} as of {day(as_of.when)}:"]
    for row in rows:
        if row.n_obs < 15 or math.isnan(row.correlation):
            lines.append(f"• {row.window.label}: not enough data ({row.n_obs} returns)")
            continue
        state = f"{row.regime} since {day(row.since)}" if row.regime else "not yet established"
        building = change_building_words(row.regime, row.candidate, row.correlation, row.spearman)
        building = f"; {building}" if building else ""
        lines.append(f"• {row.window.label}: {state} (ρ {num(row.correlation)}, n={row.n_obs}){building}")
    th = DEFAULT_THRESHOLDS
    lines.append(
        f"Regimes: coupled ρ ≥ {num(th.coupled_enter)}, decoupled ρ ≤ {num(th.decoupled_enter)}, "
        f"inverse ρ ≤ {num(th.inverse_enter)}, neutral in between; a change needs {th.dwell} sessions "
        "in a row, confirmed by rank correlation."
    )
    lines.append(
        f"Data: {source_words(data.sources, data.source)}."
    )
    if as_of.stale:
        lines.insert(0, as_of_line(as_of))
    return "\n".join(lines)


def chart_caption(result: CorrResult) -> str:
    return _with_stale(result, [_headline(result), footer(result)])


def rounded(value: float | None, digits: int = 6) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return round(float(value), digits)


def candidate_fields(candidate: Candidate | None) -> dict[str, Any] | None:
    """A regime change building (docs/methods.md §4.6), for --json; None when none is."""
    if candidate is None:
        return None
    return {"regime": candidate.regime, "count": candidate.count, "dwell": candidate.dwell,
            "since": day(candidate.since)}


def corr_fields(result: CorrResult) -> dict[str, Any]:
    """The machine-readable fields of a correlation answer (CLI --json)."""
    rec = result.record
    return {
        "asset": result.asset.symbol,
        "benchmark": result.benchmark.symbol,
        "window": result.window.label,
        "as_of": day(result.as_of),
        "window_start": day(result.window_start),
        "n_obs": result.n_obs,
        "correlation": rounded(result.correlation),
        "ci95": [rounded(result.ci95[0]), rounded(result.ci95[1])],
        "spearman": rounded(result.spearman),
        "beta": rounded(result.beta),
        "divergence_z": rounded(result.divergence_z),
        "regime": result.regime,
        "regime_since": day(result.regime_since) if result.regime_since is not None else None,
        "regime_candidate": candidate_fields(result.candidate),
        "record": None if rec is None else {
            "percentile": rounded(rec.percentile, 2),
            "lowest_since": day(rec.lowest_since) if rec.lowest_since is not None else None,
            "highest_since": day(rec.highest_since) if rec.highest_since is not None else None,
            "record_low": rec.is_record_low,
            "record_high": rec.is_record_high,
            "history_start": day(rec.history_start),
        },
        "change_z": rounded(result.change_z),
        "alignment": result.alignment,
        "source": result.source,
        "sources": result.sources,
        "stale": result.stale,
        "stale_reason": result.stale_reason,
        "data_end": day(result.data_end),
        "data_start": day(result.data_start),
        "window_truncated": result.window_truncated,
    }


def report_text(results: list[CorrResult]) -> str:
    main = next((r for r in results if r.window.days == 90), results[0])
    lines = [
        f"Decoupler report · {main.asset.symbol} vs {main.benchmark.symbol} · as of {day(main.as_of)}",
        _headline(main),
    ]
    for r in results:
        lines.append(
            f"• {r.window.label}: correlation {num(r.correlation)} "
            f"(95% range {num(r.ci95[0])} to {num(r.ci95[1])}, n={r.n_obs}) · {regime_since_words(r)}"
        )
    z = main.divergence_z
    lines.append(
        f"Divergence z {num(z, 1, signed=True)} over the last 20 sessions"
        + ("" if z is None else (" — a divergence." if abs(z) >= DEFAULT_THRESHOLDS.z_enter else " — normal."))
    )
    lines.append(
        f"Data: {source_words(main.sources, main.source)}, {ALIGNMENT_WORDS[main.alignment]}."
    )
    return _with_stale(main, lines)
