"""Words and fields of /odds and the base-rate line of the gap alert (docs/methods.md §10). Small samples are
said to be small: counts always, a 95% interval on every estimate, never a bare percentage; pooled answers say
that the pairs' episodes are not independent."""

from __future__ import annotations

import math
from typing import Any

from bot.analysis.episodes import CLOSED, RECOUPLED, Episode
from bot.analysis.gap_results import CoupledNow
from bot.analysis.odds import MIN_ESTIMATE, Comparable, Horizon, Interval, OddsResult, Summary
from bot.analytics.episodes import CLOSED_MOVE, EPISODE_Z
from bot.render.gap_text import benchmark_name
from bot.render.text import as_of_line, day, num, rounded, source_words

LISTED = 10  # episodes a chat reply lists (the JSON has them all)
NOT_INDEPENDENT = ("pairs' episodes overlap in time and share legs (BTC:RUT and BTC:IWM are nearly one gap), so they "
                   "are not independent and the intervals are too narrow")


def share(interval: Interval) -> str:
    """'57% (95% 27–90%)'"""
    return f"{100 * interval.value:.0f}% (95% {100 * interval.lower:.0f}–{100 * interval.upper:.0f}%)"


def sigma(z: float) -> str:
    return f"{num(z, 2, signed=True)}σ"


def _side(gap: float) -> str:
    return "below" if gap < 0 else "above"


def _legs_words(episode: Episode, asset: str, benchmark: str) -> str:
    """'mostly by ETH rising (ETH 78% of the closing)'"""
    if episode.asset_share is None:
        return ""
    bench_log_move = -episode.benchmark_leg / episode.beta if episode.beta else 0.0
    if episode.asset_share >= 0.5:
        mover = f"{asset} {'rising' if episode.asset_leg > 0 else 'falling'}"
    else:
        mover = f"{benchmark} {'rising' if bench_log_move > 0 else 'falling'}"
    return f", mostly by {mover} ({asset} {100 * episode.asset_share:.0f}% of the closing)"


def episode_line(item: Comparable) -> str:
    """'BTC:RUT 2023-06-22 → 2023-07-18: closed after 17 sessions, mostly by RUT falling (…); peak 20% above
    on 2023-06-23'"""
    e = item.episode
    asset, benchmark = e.pair.split(":")
    peak = f"peak {100 * abs(math.expm1(e.peak_gap)):.0f}% {_side(e.peak_gap)} on {day(e.peak)}"
    timed = "" if item.reached == e.start else f", {item.sessions} from {day(item.reached)}"
    if e.outcome == CLOSED:
        how = f"closed after {e.duration} sessions{timed}{_legs_words(e, asset, benchmark)}"
    elif e.outcome == RECOUPLED:
        how = f"re-coupled with the gap open after {e.duration} sessions{timed} (censored)"
    else:
        how = f"still open after {e.duration} sessions{timed} (censored)"
    return f"• {e.pair} {day(e.start)} → {day(e.end)}: {how}; {peak}"


def _today_words(result: OddsResult) -> str:
    today = result.today
    gap = today.gap
    asset = gap.pair.asset.symbol
    where = (f"{asset} is {100 * abs(gap.gap_pct):.0f}% {_side(gap.gap)} its beta line to "
             f"{benchmark_name(gap.pair.benchmark)} since {day(gap.anchor)}, {sigma(today.gap_z)}")
    if today.episode is None:
        return f"{where}: under the {EPISODE_Z}σ that starts an episode"
    return (f"{where}, in an episode open since {day(today.episode.start)} "
            f"({today.episode.duration} sessions)")


def _scope(result: OddsResult) -> str:
    if result.pooled:
        return f"across the universe's {len(result.pairs)} pairs"
    return f"of {result.pairs[0]}"


def _level_words(summary: Summary) -> str:
    return f"|gap_z| ≥ {num(summary.level, 2)}"


def _estimates(summary: Summary) -> list[str]:
    horizons = []
    for h in summary.horizons:
        known = share(h.estimate) if h.estimate is not None else f"not estimated ({h.withheld})"
        horizons.append(f"within {h.sessions} sessions {h.closed} seen, Kaplan–Meier {known}")
    median, low, high = summary.median or (None, None, None)
    median_words = ("not reached: fewer than half closed" if median is None else
                    f"{median} sessions (95% {low if low is not None else '?'} to "
                    f"{high if high is not None else 'not reached'})")
    lines = [f"Closed: {'; '.join(horizons)}.", f"Median time to close: {median_words}."]
    if summary.by_asset is not None and summary.by_benchmark is not None:
        k = summary.closed_by_asset
        lines.append(f"How the {summary.closed} closed: {k} mostly by the asset's own move, {share(summary.by_asset)}; "
                     f"{summary.closed - k} mostly by the benchmark's, {share(summary.by_benchmark)} (Wilson).")
    return lines


def _counts(summary: Summary) -> str:
    return (f"{summary.closed} closed, {summary.recoupled} re-coupled with the gap open, "
            f"{summary.still_open} still open")


def footer(result: OddsResult) -> str:
    gap = result.today.gap
    pair = gap.pair
    return (f"Episodes: gaps from the end of each {result.window.long_label} coupled regime, from |gap_z| ≥ "
            f"{EPISODE_Z} until the asset move to close is within {100 * CLOSED_MOVE:.0f}% · today's gap "
            f"{day(gap.anchor)} → {day(pair.when)}, {gap.n_obs} daily returns · as of {day(pair.when)} · data: "
            f"{source_words(pair.sources, pair.source)}")


def odds_text(result: OddsResult) -> str:
    summary = result.summary
    pair = result.today.gap.pair
    today = _today_words(result)
    scope = _scope(result)
    if summary.n == 0:
        return (f"{today}; no past episode {scope} reached {_level_words(summary)}: nothing to compare "
                f"(as of {day(pair.when)}, data: {source_words(pair.sources, pair.source)}).")
    lines = [f"{today}."]
    if not summary.estimated:
        lines.append(f"Only {summary.n} past episode{'s' if summary.n > 1 else ''} {scope} reached "
                     f"{_level_words(summary)} ({_counts(summary)}): too few to estimate (fewer than "
                     f"{MIN_ESTIMATE}), so here they are:")
    else:
        lines.append(f"{summary.n} past episodes {scope} reached {_level_words(summary)}, each timed from "
                     f"then ({_counts(summary)}; the open ones censored):")
        lines.extend(_estimates(summary))
    lines.extend(episode_line(item) for item in summary.episodes[:LISTED])
    if summary.n > LISTED:
        lines.append(f"… and {summary.n - LISTED} more (--json lists them all).")
    if result.pooled:
        lines.append(f"Pooled: {NOT_INDEPENDENT}.")
    lines.append(footer(result))
    if pair.as_of.stale:
        lines.insert(0, as_of_line(pair.as_of))
    return "\n".join(lines)


def coupled_text(now: CoupledNow, suggested: str | None) -> str:
    """One line: a coupled pair has no gap open."""
    pair = now.pair
    anyway = f"; {suggested} asks about the last one anyway" if suggested else ""
    line = (f"{pair.asset.symbol} and {pair.benchmark.label} are coupled since {day(pair.regime_since)} "
            f"({pair.window.long_label} correlation {num(pair.correlation)}, as of {day(pair.when)}, data: "
            f"{source_words(pair.sources, pair.source)}): no gap open, nothing to weigh{anyway}.")
    return f"{as_of_line(pair.as_of)}\n{line}" if pair.as_of.stale else line


# ---- fields -----------------------------------------------------------------------------------------------


def _interval(interval: Interval | None) -> dict[str, float | None] | None:
    if interval is None:
        return None
    return {"estimate": rounded(interval.value), "lower": rounded(interval.lower), "upper": rounded(interval.upper)}


def _horizon(horizon: Horizon) -> dict[str, float | str | None]:
    """Kaplan–Meier P(closed within) and its interval; all None, with the reason, when withheld."""
    return {**(_interval(horizon.estimate) or dict.fromkeys(("estimate", "lower", "upper"))),
            "withheld_reason": horizon.withheld}


def episode_fields(item: Comparable) -> dict[str, Any]:
    e = item.episode
    return {
        "pair": e.pair, "anchor": day(e.anchor), "beta": rounded(e.beta), "start": day(e.start),
        "peak": day(e.peak), "end": day(e.end), "outcome": e.outcome, "duration": e.duration,
        "start_gap_z": rounded(e.start_z), "peak_gap_log": rounded(e.peak_gap), "peak_gap_z": rounded(e.peak_z),
        "asset_leg": rounded(e.asset_leg), "benchmark_leg": rounded(e.benchmark_leg),
        "asset_share": rounded(e.asset_share), "closed_by": None if e.closed_by_asset is None else
        ("asset" if e.closed_by_asset else "benchmark"),
        "reached": day(item.reached), "sessions": item.sessions,
    }


def summary_fields(summary: Summary) -> dict[str, Any]:
    median, low, high = summary.median or (None, None, None)
    return {
        "level": rounded(summary.level), "n": summary.n, "closed": summary.closed, "recoupled": summary.recoupled,
        "open": summary.still_open, "estimated": summary.estimated, "min_to_estimate": MIN_ESTIMATE,
        "closed_within": {str(h.sessions): {"closed_seen": h.closed, **_horizon(h)} for h in summary.horizons},
        "median_sessions": median, "median_lower": low, "median_upper": high,
        "closed_by_asset": summary.closed_by_asset if summary.estimated else None,
        "closed_by_asset_share": _interval(summary.by_asset),
        "closed_by_benchmark_share": _interval(summary.by_benchmark),
    }


def odds_fields(result: OddsResult) -> dict[str, Any]:
    today = result.today
    gap = today.gap
    pair = gap.pair
    return {
        "asset": pair.asset.symbol, "benchmark": pair.benchmark.symbol, "as_of": day(pair.when),
        "window": result.window.label, "coupled": False, "pooled": result.pooled, "pairs": list(result.pairs),
        "independent": not result.pooled,
        "since": day(gap.anchor), "anchor": gap.anchor_kind, "beta": rounded(gap.beta), "gap_log": rounded(gap.gap),
        "gap_pct": rounded(gap.gap_pct), "gap_z": rounded(today.gap_z), "n_obs": gap.n_obs,
        "episode_open": today.episode is not None,
        "episode_start": day(today.episode.start) if today.episode is not None else None,
        "episode_age": today.age,
        "episodes": [episode_fields(item) for item in result.summary.episodes],
        "summary": summary_fields(result.summary),
        "source": pair.source, "sources": pair.sources, "stale": pair.as_of.stale, "data_end": day(pair.data_end),
    }


def coupled_fields(now: CoupledNow) -> dict[str, Any]:
    pair = now.pair
    return {"asset": pair.asset.symbol, "benchmark": pair.benchmark.symbol, "as_of": day(pair.when),
            "window": pair.window.label, "coupled": True, "regime_since": day(pair.regime_since),
            "suggested_since": day(now.suggested_anchor) if now.suggested_anchor is not None else None,
            "episodes": [], "summary": None, "source": pair.source, "stale": pair.as_of.stale}

