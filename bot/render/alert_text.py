"""Alert wording: the message a chat gets, the one-line summaries of /history and /preview, /status lines.

Every alert kind has its wording here (`bot.alerts.kinds` lists the kinds; a test checks both agree).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import astuple, dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from bot.alerts.kinds import ALERT_KINDS, DIVERGENCE, GAP, RECORD, REGIME, SCAN
from bot.alerts.reports import AlertStatus, HistoryItem
from bot.alerts.rules import AlertEvent, RuleParams
from bot.assets import find_asset
from bot.render import gap_text, scan_digest_text
from bot.render.base_rate_text import with_base_rate, with_base_rate_fields
from bot.render.text import REGIME_PHRASES, capitalise, day, num, rounded
from bot.windows import Window

CALENDAR_WORDS = {"XNYS": "NYSE session", "UTC": "crypto day"}
HELD_WORDS = "quiet hours or digest"


# ---- per kind: headline, detail line, a few words for lists, machine fields ----------------------------------


def _regime_headline(event: AlertEvent, params: RuleParams, a: str, b: str) -> str:
    phrase = REGIME_PHRASES.get(event.to_regime or "", "changed")
    return (f"{capitalise(a)} and {b} {phrase}: the {Window(params.window_days).long_label} correlation regime is "
            f"now {event.to_regime} (was {event.from_regime}).")


def _regime_detail(event: AlertEvent, params: RuleParams) -> str:
    return (f"Correlation {num(event.value)}, rank correlation {num(event.detail.get('rho_rank'))}: "
            f"{params.thresholds.dwell} sessions in a row in the {event.to_regime} band, since {day(event.since)}.")


def _divergence_headline(event: AlertEvent, params: RuleParams, a: str, b: str) -> str:
    horizon = event.detail.get("horizon", params.thresholds.horizon)
    side = "above" if event.value > 0 else "below"
    return (f"{capitalise(a)} is straying from {b}: over the last {horizon} sessions it is "
            f"{num(abs(event.value), 1)} standard deviations {side} what its beta to {b} implies "
            f"(z {num(event.value, 1, signed=True)}).")


def _divergence_detail(event: AlertEvent, params: RuleParams) -> str:
    return (f"{Window(params.window_days).label} correlation {num(event.detail.get('rho'))}. The next "
            f"divergence alert needs |z| back below {num(params.thresholds.z_rearm, 1)} first.")


def _record_headline(event: AlertEvent, params: RuleParams, a: str, b: str) -> str:
    side = event.detail.get("side", "low")
    word = "lowest" if side == "low" else "highest"
    return (f"Record {side}: the {Window(params.window_days).long_label} correlation of {a} and {b} is "
            f"{num(event.value)}, the {word} since its history began on {event.detail.get('history_start', 'n/a')}.")


def _record_detail(event: AlertEvent, params: RuleParams) -> str:
    return f"The previous {event.detail.get('side', 'low')} was {num(event.detail.get('previous'))}."


@dataclass(frozen=True)
class KindWording:
    headline: Callable[[AlertEvent, RuleParams, str, str], str]  # (event, params, asset label, benchmark label)
    detail: Callable[[AlertEvent, RuleParams], str]
    summary: Callable[[AlertEvent], str]  # a few words: `regime decoupled → neutral (ρ 0.38)`
    fields: Callable[[AlertEvent], dict[str, Any]]  # what --json and webhooks add for this kind
    footer: Callable[[AlertEvent, RuleParams], str] | None = None  # None: the pair, window and date
    subject: str | None = None  # what lists name instead of the pair (a universe-wide kind has none)


WORDING: dict[str, KindWording] = {
    REGIME: KindWording(
        _regime_headline, _regime_detail,
        lambda e: f"regime {e.from_regime} → {e.to_regime} (ρ {num(e.value)})",
        lambda e: {"from_regime": e.from_regime, "to_regime": e.to_regime, "since": day(e.since)},
    ),
    DIVERGENCE: KindWording(
        _divergence_headline, _divergence_detail,
        lambda e: f"divergence z {num(e.value, 1, signed=True)}",
        lambda e: {"horizon": e.detail.get("horizon")},
    ),
    RECORD: KindWording(
        _record_headline, _record_detail,
        lambda e: f"record {e.detail.get('side', 'low')} ρ {num(e.value)}",
        lambda e: {"side": e.detail.get("side")},
    ),
    SCAN: KindWording(
        scan_digest_text.digest_headline, scan_digest_text.digest_detail, scan_digest_text.digest_summary,
        scan_digest_text.digest_fields, scan_digest_text.digest_footer, scan_digest_text.SUBJECT,
    ),
    GAP: KindWording(
        gap_text.gap_alert_headline, with_base_rate(gap_text.gap_alert_detail), gap_text.gap_alert_summary,
        with_base_rate_fields(gap_text.gap_alert_fields),
    ),
}
if set(WORDING) != set(ALERT_KINDS):  # every kind is worded, and nothing else
    raise ImportError(f"alert wording and bot/alerts/kinds.py disagree: {sorted(set(WORDING) ^ set(ALERT_KINDS))}")


# ---- whole messages --------------------------------------------------------------------------------------------


def _alert_labels(params: RuleParams) -> tuple[str, str]:
    asset, benchmark = find_asset(params.asset), find_asset(params.benchmark)
    return (asset.label if asset else params.asset, benchmark.label if benchmark else params.benchmark)


def _alert_headline(event: AlertEvent, params: RuleParams) -> str:
    return WORDING[event.kind].headline(event, params, *_alert_labels(params))


def _subject(event: AlertEvent, params: RuleParams) -> str:
    return WORDING[event.kind].subject or params.pair


def alert_footer(event: AlertEvent, params: RuleParams) -> str:
    footer = WORDING[event.kind].footer
    if footer is not None:
        return footer(event, params)
    custom = params.overrides()
    extra = (" · custom thresholds " + ", ".join(f"{k}={v:g}" for k, v in sorted(custom.items()))) if custom else ""
    return f"{params.asset} vs {params.benchmark} · {Window(params.window_days).label} window · " \
           f"as of {day(event.as_of)}{extra}"


def alert_text(event: AlertEvent, params: RuleParams) -> str:
    """The message a chat gets for one alert."""
    return "\n".join([f"🔔 {_alert_headline(event, params)}", WORDING[event.kind].detail(event, params),
                      alert_footer(event, params)])


def alert_summary(event: AlertEvent) -> str:
    return WORDING[event.kind].summary(event)


def alert_line(event: AlertEvent, params: RuleParams) -> str:
    return f"{day(event.as_of)} · {_subject(event, params)} {Window(params.window_days).label} · {alert_summary(event)}"


def alert_fields(event: AlertEvent, params: RuleParams) -> dict[str, Any]:
    """The machine-readable alert (replay --json, webhook body)."""
    return {
        "kind": event.kind,
        "pair": None if WORDING[event.kind].subject else params.pair,
        "window": Window(params.window_days).label,
        "as_of": day(event.as_of),
        **WORDING[event.kind].fields(event),
        "value": rounded(event.value),
        "text": alert_text(event, params),
    }


def digest_text(alerts: list[tuple[AlertEvent, RuleParams]]) -> str:
    """Held alerts (quiet hours, daily digest) in one message, oldest first."""
    if len(alerts) == 1:
        event, params = alerts[0]
        return alert_text(event, params)
    lines = [f"🔔 {len(alerts)} alerts while this chat was quiet:"]
    for event, params in sorted(alerts, key=lambda item: (item[0].as_of, _subject(*item))):
        lines.append(f"• {_alert_headline(event, params)} ({_subject(event, params)} "
                     f"{Window(params.window_days).label}, {day(event.as_of)})")
    return "\n".join(lines)


def _local(moment: Any, timezone: str) -> str:
    from zoneinfo import ZoneInfo

    try:
        local = moment.astimezone(ZoneInfo(timezone))
    except (ValueError, KeyError):
        local = moment
    return f"{local:%Y-%m-%d %H:%M} {timezone}"


def history_status(item: HistoryItem, now: datetime, timezone: str) -> str:
    if item.status == "sent":
        return f"sent {_local(item.sent_at, timezone)}" if item.sent_at else "sent"
    if item.status == "pending":
        return f"held until {_local(item.not_before, timezone)}" if item.not_before > now else "sending"
    if item.status == "skipped":
        return "not sent: the bot was catching up after an outage" if item.error and \
            item.error.startswith("catch-up") else f"not sent ({item.error or 'skipped'})"
    return f"failed ({item.error or 'unknown error'})"


def history_text(items: list[HistoryItem], limit: int, now: datetime, timezone: str) -> str:
    if not items:
        return ("No alerts in this chat yet. /subscriptions shows what it watches; /preview shows what the "
                "rules would have fired over the last two years.")
    lines = [f"This chat's last {len(items)} alert{'s' if len(items) > 1 else ''} (newest first):"]
    lines += [f"• {alert_line(i.alert.event, i.alert.params)} — {history_status(i, now, timezone)}"
              for i in items[:limit]]
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
                           for kind in ALERT_KINDS if any(e.kind == kind for e in events))
        recent = "; ".join(f"{day(e.as_of)} {alert_summary(e)}" for e in reversed(events[-last:]))
        total = len(events)
        lines.append(f"• {label}: {total} alert{'s' if total > 1 else ''} ({counts}). Latest: {recent}.")
    return "\n".join(lines)


def evaluation_status_lines(status: AlertStatus) -> list[str]:
    """/status lines: the last evaluated session per calendar, sessions refused for stale data, rule instances
    whose evaluation failed, the outbox."""
    lines = []
    for calendar, session, instances, alerts, when in (astuple(e) for e in status.evaluated):
        lines.append(
            f"Alerts: {CALENDAR_WORDS.get(calendar, calendar)} {day(session)} evaluated "
            f"({instances} rule instance{'s' if instances != 1 else ''}, {alerts} alert{'s' if alerts != 1 else ''})"
            f" at {when:%Y-%m-%d %H:%M} UTC."
        )
    if not status.evaluated:
        lines.append("Alerts: no session evaluated yet.")
    for calendar, session, detail in (astuple(w) for w in status.waiting):
        lines.append(f"Alerts waiting for data: {CALENDAR_WORDS.get(calendar, calendar)} {day(session)} — "
                     f"{detail or 'stale data'}.")
    for failed in status.failed:
        lines.append(f"Alerts: {failed.pair} could not be evaluated for {day(failed.session)}: {failed.error}.")
    pending = sum(status.due.values())
    by_platform = ", ".join(f"{p} {n}" for p, n in sorted(status.due.items()))
    line = f"Deliveries pending: {pending}" + (f" ({by_platform})" if pending else "")
    if status.held:
        line += f"; {sum(status.held.values())} held for {HELD_WORDS} or a retry"
    lines.append(line + ".")
    return lines
