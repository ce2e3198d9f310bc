"""Alert commands: /history (this chat's last alerts) and /preview (what its settings would have fired)."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.alerts.kinds import DEFAULT_KINDS
from bot.alerts.payload import instance_key
from bot.render.alert_text import history_text, preview_text
from bot.reply import Reply, error_reply
from bot.windows import parse_window
from handlers.parsing import UsageError, parse_pair_args
from handlers.registry import ASSET, BENCHMARK, COMMANDS, Option, OptionKind, Request, command

HISTORY_DEFAULT, HISTORY_MAX = 10, 30


@command(
    "history",
    summary="This chat's last alerts",
    help=f"The last alerts sent to (or held for) this chat, newest first, with when they went out. "
    f"Default {HISTORY_DEFAULT}, at most {HISTORY_MAX}. Example: /history 20",
    options=(Option("count", OptionKind.INT, f"How many alerts to show (1 to {HISTORY_MAX})"),),
)
async def history_command(req: Request) -> Reply:
    if len(req.args) > 1 or (req.args and not req.args[0].isdigit()):
        return error_reply("Give how many alerts to show, e.g. /history 20", COMMANDS["history"].usage)
    limit = min(int(req.args[0]), HISTORY_MAX) if req.args else HISTORY_DEFAULT
    chat = await req.services.store.get_chat(req.chat.platform, req.chat.chat_id)
    now = datetime.now(UTC)
    if chat is None:
        return Reply(text=history_text([], limit, now, "UTC"), data={"alerts": []})
    items = await req.services.alerts.history(chat, max(limit, 1))
    return Reply(text=history_text(items, limit, now, chat.timezone), data={"limit": limit})


@command(
    "preview",
    summary="What this chat's alerts would have fired lately",
    help="Replays this chat's subscriptions — pairs, window, thresholds and alert kinds — over the last two "
    "years of data: how many alerts of each kind, and the latest few. Without subscriptions, the chat's "
    "defaults for the default pair. Example: /preview · /preview BTC SPY",
    options=(ASSET, BENCHMARK),
)
async def preview_command(req: Request) -> Reply:
    settings = req.services.settings
    try:
        query = parse_pair_args(req.args, settings.default_pair, settings.default_window, allow_window=False) \
            if req.args else None
    except UsageError as problem:
        return error_reply(str(problem), COMMANDS["preview"].usage)
    chat = await req.services.store.get_chat(req.chat.platform, req.chat.chat_id)
    subscriptions = await req.services.store.list_subscriptions(chat) if chat else []
    wanted = [
        (instance_key(s.asset, s.benchmark, s.window_days, s.thresholds), s.kinds)
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
    result = await req.services.alerts.preview(wanted)
    sections = [(section.params, section.events) for section in result.sections]
    return Reply(
        text=preview_text(sections, result.start, result.end),
        data={"from": f"{result.start:%Y-%m-%d}", "to": f"{result.end:%Y-%m-%d}",
              "pairs": {p.pair: len(events) for p, events in sections}},
    )
