"""Market commands: /corr, /beta, /div, /regime, /chart, /assets, /report."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from bot.analysis.errors import AnalysisError
from bot.analysis.results import CorrResult
from bot.assets import all_assets, find_asset
from bot.market.errors import LiveDataNeeded, NoData
from bot.ports.reply import Button, Reply, error_reply
from bot.render import text
from bot.windows import parse_window
from handlers.parsing import PairQuery, UsageError, parse_pair_args, shown
from handlers.registry import (
    ASSET,
    BENCHMARK,
    COMMANDS,
    PAIR_OPTIONS,
    Option,
    OptionKind,
    Request,
    command,
    is_operator,
    operators_only,
)

BUTTON_WINDOWS = ("30d", "90d", "1y")
PAIR_HELP = (
    "Window: 30d, 12w, 6m, 1y … (30 days to 10 years; default 90d). One ticker means it against the "
    "default benchmark; two tickers are asset then benchmark (ETH RUT, or ETH:RUT)."
)


class CommandFailed(Exception):
    def __init__(self, reply: Reply):
        self.reply = reply


def _failure(exc: Exception, name: str) -> Reply:
    message = str(exc)
    return error_reply(f"{message[:1].upper()}{message[1:]}.", COMMANDS[name].usage)


def _query(req: Request, name: str) -> PairQuery:
    settings = req.services.settings
    try:
        return parse_pair_args(req.args, settings.default_pair, settings.default_window)
    except UsageError as exc:
        raise CommandFailed(error_reply(str(exc), COMMANDS[name].usage)) from None


async def _correlation(req: Request, query: PairQuery, name: str) -> CorrResult:
    await req.services.market.refresh([query.asset, query.benchmark])
    try:
        return await asyncio.to_thread(
            req.services.analysis.correlation, query.asset, query.benchmark, query.window, req.as_of
        )
    except (AnalysisError, NoData) as exc:
        raise CommandFailed(_failure(exc, name)) from None


def _window_buttons(query: PairQuery, name: str) -> list[list[Button]]:
    row = [Button(w, query.command(name, parse_window(w))) for w in BUTTON_WINDOWS]
    row.append(Button("⇄ swap", query.command(name, swap=True)))
    return [row]


async def _chart(req: Request, result: CorrResult) -> bytes | None:
    charts = req.services.charts
    if not req.want_chart or charts is None:
        return None
    data = await asyncio.to_thread(req.services.analysis.chart_data, result)
    return await charts.render_async(data, req.theme)


def _chart_name(result: CorrResult) -> str:
    return f"{result.asset.symbol}-{result.benchmark.symbol}-{result.window.label}-{result.as_of:%Y%m%d}.png"


async def _pair_reply(req: Request, name: str, render: Callable[[CorrResult], str], with_chart: bool) -> Reply:
    try:
        query = _query(req, name)
        result = await _correlation(req, query, name)
    except CommandFailed as failed:
        return failed.reply
    chart = await _chart(req, result) if with_chart else None
    return Reply(
        text=render(result),
        chart=chart,
        chart_name=_chart_name(result),
        buttons=_window_buttons(query, name),
        data=text.corr_fields(result),
    )


@command(
    "corr", summary="Correlation of a pair over a window, with chart",
    help="How closely two markets move together, day by day. " + PAIR_HELP
    + "\nExamples: /corr · /corr 1y · /corr 90d BTC · /corr 1y BTC SPY",
    chart=True, options=PAIR_OPTIONS,
)
async def corr_command(req: Request) -> Reply:
    return await _pair_reply(req, "corr", text.corr_text, with_chart=True)


@command(
    "beta", summary="Beta: how much the asset moves per 1% of the benchmark",
    help="Beta of the asset on the benchmark over the window (cov / var of daily log returns). " + PAIR_HELP,
    options=PAIR_OPTIONS,
)
async def beta_command(req: Request) -> Reply:
    return await _pair_reply(req, "beta", text.beta_text, with_chart=False)


@command(
    "div", summary="Divergence z: is the asset straying from its beta?",
    help="Over the last 20 sessions, how many standard deviations the asset's moves stray from what its "
    "beta to the benchmark implies (beta fitted on the 180 days before). |z| ≥ 2.5 is an alert. "
    "The window argument only sets the footer's reference window. " + PAIR_HELP,
    options=PAIR_OPTIONS,
)
async def div_command(req: Request) -> Reply:
    return await _pair_reply(req, "div", text.divergence_text, with_chart=False)


@command(
    "chart", summary="Chart: prices and rolling correlation",
    help="Both prices rebased to 100 and the rolling correlation with its regime bands, over at least a "
    "year. " + PAIR_HELP,
    chart=True, options=PAIR_OPTIONS,
)
async def chart_command(req: Request) -> Reply:
    return await _pair_reply(req, "chart", text.chart_caption, with_chart=True)


@command(
    "regime", summary="Correlation regime per window (30d, 90d, 1y)",
    help="The adopted correlation regime — coupled, neutral, decoupled or inverse — for each standard "
    "window, and since when. Example: /regime · /regime BTC SPY",
    options=(ASSET, BENCHMARK),
)
async def regime_command(req: Request) -> Reply:
    settings = req.services.settings
    try:
        query = parse_pair_args(req.args, settings.default_pair, settings.default_window, allow_window=False)
    except UsageError as exc:
        return error_reply(str(exc), COMMANDS["regime"].usage)
    windows = [parse_window(w) for w in settings.regime_windows]
    await req.services.market.refresh([query.asset, query.benchmark])
    try:
        data, as_of, rows = await asyncio.to_thread(
            req.services.analysis.regimes, query.asset, query.benchmark, windows, req.as_of
        )
    except (AnalysisError, NoData) as exc:
        return _failure(exc, "regime")
    fields = {
        "asset": query.asset.symbol,
        "benchmark": query.benchmark.symbol,
        "as_of": text.day(as_of.when),
        "stale": as_of.stale,
        "source": data.source,
        "regimes": [
            {"window": r.window.label, "regime": r.regime,
             "since": text.day(r.since) if r.since is not None else None,
             "correlation": None if r.correlation != r.correlation else round(r.correlation, 6),
             "n_obs": r.n_obs}
            for r in rows
        ],
    }
    return Reply(text=text.regime_text(data, as_of, rows), data=fields)


@command("assets", summary="The tickers Decoupler knows; add or remove one",
         help="Every ticker with its kind, market and aliases; * marks bundled offline history. "
         "/assets add SOL adds a crypto asset an exchange lists; /assets add TSLA a US stock, ETF or index "
         "Yahoo knows (checked with the source first); /assets remove SOL forgets an added one. The list is every "
         "chat's: only the bot's operators change it (the command line, or users in OPERATOR_IDS), at most "
         "MAX_CUSTOM_ASSETS added tickers.",
         options=(Option("action", OptionKind.CHOICE, "add or remove a ticker", choices=("add", "remove")),
                  Option("ticker", OptionKind.TEXT, "The ticker, e.g. SOL or TSLA"),
                  Option("kind", OptionKind.CHOICE, "What it is (found out when not given)",
                         choices=("crypto", "stock", "index"))))
async def assets_command(req: Request) -> Reply:
    action = req.args[0].lower() if req.args else None
    if action in ("add", "remove") and not is_operator(req.chat, req.services.settings.operator_ids):
        return error_reply(operators_only(req.chat, f"{action} tickers (the list is every chat's)"))
    if action == "add":
        return await _add_asset(req, req.args[1:])
    if action == "remove":
        return await _remove_asset(req, req.args[1:])
    if req.args:
        return error_reply("Unknown argument.", COMMANDS["assets"].usage)
    known = all_assets()
    lines = ["Tickers (* = history bundled for offline use):"]
    for asset in known:
        aliases = f" — also {', '.join(a for a in asset.aliases if a.isalnum())}" if asset.aliases else ""
        star = "*" if asset.bundled else " "
        lines.append(f"{star} {asset.symbol}: {asset.name} ({asset.kind.value}, {asset.market}){aliases}")
    lines.append(f"Default pair: {req.services.settings.default_pair.replace(':', ' vs ')}.")
    data = {"assets": [{"symbol": a.symbol, "name": a.name, "kind": a.kind.value, "market": a.market,
                        "bundled": a.bundled} for a in known]}
    return Reply(text="\n".join(lines), data=data)


async def _add_asset(req: Request, args: list[str]) -> Reply:
    usage = "/assets add TICKER [crypto|stock|index]"
    if not args or len(args) > 2:
        return error_reply("Name one ticker to add, e.g. /assets add SOL or /assets add TSLA.", usage)
    try:
        asset = await req.services.market.add_asset(args[0], args[1] if len(args) > 1 else None, req.chat.key)
    except LiveDataNeeded as exc:
        return error_reply(f"{exc}.")
    except ValueError as exc:  # AssetRejected: the reason is meant for the user
        return error_reply(f"Cannot add that ticker: {exc}.", usage)
    try:
        last = req.services.market.leg(asset).prices.daily.index[-1]
        history = f" Prices up to {last:%Y-%m-%d} are in."
    except NoData:
        history = " Its history is still loading; try again in a minute."
    where = asset.ccxt if asset.is_crypto else f"Yahoo {asset.yahoo}"
    name = f": {asset.name}" if asset.name != asset.symbol else ""
    text = f"Added {asset.symbol}{name} ({asset.kind.value}, {where}).{history} Try /corr 90d {asset.symbol}."
    return Reply(text=text, data={"added": asset.symbol, "kind": asset.kind.value, "source_symbol": where})


async def _remove_asset(req: Request, args: list[str]) -> Reply:
    usage = "/assets remove TICKER"
    if len(args) != 1:
        return error_reply("Name one added ticker to remove, e.g. /assets remove SOL.", usage)
    known = find_asset(args[0])
    symbol = known.symbol if known else args[0].upper()
    watching = [s for s in await req.services.store.active_subscriptions()
                if symbol in (s.subscription.asset, s.subscription.benchmark)]
    if watching:
        count = f"{len(watching)} subscription{'s' if len(watching) != 1 else ''}"
        return error_reply(f"{shown(symbol)} is watched by {count}; they would stop getting alerts. They can "
                           "/unsubscribe first.")
    try:
        asset = await req.services.market.remove_asset(args[0])
    except LiveDataNeeded as exc:
        return error_reply(f"{exc}.")
    except ValueError as exc:  # AssetRejected: built in, or never added
        return error_reply(f"Cannot remove that ticker: {exc}.", usage)
    return Reply(text=f"Removed {asset.symbol}: /assets add {asset.symbol} brings it back.",
                 data={"removed": asset.symbol})


@command("report", summary="Daily summary for a pair",
         help="Correlation over 30d, 90d and 1y, regime, divergence and records, in a few lines.",
         options=(ASSET, BENCHMARK))
async def report_command(req: Request) -> Reply:
    settings = req.services.settings
    try:
        query = parse_pair_args(req.args, settings.default_pair, settings.default_window, allow_window=False)
        results = [
            await _correlation(req, PairQuery(parse_window(w), query.asset, query.benchmark), "report")
            for w in settings.regime_windows
        ]
    except UsageError as exc:
        return error_reply(str(exc), COMMANDS["report"].usage)
    except CommandFailed as failed:
        return failed.reply
    return Reply(text=text.report_text(results), data={"report": [text.corr_fields(r) for r in results]})
