"""/odds: how past gaps like today's ended (docs/methods.md §10). Today's gap is /gap's; the numbers come from
bot/analysis/odds.py, the words from bot/render/odds_text.py, the chart from bot/render/odds_chart.py."""

from __future__ import annotations

import asyncio

from bot.analysis.errors import AnalysisError
from bot.assets import all_assets
from bot.market.errors import NoData
from bot.ports.reply import Button, Reply, error_reply
from bot.render.text import day
from bot.windows import parse_window
from handlers.gap_commands import SINCE, GapQuery, parse_gap_args
from handlers.parsing import UsageError, failure_reply
from handlers.registry import ASSET, BENCHMARK, COMMANDS, Option, OptionKind, Request, command

POOLED_WORD = "all"
POOLED = Option("pooled", OptionKind.CHOICE, "all: pool the episodes of every pair of the universe",
                choices=(POOLED_WORD,))


def parse_odds_args(args: list[str], default_pair: str, default_window: str) -> tuple[GapQuery, bool]:
    """`[asset] [benchmark] [since YYYY-MM-DD] [all]`, in any order."""
    pooled = any(token.lower() == POOLED_WORD for token in args)
    rest = [token for token in args if token.lower() != POOLED_WORD]
    try:
        return parse_gap_args(rest, default_pair, default_window), pooled
    except UsageError as exc:
        raise UsageError(str(exc).replace("/gap", "/odds")) from None


@command(
    "odds", summary="Permanent or temporary? How past gaps like this ended",
    help="Today's gap (as /gap measures it, in units of its normal wander: gap_z) against the pair's past gap "
    "episodes: how many reached a gap this size, how many closed within 20, 60 and 120 sessions (Kaplan–Meier, "
    "95% intervals), the median time to close, and whether the asset or the benchmark did the closing. An "
    "episode starts when |gap_z| reaches 1.5 after the end of a coupled regime and ends when the move to close "
    "is within 5%. Fewer than 5 comparable episodes are listed, not estimated; 'all' pools every pair of the "
    "universe (not independent).\n"
    "Examples: /odds · /odds BTC SPY · /odds ETH RUT since 2025-07-25 · /odds ETH RUT all",
    chart=True, options=(ASSET, BENCHMARK, SINCE, POOLED),
)
async def odds_command(req: Request) -> Reply:
    from bot.analysis.gap_results import CoupledNow
    from bot.analysis.odds import OddsService
    from bot.render import odds_text
    usage = COMMANDS["odds"].usage
    settings = req.services.settings
    try:
        query, pooled = parse_odds_args(req.args, settings.default_pair, settings.default_window)
    except UsageError as exc:
        return error_reply(str(exc), usage)
    await req.services.market.refresh(list(all_assets()) if pooled else [query.asset, query.benchmark])
    window = parse_window(settings.default_window)
    service = OddsService(req.services.analysis)
    try:
        pairs = req.services.scanner.universe().pairs if pooled else []
        result = await asyncio.to_thread(service.odds, query.asset, query.benchmark, window, pairs, query.since,
                                         req.as_of, pooled)
    except (AnalysisError, NoData) as exc:
        return failure_reply(exc, COMMANDS["odds"].usage)
    if isinstance(result, CoupledNow):
        suggestion = (None if result.suggested_anchor is None else
                      f"/odds {query.asset.symbol} {query.benchmark.symbol} since {day(result.suggested_anchor)}")
        buttons = [] if suggestion is None else [[Button(f"since {day(result.suggested_anchor)}", suggestion)]]
        return Reply(text=odds_text.coupled_text(result, suggestion), buttons=buttons,
                     data=odds_text.coupled_fields(result))
    chart = None
    if req.want_chart and result.summary.n:
        from bot.render.odds_chart import render_odds_chart  # matplotlib: only when a chart is drawn

        chart = await asyncio.to_thread(render_odds_chart, result, req.theme)
    when = result.today.gap.pair.when
    name = f"odds-{query.asset.symbol}-{query.benchmark.symbol}-{'all-' if pooled else ''}{when:%Y%m%d}.png"
    return Reply(text=odds_text.odds_text(result), chart=chart, chart_name=name,
                 data=odds_text.odds_fields(result))
