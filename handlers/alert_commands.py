"""Alert commands: /history (this chat's last alerts) and /preview (what its settings would have fired)."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot.alerts.kinds import DEFAULT_KINDS
from bot.analysis.errors import AnalysisError
from bot.assets import Asset, find_asset
from bot.market.errors import NoData
from bot.ports.reply import Reply, error_reply
from bot.ports.services import Services
from bot.store.alert_records import InstanceKey
from bot.windows import parse_window
from handlers.parsing import UsageError, parse_pair_args
from handlers.registry import ASSET, BENCHMARK, COMMANDS, Option, OptionKind, Request, command

if TYPE_CHECKING:
    from bot.alerts.preview import Preview

HISTORY_DEFAULT, HISTORY_MAX = 10, 30


@command(
    "history",
    summary="This chat's last alerts",
    help=f"The last alerts sent to (or held for) this chat, newest first, with when they went out. "
    f"Default {HISTORY_DEFAULT}, at most {HISTORY_MAX}. Example: /history 20",
    options=(Option("count", OptionKind.INT, f"How many alerts to show (1 to {HISTORY_MAX})",
                    max_value=HISTORY_MAX),),
)
async def history_command(req: Request) -> Reply:
    from bot.render.alert_text import history_text
    count = _count(req.args[0]) if len(req.args) == 1 else None
    if req.args and not count:
        return error_reply(f"Give how many alerts to show, as a number from 1 to {HISTORY_MAX}, e.g. /history 20",
                           COMMANDS["history"].usage)
    limit = min(count, HISTORY_MAX) if count else HISTORY_DEFAULT
    chat = await req.services.store.get_chat(req.chat.platform, req.chat.chat_id)
    now = datetime.now(UTC)
    if chat is None:
        return Reply(text=history_text([], limit, now, "UTC"), data={"limit": limit, "alerts": []})
    items = await req.services.alerts.history(chat, limit)
    return Reply(text=history_text(items, limit, now, chat.timezone), data={"limit": limit})


def _count(word: str) -> int | None:
    """A count in decimal digits of any script (20, ٢٠, ２０); None for anything else. `str.isdigit()` is
    no test: it is true for ², ① and other digits that int() refuses."""
    if not word or not all(unicodedata.decimal(c, None) is not None for c in word):
        return None
    return int(word)


@command(
    "preview",
    summary="What this chat's alerts would have fired lately",
    help="Replays this chat's subscriptions — pairs, window, thresholds and alert kinds — over the last two "
    "years of data: how many alerts of each kind, and the latest few. Without subscriptions, the chat's "
    "defaults for the default pair. Example: /preview · /preview BTC SPY",
    options=(ASSET, BENCHMARK),
)
async def preview_command(req: Request) -> Reply:
    from bot.alerts.payload import instance_key
    from bot.render.alert_text import alert_fields, preview_text
    settings = req.services.settings
    try:
        query = parse_pair_args(req.args, settings.default_pair, settings.default_window, allow_window=False) \
            if req.args else None
    except UsageError as problem:
        return error_reply(str(problem), COMMANDS["preview"].usage)
    chat = await req.services.store.get_chat(req.chat.platform, req.chat.chat_id)
    subscriptions = await req.services.store.list_subscriptions(chat) if chat else []
    wanted = [
        (instance_key(*s.legs, s.window_days, s.thresholds), s.kinds)
        for s in subscriptions
        if not s.universe_wide
        and (query is None or (s.asset, s.benchmark) == (query.asset.symbol, query.benchmark.symbol))
    ]
    if not wanted:
        asset, benchmark = (query.asset.symbol, query.benchmark.symbol) if query else settings.default_pair.split(":")
        window = (chat.default_window_days if chat and chat.default_window_days
                  else parse_window(settings.default_window).days)
        overrides = chat.default_thresholds if chat else {}
        wanted = [(instance_key(asset, benchmark, window, overrides), DEFAULT_KINDS)]
    result, skipped = await _preview(req.services, wanted)
    if result is None:  # no pair has data: say why, in one line
        reasons = "; ".join(f"{_pair_label(key)}: {reason}" for key, reason in skipped)
        return error_reply(f"No preview for {reasons}.")
    sections = [(section.params, section.events) for section in result.sections]
    lines = [preview_text(sections, result.start, result.end)]
    lines += [f"• {_pair_label(key)}: no preview ({reason})." for key, reason in skipped]
    return Reply(
        text="\n".join(lines),
        data={"from": f"{result.start:%Y-%m-%d}", "to": f"{result.end:%Y-%m-%d}",
              "pairs": {p.pair: len(events) for p, events in sections},
              "events": [alert_fields(event, p) for p, events in sections for event in events],
              "skipped": {f"{key.asset}:{key.benchmark}": reason for key, reason in skipped}},
    )


Wanted = list[tuple[InstanceKey, frozenset[str]]]


async def _preview(services: Services, wanted: Wanted) -> tuple[Preview | None, list[tuple[InstanceKey, str]]]:
    """The replay of every wanted pair that has prices, and the others with the reason they have none (a
    ticker without bundled history in snapshot mode, a leg whose live fetch failed, a ticker no longer
    known). None when no pair has any."""
    from bot.alerts.preview import Preview
    symbols = {symbol for key, _ in wanted for symbol in (key.asset, key.benchmark)}
    assets = {symbol: find_asset(symbol) for symbol in sorted(symbols)}
    await services.market.refresh([asset for asset in assets.values() if asset is not None])
    missing = {symbol: _no_prices(services, symbol, asset) for symbol, asset in assets.items()}
    ready: Wanted = []
    skipped: list[tuple[InstanceKey, str]] = []
    for key, kinds in wanted:
        reason = missing[key.asset] or missing[key.benchmark]
        if reason is None:
            ready.append((key, kinds))
        else:
            skipped.append((key, reason))
    if not ready:
        return None, skipped
    try:
        return await services.alerts.preview(ready), skipped
    except (NoData, AnalysisError):
        pass  # a pair whose data gave out between the check and the replay: find out which, one by one
    previews: list[Preview] = []
    for key, kinds in ready:
        try:
            previews.append(await services.alerts.preview([(key, kinds)]))
        except (NoData, AnalysisError) as exc:
            skipped.append((key, str(exc).rstrip(".")))
    if not previews:
        return None, skipped
    end = max(p.end for p in previews)
    span = previews[0].end - previews[0].start
    return Preview(end - span, end, [section for p in previews for section in p.sections]), skipped


def _no_prices(services: Services, symbol: str, asset: Asset | None) -> str | None:
    if asset is None:
        return f"{symbol} is not a ticker this bot knows (see /assets)"
    try:
        services.market.leg(asset)
    except NoData as exc:
        return str(exc).rstrip(".")
    return None


def _pair_label(key: InstanceKey) -> str:
    return f"{key.asset} vs {key.benchmark}"
