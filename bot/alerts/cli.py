"""Command line for alerts and webhooks.

    python -m bot alerts --pair ETH:RUT [--from D] [--to D] [--window 90d] [--threshold name=value …] [--json]
        every alert the rules would have fired (warmed up from the start of the data, listed from --from)
    python -m bot alerts --run-once [--as-of D]
        evaluate the due session (or the one on D) and deliver through every platform configured here
    python -m bot webhook add URL [ASSET:BENCHMARK] [kinds]   |   webhook list   |   webhook remove URL

Bad arguments print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

import pandas as pd

from bot.alerts.replay import replay
from bot.alerts.rules import RuleParams
from bot.assets import find_asset
from bot.config import Settings
from bot.render import text
from bot.store.preferences import (
    SettingError,
    check_thresholds,
    effective_thresholds,
    parse_threshold_value,
    threshold_name,
)
from bot.windows import Window, WindowError, parse_window

USAGE_ERROR = 2
ALERT_KINDS = ("regime", "divergence", "record")


class ArgumentProblem(ValueError):
    """One line for the operator."""


def _one_line_errors(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    def error(message: str) -> NoReturn:
        print(f"decoupler {parser.prog.split()[-1]}: {message}", file=sys.stderr)
        raise SystemExit(USAGE_ERROR)

    parser.error = error  # type: ignore[method-assign]
    return parser


def add_commands(subparsers: Any) -> None:
    alerts = _one_line_errors(subparsers.add_parser(
        "alerts", help="replay alerts over history (--pair …), or evaluate and deliver once (--run-once)"))
    alerts.add_argument("--pair", help="ASSET:BENCHMARK, e.g. ETH:RUT")
    alerts.add_argument("--from", dest="start", metavar="YYYY-MM-DD", help="list alerts from this date")
    alerts.add_argument("--to", dest="end", metavar="YYYY-MM-DD", help="up to this date (default: end of data)")
    alerts.add_argument("--window", default=None, help="correlation window, e.g. 90d (default: DEFAULT_WINDOW)")
    alerts.add_argument("--threshold", action="append", default=[], metavar="NAME=VALUE",
                        help="override a threshold (repeatable), e.g. --threshold dwell=3")
    alerts.add_argument("--json", action="store_true", help="one JSON object per alert and line")
    alerts.add_argument("--run-once", action="store_true", help="evaluate the due session, deliver, exit")
    alerts.add_argument("--as-of", metavar="YYYY-MM-DD", help="with --run-once: evaluate up to this session")
    alerts.set_defaults(handler=alerts_command)

    webhook = _one_line_errors(subparsers.add_parser("webhook", help="alert webhooks: add URL [pair] [kinds] | list "
                                                                     "| remove URL"))
    webhook.add_argument("action", choices=["add", "list", "remove"])
    webhook.add_argument("words", nargs="*", help="add: URL [ASSET:BENCHMARK] [kinds]; remove: URL")
    webhook.set_defaults(handler=webhook_command)


def _fail(message: str) -> int:
    print(f"decoupler: {message}", file=sys.stderr)
    return USAGE_ERROR


# ---------------------------------------------------------------- alerts


def alerts_command(settings: Settings, args: argparse.Namespace) -> int:
    try:
        if args.run_once:
            if args.pair or args.start or args.end or args.threshold or args.window:
                raise ArgumentProblem("--run-once evaluates the subscriptions; --pair/--from/--to/--window/"
                                      "--threshold are for a replay")
            as_of = _date(args.as_of, "--as-of") if args.as_of else None
            return asyncio.run(_run_once(settings, as_of))
        if args.as_of:
            raise ArgumentProblem("--as-of goes with --run-once; a replay takes --from and --to")
        request = _replay_request(settings, args)
    except ArgumentProblem as problem:
        return _fail(str(problem))
    return asyncio.run(_replay(settings, request, args.json))


@dataclass(frozen=True)
class ReplayRequest:
    params: RuleParams
    start: pd.Timestamp | None
    end: pd.Timestamp | None


def _date(value: str, name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ArgumentProblem(f"{name} '{value[:20]}' is not a date: use YYYY-MM-DD") from None


def _pair(value: str | None, default: str) -> tuple[str, str]:
    raw = (value or default).upper().replace("-", ":").replace("/", ":")
    parts = [p for p in raw.split(":") if p]
    if len(parts) != 2:
        raise ArgumentProblem(f"--pair '{(value or '')[:20]}' must look like ASSET:BENCHMARK, e.g. ETH:RUT")
    assets = [find_asset(p) for p in parts]
    for part, asset in zip(parts, assets, strict=True):
        if asset is None:
            raise ArgumentProblem(f"unknown ticker '{part[:15]}' in --pair")
    if assets[0] is assets[1]:
        raise ArgumentProblem("--pair needs two different assets")
    return assets[0].symbol, assets[1].symbol  # type: ignore[union-attr]


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
    asset, benchmark = _pair(args.pair, settings.default_pair)
    try:
        window = parse_window(args.window or settings.default_window)
        overrides = _thresholds(args.threshold)
    except (WindowError, SettingError) as problem:
        raise ArgumentProblem(str(problem)) from None
    start = pd.Timestamp(_date(args.start, "--from")) if args.start else None
    end = pd.Timestamp(_date(args.end, "--to")) if args.end else None
    if start is not None and end is not None and start > end:
        raise ArgumentProblem(f"--from {start:%Y-%m-%d} is after --to {end:%Y-%m-%d}")
    return ReplayRequest(RuleParams(asset, benchmark, window.days, effective_thresholds(overrides)), start, end)


async def _replay(settings: Settings, request: ReplayRequest, as_json: bool) -> int:
    from bot.analysis import PairAnalyzer
    from bot.market.data import NoData
    from bot.services import build_market_data

    market = build_market_data(settings)
    params = request.params
    await market.refresh([find_asset(params.asset), find_asset(params.benchmark)])
    try:
        events = await asyncio.to_thread(replay, PairAnalyzer(market), params, request.start, request.end)
    except NoData as missing:
        return _fail(str(missing))
    for event in events:
        if as_json:
            print(json.dumps(text.alert_fields(event, params), ensure_ascii=False))
        else:
            print(text.alert_line(event, params))
    if not events and not as_json:
        print(f"No alerts for {params.pair} with the {Window(params.window_days).label} window in that range.")
    return 0


async def _run_once(settings: Settings, as_of: dt.date | None) -> int:
    from bot.app import build_app, close_services, one_shot_notifiers

    services = await build_app(settings)
    try:
        alerts = services.alerts
        report = await alerts.evaluate(until=as_of)
        async with one_shot_notifiers(services) as (notifiers, limiters, missing):
            drained = await alerts.worker_for(notifiers, limiters).drain_until_settled()
        sessions = ", ".join(f"{cal} {day:%Y-%m-%d}" for cal, day in sorted(report.sessions.items())) or "none"
        print(f"alerts: {report.evaluated} rule instances evaluated (sessions: {sessions}), "
              f"{report.up_to_date} already up to date, {len(report.refused)} waiting for data; "
              f"{report.alerts} alerts recorded, {report.pending} deliveries queued, "
              f"{report.skipped} skipped as catch-up")
        for refusal in report.refused:
            print(f"alerts: {refusal.pair} {refusal.session:%Y-%m-%d} not evaluated: {refusal.reason}")
        print(f"delivery: {drained.deliveries_sent} delivered in {drained.sent} messages, {drained.failed} failed, "
              f"{drained.rescheduled} to retry, {drained.retry_later} rate-limited"
              + (f"; pending for {', '.join(missing)}" if missing else ""))
    finally:
        await close_services(services)
    return 0


# ---------------------------------------------------------------- webhooks


def webhook_command(settings: Settings, args: argparse.Namespace) -> int:
    actions: dict[str, Callable[[Settings, list[str]], Any]] = {
        "add": _webhook_add, "list": _webhook_list, "remove": _webhook_remove,
    }
    try:
        return asyncio.run(actions[args.action](settings, args.words))
    except ArgumentProblem as problem:
        return _fail(str(problem))


def _webhook_words(settings: Settings, words: list[str]) -> tuple[str, tuple[str, str], frozenset[str]]:
    from bot.webhook import WebhookUrlError, check_webhook_url

    if not words:
        raise ArgumentProblem("webhook add needs a URL: webhook add https://example.com/hook [ETH:RUT] [kinds]")
    try:
        url = check_webhook_url(words[0])
    except WebhookUrlError as bad:
        raise ArgumentProblem(str(bad)) from None
    pair_words = [w for w in words[1:] if any(sep in w for sep in ":-/")]
    kind_words = [w for w in words[1:] if w not in pair_words]
    if len(pair_words) > 1:
        raise ArgumentProblem("give one pair, e.g. ETH:RUT")
    pair = _pair(pair_words[0] if pair_words else None, settings.default_pair)
    kinds: set[str] = set()
    for word in kind_words:
        for kind in (k.strip().lower().rstrip("s") for k in word.split(",") if k.strip()):
            if kind == "all":
                kinds.update(ALERT_KINDS)
            elif kind in ALERT_KINDS:
                kinds.add(kind)
            else:
                raise ArgumentProblem(f"'{kind[:20]}' is not an alert kind: regime, divergence, record or all")
    return url, pair, frozenset(kinds or ALERT_KINDS)


async def _webhook_add(settings: Settings, words: list[str]) -> int:
    from bot.store import AlertKind, open_store

    url, (asset, benchmark), kinds = _webhook_words(settings, words)
    store = await open_store(settings.database_url)
    try:
        chat = await store.upsert_chat("webhook", url, "channel", url)
        if not chat.active:
            await store.reactivate("webhook", url)
        window = chat.default_window_days or parse_window(settings.default_window).days
        subscription, created = await store.subscribe(
            chat, asset, benchmark, window_days=window, kinds=[AlertKind(k) for k in sorted(kinds)])
        if not created and subscription.kinds != {AlertKind(k) for k in kinds}:
            subscription = await store.set_kinds(chat, asset, benchmark, [AlertKind(k) for k in kinds])
    finally:
        await store.close()
    shown = ", ".join(sorted(k.value for k in subscription.kinds))
    print(f"webhook {url}: {asset}:{benchmark} alerts ({shown}), {parse_window(f'{window}d').label} window"
          + ("" if created else " (it was already subscribed)"))
    if settings.webhook_secret is None:
        print("note: WEBHOOK_SECRET is not set; webhook deliveries stay pending until it is")
    return 0


async def _webhook_list(settings: Settings, words: list[str]) -> int:
    from bot.store import open_store

    store = await open_store(settings.database_url)
    try:
        rows = [row for row in await store.active_subscriptions() if row.chat.platform == "webhook"]
    finally:
        await store.close()
    if not rows:
        print("no webhooks; add one with: python -m bot webhook add URL [ASSET:BENCHMARK] [kinds]")
    for chat, subscription in rows:
        kinds = ",".join(sorted(k.value for k in subscription.kinds))
        print(f"{chat.chat_id}  {subscription.pair}  {subscription.window_days}d  {kinds}")
    return 0


async def _webhook_remove(settings: Settings, words: list[str]) -> int:
    from bot.store import open_store

    if len(words) != 1:
        raise ArgumentProblem("webhook remove takes one URL")
    store = await open_store(settings.database_url)
    try:
        chat = await store.get_chat("webhook", words[0].strip())
        if chat is None:
            raise ArgumentProblem(f"no webhook {words[0][:64]}")
        removed = await store.unsubscribe_all(chat)
        await store.mark_inactive("webhook", chat.chat_id, "removed by the operator")
    finally:
        await store.close()
    print(f"webhook {chat.chat_id} removed ({len(removed)} subscriptions)")
    return 0
