"""Command line for alerts.

    python -m bot alerts --pair ETH:RUT [--from D] [--to D] [--window 90d] [--threshold name=value …]
                         [--kinds regime,divergence,record,gap] [--json]
        every alert the rules would have fired (warmed up from the start of the data, listed from --from); the
        default kinds unless --kinds names others (the gap is opt-in, as in a subscription)
    python -m bot alerts --run-once [--as-of D]
        evaluate the due session (or the one on D) and deliver through every platform configured here
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from bot.alerts.kinds import ALERT_KINDS, DEFAULT_KINDS, closest_kind, in_order, kinds_for_word, universe_wide
from bot.alerts.replay import replay
from bot.alerts.rules import RuleParams
from bot.assets import find_asset
from bot.cli import ArgumentProblem, fail, one_line_errors, pair_argument
from bot.config import Settings
from bot.render import alert_text
from bot.store.preferences import (
    SettingError,
    check_thresholds,
    effective_thresholds,
    parse_threshold_value,
    threshold_name,
)
from bot.windows import Window, WindowError, parse_window

if TYPE_CHECKING:
    from bot.app import App



def add_commands(subparsers: Any) -> None:
    alerts = one_line_errors(subparsers.add_parser(
        "alerts", help="replay alerts over history (--pair …), or evaluate and deliver once (--run-once)"))
    alerts.add_argument("--pair", help="ASSET:BENCHMARK, e.g. ETH:RUT")
    alerts.add_argument("--from", dest="start", metavar="YYYY-MM-DD", help="list alerts from this date")
    alerts.add_argument("--to", dest="end", metavar="YYYY-MM-DD", help="up to this date (default: end of data)")
    alerts.add_argument("--window", default=None, help="correlation window, e.g. 90d (default: DEFAULT_WINDOW)")
    alerts.add_argument("--threshold", action="append", default=[], metavar="NAME=VALUE",
                        help="override a threshold (repeatable), e.g. --threshold dwell=3")
    alerts.add_argument("--kinds", default=None, metavar="KIND,KIND",
                        help=f"alert kinds to list, comma-separated: {', '.join(PAIR_KINDS)} or all "
                        "(default: the kinds a subscription gets without naming any)")
    alerts.add_argument("--json", action="store_true", help="one JSON object per alert and line")
    alerts.add_argument("--run-once", action="store_true", help="evaluate the due session, deliver, exit")
    alerts.add_argument("--as-of", metavar="YYYY-MM-DD", help="with --run-once: evaluate up to this session")
    alerts.set_defaults(handler=alerts_command)


# ---------------------------------------------------------------- alerts


async def alerts_command(app: App, args: argparse.Namespace) -> int:
    if args.run_once:
        if args.pair or args.start or args.end or args.threshold or args.window or args.kinds:
            raise ArgumentProblem("--run-once evaluates the subscriptions; --pair/--from/--to/--window/"
                                  "--threshold/--kinds are for a replay")
        return await _run_once(app, _date(args.as_of, "--as-of") if args.as_of else None)
    if args.as_of:
        raise ArgumentProblem("--as-of goes with --run-once; a replay takes --from and --to")
    return await _replay(app, _replay_request(app.settings, args), args.json)


@dataclass(frozen=True)
class ReplayRequest:
    params: RuleParams
    start: pd.Timestamp | None
    end: pd.Timestamp | None
    kinds: frozenset[str] = DEFAULT_KINDS


PAIR_KINDS = [name for name, spec in ALERT_KINDS.items() if spec.needs_pair]


def _kinds(value: str | None) -> frozenset[str]:
    """'regime,gap' -> the kinds; 'all' the default kinds; a universe-wide kind (the weekly scan) has no pair."""
    if value is None:
        return DEFAULT_KINDS
    kinds: set[str] = set()
    for word in (w.strip() for w in value.split(",")):
        if not word:
            continue
        named = kinds_for_word(word)
        if named is None:
            close = closest_kind(word)
            hint = f" (did you mean {close}?)" if close else ""
            raise ArgumentProblem(f"--kinds: unknown kind '{word[:20]}'{hint}; use {', '.join(PAIR_KINDS)} or all")
        if any(universe_wide(kind) for kind in named):
            raise ArgumentProblem(f"--kinds: {word} is not a pair's alert (it is the weekly scan digest)")
        kinds |= named
    if not kinds:
        raise ArgumentProblem(f"--kinds needs at least one kind: {', '.join(PAIR_KINDS)} or all")
    return frozenset(kinds)


def _date(value: str, name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ArgumentProblem(f"{name} '{value[:20]}' is not a date: use YYYY-MM-DD") from None


def _thresholds(items: list[str]) -> dict[str, float | int]:
    values: dict[str, float | int] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep:
            raise ArgumentProblem(f"--threshold '{item[:24]}' must be NAME=VALUE, e.g. dwell=3")
        key = threshold_name(name)
        values[key] = parse_threshold_value(key, raw)
    return check_thresholds(values)


def _replay_request(settings: Settings, args: argparse.Namespace) -> ReplayRequest:
    asset, benchmark = pair_argument(args.pair, settings.default_pair)
    try:
        window = parse_window(args.window or settings.default_window)
        overrides = _thresholds(args.threshold)
    except (WindowError, SettingError) as problem:
        raise ArgumentProblem(str(problem)) from None
    start = pd.Timestamp(_date(args.start, "--from")) if args.start else None
    end = pd.Timestamp(_date(args.end, "--to")) if args.end else None
    if start is not None and end is not None and start > end:
        raise ArgumentProblem(f"--from {start:%Y-%m-%d} is after --to {end:%Y-%m-%d}")
    return ReplayRequest(RuleParams(asset, benchmark, window.days, effective_thresholds(overrides)), start, end,
                         _kinds(args.kinds))


async def _replay(app: App, request: ReplayRequest, as_json: bool) -> int:
    from bot.market.errors import NoData

    params = request.params
    await app.market.refresh([a for a in (find_asset(params.asset), find_asset(params.benchmark)) if a is not None])
    try:
        events = await asyncio.to_thread(replay, app.analysis, params, request.start, request.end, request.kinds)
    except NoData as missing:
        return fail(str(missing))
    for event in events:
        if as_json:
            print(json.dumps(alert_text.alert_fields(event, params), ensure_ascii=False))
        else:
            print(alert_text.alert_line(event, params))
    if not events and not as_json:
        kinds = ", ".join(in_order(request.kinds))
        print(f"No alerts ({kinds}) for {params.pair} with the {Window(params.window_days).label} window in that "
              "range.")
    return 0


async def _run_once(app: App, as_of: dt.date | None) -> int:
    await app.start()
    report = await app.alerts.evaluate(until=as_of)
    async with app.notifiers(None, console=True) as (notifiers, missing):
        drained = await app.alerts.worker_for(notifiers).drain_due()
    sessions = ", ".join(f"{cal} {day:%Y-%m-%d}" for cal, day in sorted(report.sessions.items())) or "none"
    print(f"alerts: {report.evaluated} rule instances evaluated (sessions: {sessions}), "
          f"{report.up_to_date} already up to date, {len(report.refused)} waiting for data; "
          f"{report.alerts} alerts recorded, {report.pending} deliveries queued, "
          f"{report.skipped} skipped as catch-up")
    for refusal in report.refused:
        print(f"alerts: {refusal.pair} {refusal.session:%Y-%m-%d} not evaluated: {refusal.reason}")
    for failure in report.failed:
        print(f"alerts: {failure.pair} {failure.session:%Y-%m-%d} could not be evaluated: {failure.error} "
              "(the log has the details; the next run tries again)")
    print(f"delivery: {drained.deliveries_sent} delivered in {drained.sent} messages, {drained.failed} failed, "
          f"{drained.rescheduled} to retry, {drained.retry_later} rate-limited"
          + (f"; pending for {', '.join(missing)}" if missing else ""))
    return 0
