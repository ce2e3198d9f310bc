"""Universe commands: /scan ranks the pairs by how much they are decoupling, /matrix draws the correlations."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

from bot.analysis.errors import AnalysisError
from bot.analysis.scan_results import MATRIX_MAX_ASSETS, SCAN_TOP
from bot.assets import Asset, all_assets
from bot.market.errors import NoData
from bot.ports.reply import Reply, error_reply
from bot.windows import Window, WindowError, looks_like_window, parse_window
from handlers.parsing import UsageError, resolve_asset, shown
from handlers.registry import COMMANDS, WINDOW, Option, OptionKind, Request, command

MAX_TOP = 50  # the most rows a slash command offers (a chat message holds about that many)
TOP = Option("top", OptionKind.INT, f"How many pairs to show (default {SCAN_TOP})",
             placeholder="top N", max_value=MAX_TOP)
ASSETS = Option("assets", OptionKind.TEXT, "Tickers to include, e.g. ETH BTC SPY (default: the universe)",
                placeholder="assets…")


@dataclass(frozen=True)
class ScanQuery:
    window: Window
    top: int | None  # None: the default, SCAN_TOP or the whole universe if smaller
    bare_top: bool = False  # N given as a bare number (as Discord sends it, or a window without its unit)


def _window(token: str, window: Window | None) -> Window:
    if window is not None:
        raise UsageError("Give one window only")
    try:
        return parse_window(token)
    except WindowError as exc:
        raise UsageError(str(exc)) from None


def _top(token: str) -> int:
    if not re.fullmatch(r"[0-9]{1,6}", token):
        raise UsageError(f"'{shown(token)}' is not a number of pairs: top N takes a whole number, e.g. top 5")
    value = int(token)
    if value < 1:
        raise UsageError("top N must be at least 1")
    return value


def parse_scan_args(args: list[str], default_window: str) -> ScanQuery:
    """`[window] [top N]`, in any order; a bare number is N (Discord sends the option's value alone)."""
    window: Window | None = None
    top: int | None = None
    bare = False
    tokens = list(args)
    while tokens:
        token = tokens.pop(0)
        low = token.lower()
        if low == "top" or (low.startswith("top") and low[3:].isdigit()):
            number = low[3:] or (tokens.pop(0) if tokens else "")
            if not number:
                raise UsageError("top needs a number, e.g. top 5")
            if top is not None:
                raise UsageError("Give top N once")
            top = _top(number)
        elif re.fullmatch(r"[0-9]+", token):
            if top is not None:
                raise UsageError("Give top N once")
            top, bare = _top(token), True
        elif looks_like_window(token):
            window = _window(token, window)
        else:
            raise UsageError(f"Unknown argument '{shown(token)}': /scan takes a window and top N")
    return ScanQuery(window or parse_window(default_window), top, bare)


def parse_matrix_args(args: list[str], default_window: str) -> tuple[Window, list[Asset] | None]:
    """`[window] [assets…]`, in any order; ETH:RUT and ETH/RUT name two tickers in one word."""
    window: Window | None = None
    assets: list[Asset] = []
    for token in (part for arg in args for part in re.split(r"[:/,]", arg) if part):
        if looks_like_window(token):
            window = _window(token, window)
        else:
            asset = resolve_asset(token)
            if asset not in assets:
                assets.append(asset)
    if len(assets) == 1:
        raise UsageError(f"Name at least two tickers (or none for the whole universe), not only {assets[0].symbol}")
    if len(assets) > MATRIX_MAX_ASSETS:
        raise UsageError(f"At most {MATRIX_MAX_ASSETS} tickers in a matrix")
    return window or parse_window(default_window), assets or None


def _failure(exc: Exception, name: str) -> Reply:
    message = str(exc).split("\n", 1)[0]
    return error_reply(f"{message[:1].upper()}{message[1:]}.", COMMANDS[name].usage)


@command(
    "scan", summary="Rank every pair by how much it is decoupling",
    help="Every crypto asset against every equity/index benchmark with data, ranked by how far the window's "
    "correlation fell over the last 20 sessions (20 per year of window beyond a year), in standard errors of that "
    "fall: (atanh ρ_then − atanh ρ_now) / √(1/(n_now−3) + 1/(n_then−3) − 2m/√(n_now·n_then·(n_now−3)(n_then−3))), "
    "m the returns both windows share, about N(0,1) under no change at every window (a ranking aid, not a test; "
    "ties: larger divergence z first). Each row: correlation now and then, regime, divergence z, n. "
    f"Window as in /corr (default 90d); top N rows (default {SCAN_TOP}).\n"
    "Examples: /scan · /scan 1y · /scan 30d top 5",
    options=(WINDOW, TOP),
)
async def scan_command(req: Request) -> Reply:
    from bot.render import scan_text
    usage = COMMANDS["scan"].usage
    try:
        query = parse_scan_args(req.args, req.services.settings.default_window)
    except UsageError as exc:
        return error_reply(str(exc), usage)
    await req.services.market.refresh(list(all_assets()))
    try:
        result = await asyncio.to_thread(req.services.scanner.scan, query.window, req.as_of)
    except (AnalysisError, NoData) as exc:
        return _failure(exc, "scan")
    if not result.rows:
        reason = result.skipped[0].reason if result.skipped else "no pair has an answer"
        return error_reply(f"No pair can be ranked: {reason}.", usage)
    if query.top is not None and query.top > result.universe_size:
        hint = f" (a {query.top}-day window is written {query.top}d)" if query.bare_top else ""
        return error_reply(f"top N goes up to {result.universe_size}, the pairs in the universe{hint}", usage)
    top = query.top or SCAN_TOP
    return Reply(text=scan_text.scan_text(result, top), data=scan_text.scan_fields(result, top))


@command(
    "matrix", summary="Correlation heatmap of the universe's tickers",
    help="A heatmap of the window's return correlations of every pair of tickers, each cell the correlation "
    "/corr gives that pair (crypto at the US close against equities). Default: every ticker with data, "
    "crypto first. Examples: /matrix · /matrix 1y · /matrix 90d ETH BTC SPY QQQ",
    chart=True, options=(WINDOW, ASSETS),
)
async def matrix_command(req: Request) -> Reply:
    from bot.render import scan_text
    usage = COMMANDS["matrix"].usage
    try:
        window, assets = parse_matrix_args(req.args, req.services.settings.default_window)
    except UsageError as exc:
        return error_reply(str(exc), usage)
    await req.services.market.refresh(assets or list(all_assets()))
    try:
        matrix = await asyncio.to_thread(req.services.scanner.matrix, window, assets, req.as_of)
    except (AnalysisError, NoData) as exc:
        return _failure(exc, "matrix")
    chart = None
    if req.want_chart:
        from bot.render.heatmap import render_matrix  # matplotlib: only when a heatmap is drawn

        chart = await asyncio.to_thread(render_matrix, matrix, req.theme)
    name = f"matrix-{window.label}-{matrix.as_of.when:%Y%m%d}.png"
    return Reply(text=scan_text.matrix_caption(matrix), chart=chart, chart_name=name,
                 data=scan_text.matrix_fields(matrix))
