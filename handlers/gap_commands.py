"""/gap: how far the asset is from where its pre-decoupling beta to the benchmark puts it, and the move that
would close the gap (docs/methods.md §8). The numbers come from bot/analysis/gap.py, the words from
bot/render/gap_text.py, the chart from bot/render/gap_chart.py."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from dataclasses import dataclass

from bot.analysis.errors import AnalysisError
from bot.assets import Asset
from bot.market.errors import NoData
from bot.ports.reply import Button, Reply, error_reply
from bot.windows import parse_window
from handlers.parsing import UsageError, failure_reply, parse_pair_args, shown
from handlers.registry import ASSET, BENCHMARK, COMMANDS, Option, OptionKind, Request, command

SINCE = Option("since", OptionKind.TEXT, "Anchor date, YYYY-MM-DD (default: where the last coupled regime ended)",
               placeholder="since YYYY-MM-DD", keyword=True)
_DATE_LIKE = re.compile(r"^\d{4}-")  # a token meant as a date, even a malformed one
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class GapQuery:
    asset: Asset
    benchmark: Asset
    since: dt.date | None
    alpha: bool = False  # say the intercept the beta line leaves out (docs/methods.md §8.2)


def _date(token: str) -> dt.date:
    if _DATE.fullmatch(token):
        try:
            return dt.date.fromisoformat(token)
        except ValueError:
            pass
    raise UsageError(f"'{shown(token)}' is not a date: use YYYY-MM-DD, e.g. since 2025-07-25")


def parse_gap_args(args: list[str], default_pair: str, default_window: str) -> GapQuery:
    """`[asset] [benchmark] [since YYYY-MM-DD] [alpha]`, in any order; a bare date is the since date (Discord sends
    the option's value alone)."""
    since: dt.date | None = None
    alpha = False
    tickers: list[str] = []
    tokens = list(args)
    while tokens:
        token = tokens.pop(0)
        low = token.lower()
        if low == "since" or low.startswith("since="):
            value = low.partition("=")[2] or (tokens.pop(0) if tokens else "")
            if not value:
                raise UsageError("since needs a date, e.g. since 2025-07-25")
            date = _date(value)
        elif _DATE_LIKE.match(token):
            date = _date(token)
        elif low == "alpha":
            alpha = True
            continue
        else:
            tickers.append(token)
            continue
        if since is not None:
            raise UsageError("Give one since date only")
        since = date
    try:
        query = parse_pair_args(tickers, default_pair, default_window, allow_window=False)
    except UsageError as exc:
        if str(exc) == "This command takes no window":
            raise UsageError("/gap takes no window: give a start date instead, e.g. since 2025-07-25") from None
        raise
    return GapQuery(query.asset, query.benchmark, since, alpha)


@command(
    "gap", summary="Will the gap close? The move back to the beta line",
    help="How far the asset is from where its beta to the benchmark puts it, and the move that closes the gap: "
    "the asset's alone, or the benchmark's alone (arithmetic, not a forecast), led by how unusual the gap is in "
    "standard deviations of the pair's wander. Beta is fitted on the year before the anchor: the since date, "
    "or else the session before the pair's last coupled regime (90-day window) began to end; a pair coupled now "
    "has no gap to close unless you give a date. Add 'alpha' to see the intercept the beta line leaves out.\n"
    "Examples: /gap · /gap BTC SPY · /gap ETH RUT since 2025-07-25 · /gap BTC SPY since 2024-12-01 alpha",
    chart=True, options=(ASSET, BENCHMARK, SINCE),
)
async def gap_command(req: Request) -> Reply:
    from bot.render import gap_text
    usage = COMMANDS["gap"].usage
    settings = req.services.settings
    try:
        query = parse_gap_args(req.args, settings.default_pair, settings.default_window)
    except UsageError as exc:
        return error_reply(str(exc), usage)
    await req.services.market.refresh([query.asset, query.benchmark])
    from bot.analysis.gap import GapService  # the analyzer and the calendars: only when asked
    from bot.analysis.gap_results import CoupledNow

    service = GapService(req.services.analysis)
    window = parse_window(settings.default_window)
    try:
        result = await asyncio.to_thread(service.gap, query.asset, query.benchmark, window, query.since, req.as_of)
    except (AnalysisError, NoData) as exc:
        return failure_reply(exc, COMMANDS["gap"].usage)
    if isinstance(result, CoupledNow):
        suggestion = gap_text.suggestion(result)
        buttons = [] if suggestion is None else [[Button(suggestion.removeprefix(f"/gap {query.asset.symbol} "
                                                                                f"{query.benchmark.symbol} "),
                                                         suggestion)]]
        return Reply(text=gap_text.coupled_text(result), buttons=buttons, data=gap_text.coupled_fields(result))
    chart = None
    if req.want_chart:
        from bot.render.gap_chart import render_gap_chart  # matplotlib: only when a chart is drawn

        chart = await asyncio.to_thread(render_gap_chart, result, req.theme)
    name = (f"gap-{query.asset.symbol}-{query.benchmark.symbol}-{result.anchor:%Y%m%d}-"
            f"{result.pair.when:%Y%m%d}.png")
    return Reply(text=gap_text.gap_text(result, query.alpha), chart=chart, chart_name=name,
                 data=gap_text.gap_fields(result))
