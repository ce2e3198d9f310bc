"""/status: where each asset's prices come from, how old they are, and the last error per source."""

from __future__ import annotations

import logging
from typing import Any

from bot.assets import Asset, all_assets, find_asset, is_custom
from bot.ports.reply import Reply
from bot.store import StoreUnavailable
from handlers.registry import Request, command

log = logging.getLogger(__name__)

MODE_WORDS = {
    "auto": "live sources, falling back to the cache and the bundled snapshot",
    "live": "live sources only (no fallback)",
    "snapshot": "the bundled snapshot only (no network)",
}


async def _assets_to_show(req: Request) -> list[Asset]:
    """The default pair, subscribed assets, bundled and user-added assets — each once, in that order."""
    services = req.services
    names = services.settings.default_pair.split(":")
    try:
        for item in await services.store.active_subscriptions():
            if not item.subscription.universe_wide:
                names += item.subscription.legs
    except StoreUnavailable as down:  # the data half of /status is still worth sending
        log.warning("/status without subscribed assets: %s", down)
    found = [find_asset(n) for n in names]
    listed = [a for a in found if a is not None]
    listed += [a for a in all_assets() if a.bundled or is_custom(a)]
    return list({a.symbol: a for a in listed}.values())


@command("status", summary="Data sources: freshness and last errors",
         help="Per asset: where its prices come from (live, cache or bundled snapshot), its last bar and how "
         "old it is, and the last error of its sources; then the alert engine's status: the last session "
         "evaluated, sessions waiting for data and rule instances that could not be evaluated.")
async def status_command(req: Request) -> Reply:
    from bot.render.alert_text import evaluation_status_lines
    from bot.render.status import status_lines
    services = req.services
    market = services.market
    mode = services.settings.market_data.value
    assets = await _assets_to_show(req)
    lines = [f"Market data: {MODE_WORDS.get(mode, mode)} (MARKET_DATA={mode})."]
    data: dict[str, Any] = {"mode": mode, "assets": []}
    rows = await market.status(assets)
    lines += status_lines(rows, market.now())
    data["assets"] = [
        {"symbol": r.symbol, "source": r.label,
         "series": [{"interval": s.interval, "origin": s.origin, "behind": s.behind, "last_error": s.last_error,
                     "last_bar": None if s.last_bar is None else s.last_bar.isoformat()} for s in r.series]}
        for r in rows
    ]
    try:
        alert_status = await services.alerts.status()
        alert_lines = evaluation_status_lines(alert_status)
        data["alerts"] = {
            "waiting": [{"calendar": w.calendar, "session": f"{w.session:%Y-%m-%d}", "detail": w.detail}
                        for w in alert_status.waiting],
            "failed": [{"calendar": f.calendar, "session": f"{f.session:%Y-%m-%d}", "pair": f.pair,
                        "error": f.error} for f in alert_status.failed],
        }
    except StoreUnavailable as down:
        alert_lines = [f"Alerts: status unavailable ({down})."]
    except Exception:  # the data half of /status is still worth sending
        log.exception("alert engine status failed")
        alert_lines = ["Alerts: status unavailable (logged)."]
    lines += ["", *alert_lines, *await _this_chat_lines(req, data)]
    return Reply(text="\n".join(lines), data=data)


async def _this_chat_lines(req: Request, data: dict[str, Any]) -> list[str]:
    """Alerts to this chat stopped after a send failed (the bot removed, or a permission it lacks): say why."""
    try:
        chat = await req.services.store.get_chat(req.chat.platform, req.chat.chat_id)
    except StoreUnavailable:
        return []
    if chat is None or chat.active:
        return []
    data["chat"] = {"active": False, "reason": chat.inactive_reason}
    reason = chat.inactive_reason or "a send failed"
    hint = (" The bot lacks a permission it needs here (alerts need View Channel, Send Messages, Embed Links "
            "and Attach Files); they resume once it has them." if "permission" in reason or "access" in reason
            else "")
    return ["", f"Alerts to this chat are paused: {reason}.{hint}"]
