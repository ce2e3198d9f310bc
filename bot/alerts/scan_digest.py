"""The weekly scan digest (alert kind `scan`): the top of /scan, once a week, after the week's last NYSE session.

A universe-wide kind: no pair, no state machine. Every window that a chat's universe-wide subscription wants
the digest at is one rule instance (`digest_key`: asset `universe`, benchmark `scan`, the window), so the
digest goes through the engine, the outbox and delivery like any alert (docs/methods.md §5):

- the session it is about is the newest week's last session (`week_end_on_or_before`: the Friday, the
  Thursday when Friday is a holiday) on or before the session the engine is at (by the clock, or the data's
  last session in snapshot mode, never past `until`); by the clock, once that session's UTC day is over too,
  since the matrix shows crypto–crypto pairs by UTC day (so the digest goes out with the 00:20 UTC run);
- `evaluated_through` is that session once done: a rerun, a second worker or a restart finds it done, and an
  alert is unique per (instance, kind, date), a delivery per (alert, chat);
- it is refused, like any rule instance, while a leg of a pair of the universe is stale for that session,
  or while the matrix cannot be drawn as of that session (a pair's data ends before it);
- it is delivered only when that session is the one the engine is at; a digest of a week that passed while
  the bot was down is recorded with skipped deliveries, and a new instance's first run for a past week
  records nothing (its first digest is the next one).

The payload keeps the top rows as /scan ranked them at that session and the matrix's tickers (the universe,
or the rows' tickers when it has more than a matrix shows); the image is drawn when the message is
(bot/render/alert_messages.py), from the same data at the same date.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from bot.alerts.kinds import SCAN
from bot.alerts.market_sessions import UTC_DAYS, latest_session, stale_legs, week_end_on_or_before
from bot.alerts.payload import event_payload
from bot.alerts.rules import AlertEvent
from bot.analysis.scan import UniverseScanner
from bot.analysis.scan_results import MATRIX_MAX_ASSETS, ScanRow
from bot.store.alert_records import SEND, SKIP, InstanceKey, InstanceUpdate, NewAlert, RuleInstance
from bot.store.records import Subscription
from bot.store.universe_subscriptions import NO_THRESHOLDS, UNIVERSE
from bot.windows import Window

DIGEST_CALENDAR = "XNYS"
DIGEST_TOP = 5  # rows of /scan the digest carries
REASON_LIMIT = 600


def digest_key(window_days: int) -> InstanceKey:
    return InstanceKey(UNIVERSE, SCAN, window_days, NO_THRESHOLDS)


def digest_keys(subscriptions: list[Subscription]) -> set[InstanceKey]:
    """One rule instance per window that a universe-wide subscription wants the digest at."""
    return {digest_key(s.window_days) for s in subscriptions if s.universe_wide and SCAN in s.kinds}


def data_target(scanner: UniverseScanner, until: pd.Timestamp | None) -> pd.Timestamp | None:
    """Snapshot mode: the newest aligned session of the universe's pairs (on or before `until`)."""
    newest = None
    for asset, benchmark in scanner.universe().pairs:
        dates = scanner.analyzer.pair(asset, benchmark).returns.index
        if until is not None:
            dates = dates[dates <= until]
        if len(dates) and (newest is None or dates[-1] > newest):
            newest = dates[-1]
    return newest


def digest_session(at: pd.Timestamp, now: pd.Timestamp | None) -> pd.Timestamp | None:
    """The week's last session that is due when the engine is at session `at`: by the clock, only once that
    session's UTC day is over as well (before, the one of the week before)."""
    session = week_end_on_or_before(DIGEST_CALENDAR, at)
    if session is not None and now is not None and latest_session(UTC_DAYS, now) < session:
        session = week_end_on_or_before(DIGEST_CALENDAR, session - pd.Timedelta(days=1))
    return session


@dataclass(frozen=True)
class DigestOutcome:
    session: pd.Timestamp  # the week's last session the digest is about
    update: InstanceUpdate | None = None  # None: up to date, or refused
    stale: str | None = None  # why the session is refused


def evaluate_digest(
    scanner: UniverseScanner, instance: RuleInstance, at: pd.Timestamp, now: pd.Timestamp | None
) -> DigestOutcome | None:
    """The digest of `instance` when the engine is at session `at` (blocking: call it in a worker thread)."""
    session = digest_session(at, now)
    if session is None:
        return None
    done = instance.evaluated_through
    if done is not None and session <= pd.Timestamp(done):
        return DigestOutcome(session)
    if session != at and instance.state is None:  # a new instance's past week: nothing to record
        return DigestOutcome(session, InstanceUpdate(instance, _state(session), session.date(), []))
    stale = _stale(scanner, now, session)
    if stale:
        return DigestOutcome(session, stale=stale)
    window = Window(instance.key.window_days)
    result = scanner.scan(window, session.date())
    rows = result.rows[:DIGEST_TOP]
    if not rows:  # no pair has an answer at that session: nothing to tell
        return DigestOutcome(session, InstanceUpdate(instance, _state(session), session.date(), []))
    chosen = list(scanner.universe().assets)
    if len(chosen) > MATRIX_MAX_ASSETS:  # more tickers than a matrix shows: those of the rows
        chosen = list({a.symbol: a for row in rows for a in (row.result.asset, row.result.benchmark)}.values())
    matrix = scanner.matrix(window, chosen, session.date())
    if matrix.as_of.stale:  # e.g. a crypto–crypto pair's UTC day, or an equity pair's session, not in yet
        return DigestOutcome(session, stale=f"the matrix is as of {matrix.as_of.when:%Y-%m-%d}: {matrix.as_of.reason}")
    detail = {
        "window_days": instance.key.window_days,
        "rows": [_row(row) for row in rows],
        "ranked": len(result.rows),
        "universe_size": result.universe_size,
        "lookback": result.lookback,
        "left_out": [item.symbol for item in result.left_out],
        "skipped": len(result.skipped),
        "matrix": matrix.symbols,
    }
    top = rows[0].score if rows[0].score is not None else math.nan
    event = AlertEvent(SCAN, session, top, detail=detail)
    alert = NewAlert(SCAN, session.date(), event_payload(event), SEND if session == at else SKIP)
    return DigestOutcome(session, InstanceUpdate(instance, _state(session), session.date(), [alert]))


def _stale(scanner: UniverseScanner, now: pd.Timestamp | None, session: pd.Timestamp) -> str | None:
    """Why a leg of the universe is behind `session` (as for a pair's rule instance), or None."""
    reasons: dict[str, None] = {}
    for asset, benchmark in scanner.universe().pairs:
        for leg in stale_legs(scanner.analyzer.pair(asset, benchmark), now, session):
            reasons.setdefault(leg.reason)
    return "; ".join(reasons)[:REASON_LIMIT] or None


def _state(session: pd.Timestamp) -> str:
    return json.dumps({"kind": SCAN, "last_week": f"{session:%Y-%m-%d}"})


def _number(value: float | None, digits: int = 4) -> float | None:
    if value is None or math.isnan(value):
        return None
    return round(float(value), digits)


def _row(row: ScanRow) -> dict[str, Any]:
    result = row.result
    candidate = result.candidate
    return {
        "pair": row.pair,
        "as_of": f"{row.as_of:%Y-%m-%d}",
        "score": _number(row.score),
        "correlation": _number(row.correlation),
        "correlation_before": _number(row.correlation_before),
        "n_obs": row.n_obs,
        "regime": result.regime,
        "regime_since": f"{result.regime_since:%Y-%m-%d}" if result.regime_since is not None else None,
        "candidate": None if candidate is None else
        {"regime": candidate.regime, "count": candidate.count, "dwell": candidate.dwell},
        "divergence_z": _number(row.divergence_z),
    }
