"""Numbers and sentences for people (METHODS.md §3: correlations and betas with 2 decimals, z with 1)."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from bot.alerts.rules import AlertEvent, RuleParams
from bot.analysis import CorrResult, PairData, RegimeNow
from bot.analytics.regimes import DEFAULT_THRESHOLDS, classify
from bot.assets import Asset, find_asset
from bot.windows import Window

SOURCE_WORDS = {"snapshot": "bundled snapshot", "cache": "cached prices", "live": "live prices"}
ALIGNMENT_WORDS = {
    "sync-close": "crypto sampled at the US close (sync-close)",
    "daily-close": "UTC daily closes (daily-close)",
    "mixed": "partly sync-close, partly daily-close (mixed)",
}
REGIME_PHRASES = {
    "coupled": "are moving together",
    "neutral": "are loosely linked",
    "decoupled": "are moving apart",
    "inverse": "are moving in opposite directions",
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


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def stale_line(reason: str | None) -> str:
    return f"⚠️ Stale data: {reason}. Numbers below are as of the last data, not today."


def record_phrase(result: CorrResult) -> str:
    rec = result.record
    if rec is None:
        return ""
    if rec.is_record_low:
        return f"the lowest on record (history since {day(rec.history_start)})"
    if rec.is_record_high:
        return f"the highest on record (history since {day(rec.history_start)})"
    far = result.as_of - pd.Timedelta(days=RECORD_MIN_DAYS)
    if rec.percentile < 50 and rec.lowest_since is not None and rec.lowest_since <= far:
        return f"the lowest since {day(rec.lowest_since)}"
    if rec.percentile >= 50 and rec.highest_since is not None and rec.highest_since <= far:
        return f"the highest since {day(rec.highest_since)}"
    return f"higher than {rec.percentile:.0f}% of readings since {rec.history_start:%Y}"


def regime_word(result: CorrResult) -> str:
    return result.regime or classify(result.correlation, None, DEFAULT_THRESHOLDS).value


def footer(result: CorrResult) -> str:
    return (
        f"Window {result.window.label}: {day(result.window_start)} → {day(result.as_of)}, "
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
    return (
        f"{_capitalise(pair_words(result.asset, result.benchmark))} {phrase}: "
        f"{result.window.long_label} correlation {num(result.correlation)}{record}."
    )


def _with_stale(result: CorrResult, lines: list[str]) -> str:
    if result.stale:
        lines.insert(0, stale_line(result.stale_reason))
    return "\n".join(lines)


def regime_since_words(result: CorrResult) -> str:
    if result.regime is None:
        return "regime: not yet established"
    return f"regime: {result.regime} since {day(result.regime_since)}"


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
    lines = [
        f"{a} beta to {result.benchmark.label}: {num(result.beta)} over the {result.window.long_label} window "
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


def regime_text(
    data: PairData, as_of: pd.Timestamp, stale: bool, reason: str | None, rows: list[RegimeNow]
) -> str:
    lines = [f"Correlation regimes of {data.asset.symbol} vs {data.benchmark.symbol} as of {day(as_of)}:"]
    for row in rows:
        if row.n_obs < 15 or math.isnan(row.correlation):
            lines.append(f"• {row.window.label}: not enough data ({row.n_obs} returns)")
            continue
        state = f"{row.regime} since {day(row.since)}" if row.regime else "not yet established"
        lines.append(f"• {row.window.label}: {state} (ρ {num(row.correlation)}, n={row.n_obs})")
    th = DEFAULT_THRESHOLDS
    lines.append(
        f"Regimes: coupled ρ ≥ {num(th.coupled_enter)}, decoupled ρ ≤ {num(th.decoupled_enter)}, "
        f"inverse ρ ≤ {num(th.inverse_enter)}, neutral in between; a change needs {th.dwell} sessions "
        "in a row, confirmed by rank correlation."
    )
    lines.append(
        f"Data: {source_words(data.sources, data.source)}."
    )
    if stale:
        lines.insert(0, stale_line(reason))
    return "\n".join(lines)


def chart_caption(result: CorrResult) -> str:
    return _with_stale(result, [_headline(result), footer(result)])


def _round(value: float | None, digits: int = 6) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return round(float(value), digits)


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
        "correlation": _round(result.correlation),
        "ci95": [_round(result.ci95[0]), _round(result.ci95[1])],
        "spearman": _round(result.spearman),
        "beta": _round(result.beta),
        "divergence_z": _round(result.divergence_z),
        "regime": result.regime,
        "regime_since": day(result.regime_since) if result.regime_since is not None else None,
        "record": None if rec is None else {
            "percentile": _round(rec.percentile, 2),
            "lowest_since": day(rec.lowest_since) if rec.lowest_since is not None else None,
            "highest_since": day(rec.highest_since) if rec.highest_since is not None else None,
            "record_low": rec.is_record_low,
            "record_high": rec.is_record_high,
            "history_start": day(rec.history_start),
        },
        "change_z": _round(result.change_z),
        "alignment": result.alignment,
        "source": result.source,
        "sources": result.sources,
        "stale": result.stale,
        "stale_reason": result.stale_reason,
        "data_end": day(result.data_end),
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


# ---- alerts -------------------------------------------------------------------------------------------------

ALERT_KIND_WORDS = {"regime": "regime", "divergence": "divergence", "record": "record"}
CALENDAR_WORDS = {"XNYS": "NYSE session", "UTC": "crypto day"}
HELD_WORDS = "quiet hours or digest"


def _alert_labels(params: RuleParams) -> tuple[str, str]:
    asset, benchmark = find_asset(params.asset), find_asset(params.benchmark)
    return (asset.label if asset else params.asset, benchmark.label if benchmark else params.benchmark)


def _alert_headline(event: AlertEvent, params: RuleParams) -> str:
    a, b = _alert_labels(params)
    window = Window(params.window_days)
    if event.kind == "regime":
        phrase = REGIME_PHRASES.get(event.to_regime or "", "changed")
        return (f"{_capitalise(a)} and {b} {phrase}: the {window.long_label} correlation regime is now "
                f"{event.to_regime} (was {event.from_regime}).")
    if event.kind == "divergence":
        horizon = event.detail.get("horizon", params.thresholds.horizon)
        side = "above" if event.value > 0 else "below"
        return (f"{_capitalise(a)} is straying from {b}: over the last {horizon} sessions it is "
                f"{num(abs(event.value), 1)} standard deviations {side} what its beta to {b} implies "
                f"(z {num(event.value, 1, signed=True)}).")
    side = event.detail.get("side", "low")
    word = "lowest" if side == "low" else "highest"
    return (f"Record {side}: the {window.long_label} correlation of {a} and {b} is {num(event.value)}, the "
            f"{word} since its history began on {event.detail.get('history_start', 'n/a')}.")


def _alert_detail(event: AlertEvent, params: RuleParams) -> str:
    th = params.thresholds
    if event.kind == "regime":
        return (f"Correlation {num(event.value)}, rank correlation {num(event.detail.get('rho_rank'))}: "
                f"{th.dwell} sessions in a row in the {event.to_regime} band, since {day(event.since)}.")
    if event.kind == "divergence":
        return (f"{Window(params.window_days).label} correlation {num(event.detail.get('rho'))}. The next "
                f"divergence alert needs |z| back below {num(th.z_rearm, 1)} first.")
    previous = event.detail.get("previous")
    return f"The previous {event.detail.get('side', 'low')} was {num(previous)}."


def alert_footer(event: AlertEvent, params: RuleParams) -> str:
    custom = params.overrides()
    extra = (" · custom thresholds " + ", ".join(f"{k}={v:g}" for k, v in sorted(custom.items()))) if custom else ""
    return f"{params.asset} vs {params.benchmark} · {Window(params.window_days).label} window · " \
           f"as of {day(event.as_of)}{extra}"


def alert_text(event: AlertEvent, params: RuleParams) -> str:
    """The message a chat gets for one alert."""
    return "\n".join([f"🔔 {_alert_headline(event, params)}", _alert_detail(event, params),
                      alert_footer(event, params)])


def alert_summary(event: AlertEvent) -> str:
    """A few words: `regime decoupled → neutral (ρ 0.38)`, `divergence z +2.6`, `record low ρ 0.10`."""
    if event.kind == "regime":
        return f"regime {event.from_regime} → {event.to_regime} (ρ {num(event.value)})"
    if event.kind == "divergence":
        return f"divergence z {num(event.value, 1, signed=True)}"
    return f"record {event.detail.get('side', 'low')} ρ {num(event.value)}"


def alert_line(event: AlertEvent, params: RuleParams) -> str:
    return f"{day(event.as_of)} · {params.pair} {Window(params.window_days).label} · {alert_summary(event)}"


def alert_fields(event: AlertEvent, params: RuleParams) -> dict[str, Any]:
    """The machine-readable alert (replay --json, webhook body)."""
    fields: dict[str, Any] = {
        "kind": event.kind,
        "pair": params.pair,
        "window": Window(params.window_days).label,
        "as_of": day(event.as_of),
    }
    if event.kind == "regime":
        fields.update(from_regime=event.from_regime, to_regime=event.to_regime, since=day(event.since))
    fields["value"] = _round(event.value)
    if event.kind == "record":
        fields["side"] = event.detail.get("side")
    if event.kind == "divergence":
        fields["horizon"] = event.detail.get("horizon")
    fields["text"] = alert_text(event, params)
    return fields


def digest_text(alerts: list[tuple[AlertEvent, RuleParams]]) -> str:
    """Held alerts (quiet hours, daily digest) in one message, oldest first."""
    if len(alerts) == 1:
        event, params = alerts[0]
        return alert_text(event, params)
    lines = [f"🔔 {len(alerts)} alerts while this chat was quiet:"]
    for event, params in sorted(alerts, key=lambda item: (item[0].as_of, item[1].pair)):
        lines.append(f"• {_alert_headline(event, params)} ({params.pair} {Window(params.window_days).label}, "
                     f"{day(event.as_of)})")
    return "\n".join(lines)


def _local(moment: Any, timezone: str) -> str:
    from zoneinfo import ZoneInfo

    try:
        local = moment.astimezone(ZoneInfo(timezone))
    except (ValueError, KeyError):
        local = moment
    return f"{local:%Y-%m-%d %H:%M} {timezone}"


def history_status(status: str, not_before: Any, sent_at: Any, error: str | None, now: Any, timezone: str) -> str:
    if status == "sent":
        return f"sent {_local(sent_at, timezone)}" if sent_at else "sent"
    if status == "pending":
        return f"held until {_local(not_before, timezone)}" if not_before > now else "sending"
    if status == "skipped":
        return "not sent: the bot was catching up after an outage" if error and error.startswith("catch-up") \
            else f"not sent ({error or 'skipped'})"
    return f"failed ({error or 'unknown error'})"


def history_text(entries: list[tuple[AlertEvent, RuleParams, str]], limit: int) -> str:
    if not entries:
        return ("No alerts in this chat yet. /subscriptions shows what it watches; /preview shows what the "
                "rules would have fired over the last two years.")
    lines = [f"This chat's last {len(entries)} alert{'s' if len(entries) > 1 else ''} (newest first):"]
    lines += [f"• {alert_line(event, params)} — {status}" for event, params, status in entries[:limit]]
    return "\n".join(lines)


def preview_text(
    sections: list[tuple[RuleParams, list[AlertEvent]]], start: pd.Timestamp, end: pd.Timestamp, last: int = 3
) -> str:
    lines = [f"Preview: the alerts this chat's settings would have fired from {day(start)} to {day(end)} "
             "(a replay of the same rules):"]
    for params, events in sections:
        label = f"{params.pair} {Window(params.window_days).label}"
        if not events:
            lines.append(f"• {label}: no alerts.")
            continue
        counts = ", ".join(f"{kind} {sum(1 for e in events if e.kind == kind)}"
                           for kind in ALERT_KIND_WORDS if any(e.kind == kind for e in events))
        recent = "; ".join(f"{day(e.as_of)} {alert_summary(e)}" for e in reversed(events[-last:]))
        total = len(events)
        lines.append(f"• {label}: {total} alert{'s' if total > 1 else ''} ({counts}). Latest: {recent}.")
    return "\n".join(lines)


def evaluation_status_lines(
    evaluated: list[tuple[str, pd.Timestamp, int, int, Any]],
    waiting: list[tuple[str, pd.Timestamp, str | None]],
    due: dict[str, int],
    held: dict[str, int],
) -> list[str]:
    """/status lines: the last evaluated session per calendar, sessions refused for stale data, the outbox."""
    lines = []
    for calendar, session, instances, alerts, when in evaluated:
        lines.append(
            f"Alerts: {CALENDAR_WORDS.get(calendar, calendar)} {day(session)} evaluated "
            f"({instances} rule instance{'s' if instances != 1 else ''}, {alerts} alert{'s' if alerts != 1 else ''})"
            f" at {when:%Y-%m-%d %H:%M} UTC."
        )
    if not evaluated:
        lines.append("Alerts: no session evaluated yet.")
    for calendar, session, detail in waiting:
        lines.append(f"Alerts waiting for data: {CALENDAR_WORDS.get(calendar, calendar)} {day(session)} — "
                     f"{detail or 'stale data'}.")
    pending = sum(due.values())
    by_platform = ", ".join(f"{p} {n}" for p, n in sorted(due.items()))
    line = f"Deliveries pending: {pending}" + (f" ({by_platform})" if pending else "")
    if held:
        line += f"; {sum(held.values())} held for {HELD_WORDS} or a retry"
    lines.append(line + ".")
    return lines
