"""`python -m bot backfill [--assets ETH,RUT] [--since 2021-01-01]` and `python -m bot doctor` (bot/market/backfill.py
does the work)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from bot.cli import USAGE_ERROR
from bot.cli.chat import parse_date

if TYPE_CHECKING:
    import pandas as pd

    from bot.app import App
    from bot.assets import Asset
    from bot.market.cache import PriceCache

BACKFILL_RETRIES = 2


def add_commands(subparsers: Any) -> None:
    backfill = subparsers.add_parser("backfill", help="fill the price cache from the live sources, with progress")
    backfill.add_argument("--assets", type=_symbols, help="comma-separated tickers (default: all known assets)")
    backfill.add_argument("--since", type=parse_date, help="fetch everything from this date (YYYY-MM-DD) again")
    backfill.set_defaults(handler=run_backfill)
    doctor = subparsers.add_parser("doctor", help="per asset: source, last bar, age, last error")
    doctor.add_argument("--assets", type=_symbols, help="comma-separated tickers (default: all known assets)")
    doctor.set_defaults(handler=run_doctor)


def _symbols(text: str) -> list[str]:
    symbols = [s.strip().upper() for s in text.replace(" ", ",").split(",") if s.strip()]
    if not symbols:
        raise argparse.ArgumentTypeError("name at least one ticker, e.g. ETH,RUT")
    return symbols


async def run_backfill(app: App, args: argparse.Namespace) -> int:
    from bot.market.backfill import backfill, resolve_assets
    from bot.market.live import real_clock

    assets = await resolve_assets(app.price_cache, args.assets)
    if assets is None:
        return USAGE_ERROR
    sources = app.sources(retries=BACKFILL_RETRIES)
    try:
        results = await backfill(app.price_cache, sources, assets, args.since, clock=real_clock,
                                 cooldown_seconds=app.settings.source_cooldown_seconds)
    finally:
        await sources.close()
    return 0 if all(r.ok for r in results) else 1


async def run_doctor(app: App, args: argparse.Namespace) -> int:
    from bot.market.backfill import resolve_assets
    from bot.market.live import real_clock

    assets = await resolve_assets(app.price_cache, args.assets)
    if assets is None:
        return USAGE_ERROR
    print(await doctor_report(app.price_cache, assets, real_clock()))
    return 0


async def doctor_report(cache: PriceCache, assets: list[Asset], now: pd.Timestamp) -> str:
    """The price cache's state per series, as `python -m bot market doctor` prints it."""
    from bot.market.live import series_status
    from bot.market.sources.base import naive_utc
    from bot.render.status import status_lines

    statuses = await series_status(cache, assets, now)
    head = f"Price cache at {naive_utc(now):%Y-%m-%d %H:%M} UTC (ages count from the end of each bar):"
    return "\n".join([head, *status_lines(statuses, now)])
