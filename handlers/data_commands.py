"""/status: where each asset's prices come from, how old they are, and the last error per source."""

from __future__ import annotations

import logging
from typing import Any

from bot.assets import Asset, all_assets, find_asset, is_custom
from bot.reply import Reply
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
    store = services.store
    if store is not None and hasattr(store, "active_subscriptions"):
        for item in await store.active_subscriptions():
            names += [item.subscription.asset, item.subscription.benchmark]
    found = [find_asset(n) for n in names]
    listed = [a for a in found if a is not None]
    listed += [a for a in all_assets() if a.bundled or is_custom(a)]
    return list({a.symbol: a for a in listed}.values())


@command("status", "", summary="Data sources: freshness and last errors",
         help="Per asset: where its prices come from (live, cache or bundled snapshot), its last bar and how "
         "old it is, and the last error of its sources; then the alert engine's status.")
async def status_command(req: Request) -> Reply:
    services = req.services
    market = services.market
    mode = services.settings.market_data.value
    assets = await _assets_to_show(req)
    lines = [f"Market data: {MODE_WORDS.get(mode, mode)} (MARKET_DATA={mode})."]
    data: dict[str, Any] = {"mode": mode, "assets": []}
    status = getattr(market, "status", None)
    if status is not None:
        from bot.market.live import status_lines

        rows = await status(assets)
        lines += status_lines(rows, market.now())
        data["assets"] = [
            {"symbol": r.symbol, "source": r.label,
             "series": [{"interval": s.interval, "origin": s.origin, "behind": s.behind, "last_error": s.last_error,
                         "last_bar": None if s.last_bar is None else s.last_bar.isoformat()} for s in r.series]}
            for r in rows
        ]
    else:
        for asset in assets:
            try:
                last = market.leg(asset).prices.daily.index[-1]
            except LookupError:
                lines.append(f"{asset.symbol}: no bundled history")
                continue
            lines.append(f"{asset.symbol}: snapshot, last daily bar {last:%Y-%m-%d}")
            data["assets"].append({"symbol": asset.symbol, "source": "snapshot", "last_bar": f"{last:%Y-%m-%d}"})
    alerts = services.alerts
    if alerts is not None and hasattr(alerts, "status_lines"):
        try:
            alert_lines = await alerts.status_lines()
        except Exception:  # the data half of /status is still worth sending
            log.exception("alert engine status failed")
            alert_lines = ["Alerts: status unavailable (logged)."]
        if alert_lines:
            lines += ["", *alert_lines]
    return Reply(text="\n".join(lines), data=data)
