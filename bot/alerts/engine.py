"""The alert engine: evaluates every rule instance once per session, from the state kept in the store.

One run:
1. derives the rule instances from the active subscriptions (one per pair, window and thresholds);
2. refreshes the market data of their assets;
3. per instance, picks the session to evaluate (its calendar's last completed session by the data clock;
   in snapshot mode the data's last session; never past `until`), refuses it when a leg is stale, and
   otherwise folds the rules over the observations after the stored state up to that session — the same
   `fold` and `pair_observations` as the replay, so a new instance (warm-up from the start of the data)
   and an old one fire the same alerts on the same date;
4. writes states, alerts and deliveries in one transaction. Only alerts dated on the session being
   evaluated are delivered: older ones (sessions missed while the bot was down) are recorded with skipped
   deliveries, and a new instance's history is recorded without any.

Opt-in kinds of a pair (`default=False` in bot/alerts/kinds.py: the gap) are evaluated with the others, but
their alerts are written only for instances that an active subscription wants them of; the default kinds'
alerts are written whoever wants them (the kinds a subscription wants filter its deliveries).

The weekly scan digest is a universe-wide rule instance with no pair: one per window, evaluated by
bot/alerts/scan_digest.py at the week's last NYSE session and written, refused or failed like the others.

An instance whose evaluation raises is not lost in the log: the run reports it (`RunReport.failed`) and
its note says "ETH:RUT could not be evaluated: ValueError", which /status shows until a later run
evaluates that instance (`failures_in`).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

import pandas as pd

from bot.alerts.gap_base_rate import add_base_rate
from bot.alerts.holding import release_for
from bot.alerts.kinds import ALERT_KINDS, DEFAULT_KINDS
from bot.alerts.market_sessions import latest_session, rule_calendar, session_on_or_before, stale_legs
from bot.alerts.payload import event_payload, instance_key, params_of
from bot.alerts.replay import AssetResolver, fold, pair_observations
from bot.alerts.rules import RuleParams, RuleState
from bot.alerts.scan_digest import DIGEST_CALENDAR, data_target, digest_keys, digest_session, evaluate_digest
from bot.analysis.analyzer import PairAnalyzer
from bot.analysis.results import PairData
from bot.analysis.scan import UniverseScanner
from bot.assets import Asset, all_assets, find_asset
from bot.clock import utcnow
from bot.market.errors import NoData
from bot.store import Store
from bot.store.alert_records import (
    RECORD_ONLY,
    SEND,
    SKIP,
    EvaluationNote,
    InstanceKey,
    InstanceUpdate,
    NewAlert,
    RuleInstance,
)
from bot.store.alerts_repo import AlertsRepo
from bot.store.rule_state import EvaluationConflict

log = logging.getLogger(__name__)
CONFLICT_RETRIES = 3
DETAIL_LIMIT = 1000


@dataclass(frozen=True)
class Refusal:
    calendar: str
    session: pd.Timestamp
    pair: str
    reason: str


@dataclass(frozen=True)
class Failure:
    """A rule instance whose evaluation raised: shown in /status until a later run evaluates it."""

    calendar: str
    session: pd.Timestamp
    pair: str
    error: str  # the exception's class name

    @property
    def text(self) -> str:
        return f"{self.pair} {_FAILED} {self.error}"


_FAILED = "could not be evaluated:"
_FAILURE_TEXT = re.compile(rf"^(?P<pair>\S+) {_FAILED} (?P<error>\S+)$")


def failures_in(calendar: str, session: pd.Timestamp, detail: str | None) -> tuple[list[Failure], str | None]:
    """Split an evaluation note's detail into the failures it records and the rest (the stale-data reasons)."""
    failures, rest = [], []
    for part in (detail or "").split("; "):
        match = _FAILURE_TEXT.match(part)
        if match:
            failures.append(Failure(calendar, session, match["pair"], match["error"]))
        elif part:
            rest.append(part)
    return failures, "; ".join(rest) or None


@dataclass(frozen=True)
class _Outcome:
    instance: RuleInstance
    target: pd.Timestamp
    update: InstanceUpdate | None = None
    refusal: Refusal | None = None
    failure: Failure | None = None


@dataclass
class RunReport:
    evaluated: int = 0  # rule instances advanced in this run
    up_to_date: int = 0
    sessions: dict[str, pd.Timestamp] = field(default_factory=dict)  # calendar -> newest session evaluated
    alerts: int = 0
    pending: int = 0
    skipped: int = 0
    refused: list[Refusal] = field(default_factory=list)
    failed: list[Failure] = field(default_factory=list)  # instances whose evaluation raised
    fired: dict[str, int] = field(default_factory=dict)  # alerts of the evaluated session, by kind



class AlertEngine:
    def __init__(
        self,
        store: Store,
        analyzer: PairAnalyzer,
        *,
        repo: AlertsRepo | None = None,
        scanner: UniverseScanner | None = None,
        resolve: AssetResolver = find_asset,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.repo = repo or AlertsRepo.for_store(store)
        self.analyzer = analyzer
        self.scanner = scanner or UniverseScanner(analyzer)  # the App passes the one it shares
        self._resolve = resolve
        self._clock = clock
        self._lock = asyncio.Lock()  # one run at a time in this process; other processes: see record_run

    async def run(self, *, until: date | None = None) -> RunReport:
        """Evaluate every rule instance that has a session due (up to `until`, if given)."""
        async with self._lock:
            for attempt in range(1, CONFLICT_RETRIES + 1):
                try:
                    return await self._run(until)
                except EvaluationConflict as conflict:
                    if attempt == CONFLICT_RETRIES:
                        raise
                    log.info("alerts: %s; evaluating again from the stored state", conflict)
        raise AssertionError("unreachable")

    async def _run(self, until: date | None) -> RunReport:
        instances, opted = await self._instances()
        if not instances:
            return RunReport()
        universe = any(pair is None for _, pair in instances)  # the scan digest looks at every asset
        legs = [a for _, pair in instances if pair is not None for a in pair] + (list(all_assets()) if universe else [])
        assets = sorted({a.symbol: a for a in legs}.values(), key=lambda a: a.symbol)
        market = self.analyzer.market
        await market.refresh(assets)
        now = market.now()
        limit = None if until is None else pd.Timestamp(until)
        outcomes = await asyncio.to_thread(self._evaluate_all, instances, now, limit, opted)
        report = _report(outcomes)
        totals = await self.repo.record_run(
            [o.update for o in outcomes if o.update is not None], _notes(outcomes), release_for, self._clock()
        )
        report.alerts, report.pending, report.skipped = totals.alerts, totals.pending, totals.skipped
        for refusal in report.refused:
            log.warning("alerts: %s %s not evaluated: %s", refusal.pair, f"{refusal.session:%Y-%m-%d}", refusal.reason)
        for failure in report.failed:
            log.warning("alerts: %s %s not evaluated: %s (see the traceback above)", failure.pair,
                        f"{failure.session:%Y-%m-%d}", failure.error)
        return report

    async def _instances(
        self,
    ) -> tuple[list[tuple[RuleInstance, tuple[Asset, Asset] | None]], dict[InstanceKey, frozenset[str]]]:
        """Rule instances with their pair (a universe-wide one, the scan digest, has None), and the opt-in kinds
        the subscriptions of each instance want."""
        subscriptions = await self.store.active_subscriptions()
        keys = {instance_key(*s.legs, s.window_days, s.thresholds)
                for _, s in subscriptions if not s.universe_wide}
        opted: dict[InstanceKey, frozenset[str]] = {}
        for _, s in subscriptions:
            chosen = frozenset(k for k in s.kinds if k in ALERT_KINDS and not ALERT_KINDS[k].default)
            if chosen and not s.universe_wide:
                key = instance_key(*s.legs, s.window_days, s.thresholds)
                opted[key] = opted.get(key, frozenset()) | chosen
        universe = digest_keys([s for _, s in subscriptions])
        pairs: dict[InstanceKey, tuple[Asset, Asset]] = {}
        for key in keys:
            asset, benchmark = self._resolve(key.asset), self._resolve(key.benchmark)
            if asset is None or benchmark is None:
                log.warning("alerts: unknown asset in %s:%s; its subscriptions get no alerts", key.asset, key.benchmark)
                continue
            pairs[key] = (asset, benchmark)
        rows = await self.repo.ensure_instances([*((key, rule_calendar(*pair)) for key, pair in pairs.items()),
                                                 *((key, DIGEST_CALENDAR) for key in universe)])
        return [(row, pairs.get(row.key)) for row in rows], opted

    # ------------------------------------------------------------ the CPU part (a worker thread)

    def _evaluate_all(
        self, instances: list[tuple[RuleInstance, tuple[Asset, Asset] | None]], now: pd.Timestamp | None,
        until: pd.Timestamp | None, opted: dict[InstanceKey, frozenset[str]] | None = None,
    ) -> list[_Outcome]:
        outcomes = []
        for instance, pair in instances:
            try:
                if pair is None:
                    outcome = self._digest(instance, now, until)
                else:
                    outcome = self._evaluate(instance, params_of(instance.key), pair, now, until,
                                             (opted or {}).get(instance.key, frozenset()))
            except Exception as exc:
                log.exception("alerts: evaluating %s:%s failed", instance.key.asset, instance.key.benchmark)
                outcome = self._failed(instance, pair, now, until, exc)
            if outcome is not None:
                outcomes.append(outcome)
        return outcomes

    def _failed(
        self, instance: RuleInstance, pair: tuple[Asset, Asset] | None, now: pd.Timestamp | None,
        until: pd.Timestamp | None, exc: Exception,
    ) -> _Outcome | None:
        """The session a failed instance was due for, to show the failure; None if that cannot be told."""
        target = _clock_target(instance.calendar, now, until)
        if target is None:  # snapshot mode: the data's last session, if the data itself is not what failed
            try:
                target = (_data_target(self.analyzer.pair(*pair), until) if pair is not None
                          else data_target(self.scanner, until))
            except Exception:
                target = None
        if pair is None and target is not None:  # the scan digest is about the week's last session
            target = digest_session(target, now)
        done = instance.evaluated_through
        if target is None or (done is not None and target <= pd.Timestamp(done)):
            return None
        pair_name = f"{instance.key.asset}:{instance.key.benchmark}"
        return _Outcome(instance, target, failure=Failure(instance.calendar, target, pair_name, type(exc).__name__))

    def _digest(self, instance: RuleInstance, now: pd.Timestamp | None, until: pd.Timestamp | None
                ) -> _Outcome | None:
        """The weekly scan digest's instance (bot/alerts/scan_digest.py). Its outcome is noted under the session
        the run is at (`at`), with the pairs' instances, not under the week's last session it may be about."""
        at = _clock_target(instance.calendar, now, until) if now is not None else data_target(self.scanner, until)
        digest = None if at is None else evaluate_digest(self.scanner, instance, at, now)
        if at is None or digest is None:
            return None
        if digest.stale is not None:
            name = f"{instance.key.asset}:{instance.key.benchmark}"
            return _Outcome(instance, at, refusal=Refusal(instance.calendar, digest.session, name, digest.stale))
        return _Outcome(instance, at, update=digest.update)

    def _evaluate(
        self, instance: RuleInstance, params: RuleParams, pair: tuple[Asset, Asset], now: pd.Timestamp | None,
        until: pd.Timestamp | None, opted: frozenset[str] = frozenset(),
    ) -> _Outcome | None:
        try:
            data = self.analyzer.pair(*pair)
        except NoData as missing:
            target = _clock_target(instance.calendar, now, until)
            if target is None:
                return None
            return _Outcome(instance, target, refusal=Refusal(instance.calendar, target, params.pair, str(missing)))
        target = _clock_target(instance.calendar, now, until) if now is not None else _data_target(data, until)
        if target is None:
            return None
        done = instance.evaluated_through
        if done is not None and target <= pd.Timestamp(done):
            return _Outcome(instance, target)
        stale = stale_legs(data, now, target)
        if stale:
            reason = "; ".join(s.reason for s in stale)
            return _Outcome(instance, target, refusal=Refusal(instance.calendar, target, params.pair, reason))
        state = RuleState.from_json(instance.state)
        z = self.analyzer.divergence(data, params.thresholds.horizon)
        obs = pair_observations(data, params, after=state.last_date, until=target, z=z)
        state_after, events = fold(params, obs, state, kinds=DEFAULT_KINDS | opted)
        events = add_base_rate(self.analyzer, params, events)
        warm_up = instance.state is None
        alerts = [
            NewAlert(e.kind, e.as_of.date(), event_payload(e),
                     SEND if e.as_of == target else (RECORD_ONLY if warm_up else SKIP))
            for e in events
        ]
        update = InstanceUpdate(instance, state_after.to_json(), target.date(), alerts)
        return _Outcome(instance, target, update=update)


def _clock_target(calendar: str, now: pd.Timestamp | None, until: pd.Timestamp | None) -> pd.Timestamp | None:
    if now is None:
        return None
    target = latest_session(calendar, now)
    return target if until is None else min(target, session_on_or_before(calendar, until))


def _data_target(data: PairData, until: pd.Timestamp | None) -> pd.Timestamp | None:
    """Snapshot mode: the world ends at the pair's last aligned session (or at `until`)."""
    dates = data.returns.index
    if until is not None:
        dates = dates[dates <= until]
    return dates[-1] if len(dates) else None


def _report(outcomes: list[_Outcome]) -> RunReport:
    report = RunReport()
    for outcome in outcomes:
        if outcome.failure is not None:
            report.failed.append(outcome.failure)
        elif outcome.refusal is not None:
            report.refused.append(outcome.refusal)
        elif outcome.update is not None:
            report.evaluated += 1
            for alert in outcome.update.alerts:
                if alert.delivery == SEND:
                    report.fired[alert.kind] = report.fired.get(alert.kind, 0) + 1
            calendar = outcome.instance.calendar
            report.sessions[calendar] = max(report.sessions.get(calendar, outcome.target), outcome.target)
        else:
            report.up_to_date += 1
    return report


def _notes(outcomes: list[_Outcome]) -> list[EvaluationNote]:
    """One note per calendar and session this run evaluated, had to refuse, or failed at.

    A session with a refusal or a failure and nothing evaluated is noted `stale` (not evaluated); failures
    come first in the detail ("ETH:RUT could not be evaluated: ValueError"), so a long list of stale-data
    reasons never cuts them off."""
    grouped: dict[tuple[str, pd.Timestamp], list[_Outcome]] = {}
    for outcome in outcomes:
        if outcome.update is not None or outcome.refusal is not None or outcome.failure is not None:
            grouped.setdefault((outcome.instance.calendar, outcome.target), []).append(outcome)
    notes = []
    for (calendar, session), group in sorted(grouped.items()):
        refusals = [o.refusal for o in group if o.refusal is not None]
        failures = [o.failure for o in group if o.failure is not None]
        updates = [o.update for o in group if o.update is not None]
        alerts = sum(1 for u in updates for a in u.alerts if a.delivery == SEND)
        parts = [f.text for f in failures] + [f"{r.pair}: {r.reason}" for r in refusals]
        detail = "; ".join(parts)[:DETAIL_LIMIT] if parts else None
        status = "stale" if refusals or not updates else "evaluated"
        notes.append(EvaluationNote(calendar, session.date(), status, detail, len(updates), alerts))
    return notes
