"""Alert commands: /history (this chat's last alerts) and /preview (what its settings would have fired)."""

from __future__ import annotations

from bot.alerts.payload import instance_key
from bot.render import text
from bot.reply import Reply, error_reply
from bot.store.models import ALL_ALERT_KINDS
from bot.windows import parse_window
from handlers.parsing import UsageError, parse_pair_args
from handlers.registry import COMMANDS, Request, command

HISTORY_DEFAULT, HISTORY_MAX = 10, 30
NO_ALERTS = "Alerts need the database and the alert engine, which aren't running right now. Please try again later."


def _alerts(req: Request):  # the AlertService, or None
    services = req.services
    return getattr(services, "alerts", None) if getattr(services, "store", None) is not None else None


@command(
    "history", "[count]",
    summary="This chat's last alerts",
    help=f"The last alerts sent to (or held for) this chat, newest first, with when they went out. "
    f"Default {HISTORY_DEFAULT}, at most {HISTORY_MAX}. Example: /history 20",
    options=("count",),
)
async def history_command(req: Request) -> Reply:
    alerts = _alerts(req)
    if alerts is None:
        return error_reply(NO_ALERTS)
    if len(req.args) > 1 or (req.args and not req.args[0].isdigit()):
        return error_reply("Give how many alerts to show, e.g. /history 20", COMMANDS["history"].usage)
    limit = min(int(req.args[0]), HISTORY_MAX) if req.args else HISTORY_DEFAULT
    chat = await req.services.store.get_chat(req.chat.platform, req.chat.chat_id)
    if chat is None:
        return Reply(text=text.history_text([], limit), data={"alerts": []})
    return Reply(text=await alerts.history_text(chat, max(limit, 1)), data={"limit": limit})


@command(
    "preview", "[asset benchmark]",
    summary="What this chat's alerts would have fired lately",
    help="Replays this chat's subscriptions — pairs, window, thresholds and alert kinds — over the last two "
    "years of data: how many alerts of each kind, and the latest few. Without subscriptions, the chat's "
    "defaults for the default pair. Example: /preview · /preview BTC SPY",
    slow=True, options=("asset", "benchmark"),
)
async def preview_command(req: Request) -> Reply:
    alerts = _alerts(req)
    if alerts is None:
        return error_reply(NO_ALERTS)
    settings = req.services.settings
    try:
        query = parse_pair_args(req.args, settings.default_pair, settings.default_window, allow_window=False) \
            if req.args else None
    except UsageError as problem:
        return error_reply(str(problem), COMMANDS["preview"].usage)
    chat = await req.services.store.get_chat(req.chat.platform, req.chat.chat_id)
    subscriptions = await req.services.store.list_subscriptions(chat) if chat else []
    wanted = [
        (instance_key(s.asset, s.benchmark, s.window_days, s.thresholds), frozenset(k.value for k in s.kinds))
        for s in subscriptions
        if query is None or (s.asset, s.benchmark) == (query.asset.symbol, query.benchmark.symbol)
    ]
    if not wanted:
        asset, benchmark = (query.asset.symbol, query.benchmark.symbol) if query else settings.default_pair.split(":")
        window = (chat.default_window_days if chat and chat.default_window_days
                  else parse_window(settings.default_window).days)
        overrides = chat.default_thresholds if chat else {}
        wanted = [(instance_key(asset, benchmark, window, overrides), frozenset(k.value for k in ALL_ALERT_KINDS))]
    result = await alerts.preview(wanted)
    sections = [(section.params, section.events) for section in result.sections]
    return Reply(
        text=text.preview_text(sections, result.start, result.end),
        data={"from": f"{result.start:%Y-%m-%d}", "to": f"{result.end:%Y-%m-%d}",
              "pairs": {p.pair: len(events) for p, events in sections}},
    )
