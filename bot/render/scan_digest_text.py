"""The weekly scan digest's words (alert kind `scan`): the top rows of /scan as its payload kept them.

The rows read as /scan's (bot/render/scan_text.py): score, correlation now and `lookback` sessions earlier,
regime, divergence z, n. The matrix image is bot/render/alert_messages.py's.
"""

from __future__ import annotations

from typing import Any

from bot.alerts.rules import AlertEvent, RuleParams
from bot.render.text import day, num
from bot.windows import Window

SUBJECT = "weekly scan"  # how lists (/history) name the digest where other alerts name their pair


def _rows(event: AlertEvent) -> list[dict[str, Any]]:
    return list(event.detail.get("rows") or [])


def _regime_words(row: dict[str, Any]) -> str:
    if not row.get("regime"):
        return "regime not yet established"
    words = f"{row['regime']} since {row.get('regime_since') or 'n/a'}"
    candidate = row.get("candidate")
    if candidate:
        words += f", turning {candidate['regime']} ({candidate['count']}/{candidate['dwell']})"
    return words


def _row_text(rank: int, row: dict[str, Any], as_of: str, lookback: int) -> str:
    score = f"score {num(row.get('score'), 1, signed=True)}" if row.get("score") is not None else "score n/a"
    before = (f"{lookback} sessions ago {num(row.get('correlation_before'))}"
              if row.get("correlation_before") is not None else f"none {lookback} sessions ago")
    when = f" · as of {row['as_of']}" if row.get("as_of") and row["as_of"] != as_of else ""
    return (f"{rank}. {row['pair']} · {score} · ρ {num(row.get('correlation'))}, {before} · {_regime_words(row)} · "
            f"divergence z {num(row.get('divergence_z'), 1, signed=True)} · n={row.get('n_obs')}{when}")


def digest_headline(event: AlertEvent, params: RuleParams, _a: str = "", _b: str = "") -> str:
    rows, ranked = _rows(event), event.detail.get("ranked")
    count = f"top {len(rows)} of {ranked} pairs" if ranked and ranked > len(rows) else f"all {len(rows)} pairs"
    return (f"Weekly scan: the biggest decouplings, {Window(params.window_days).long_label} correlation, as of "
            f"{day(event.as_of)} ({count}):")


def digest_detail(event: AlertEvent, params: RuleParams) -> str:
    lookback = int(event.detail.get("lookback") or 20)
    as_of = day(event.as_of)
    lines = [_row_text(i, row, as_of, lookback) for i, row in enumerate(_rows(event), start=1)]
    lines.append(f"Score: how far the correlation fell over the last {lookback} sessions, in standard errors of that "
                 "fall (Fisher z, corrected for the returns both windows share; a ranking aid, not a test; /help scan "
                 "has the formula).")
    left_out = event.detail.get("left_out") or []
    if left_out:
        lines.append(f"Left out, no data: {', '.join(left_out)}.")
    return "\n".join(lines)


def digest_footer(event: AlertEvent, params: RuleParams) -> str:
    return (f"Weekly scan digest · {Window(params.window_days).label} window · as of {day(event.as_of)} · "
            "/scan ranks every pair, /unsubscribe scan stops the digest")


def digest_summary(event: AlertEvent) -> str:
    rows = _rows(event)
    if not rows:
        return "scan digest"
    return f"scan digest, top {rows[0]['pair']} (score {num(rows[0].get('score'), 1, signed=True)})"


def digest_fields(event: AlertEvent) -> dict[str, Any]:
    return {"rows": _rows(event), "universe_size": event.detail.get("universe_size"),
            "lookback": event.detail.get("lookback")}
