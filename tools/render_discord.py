"""Draw a Discord answer and a Discord alert as PNGs for the README gallery, from the very payload the bot sends:
the embed (`discord.Embed.to_dict()` of handlers/discord/messages.py), its attached chart and its buttons,
laid out the way Discord's dark theme shows a card. Run: `python tools/render_discord.py` (writes
docs/discord-answer.png and docs/discord-alert.png)."""

from __future__ import annotations

import asyncio
import io
import textwrap
from datetime import datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.image as mpimg
import matplotlib.pyplot as plt
from matplotlib.patches import FancyBboxPatch

DOCS = Path(__file__).resolve().parent.parent / "docs"
BACKGROUND, CARD, TEXT, MUTED, BUTTON, SELECTED = "#313338", "#2b2d31", "#dbdee1", "#949ba4", "#4e5058", "#5865f2"
WIDTH = 7.2  # inches at 100 dpi: a card about as wide as Discord draws one


def _wrap(text: str, width: int = 92) -> list[str]:
    return [line for paragraph in text.split("\n") for line in (textwrap.wrap(paragraph, width) or [""])]


def draw(payload: dict[str, Any], chart: bytes | None, buttons: list[tuple[str, bool]], path: Path,
         content: str | None = None) -> None:
    """`payload`: an embed dict; `buttons`: (label, selected) in a row under it."""
    lines = _wrap(payload.get("description", ""))
    fields = payload.get("fields", [])
    field_rows = (len(fields) + 2) // 3
    image = mpimg.imread(io.BytesIO(chart), format="png") if chart else None
    image_height = 0.0 if image is None else (WIDTH - 0.7) * image.shape[0] / image.shape[1]
    height = 1.4 + 0.19 * len(lines) + 0.48 * field_rows + image_height + (0.55 if buttons else 0) \
        + (0.3 if content else 0)
    figure = plt.figure(figsize=(WIDTH, height), dpi=100, facecolor=BACKGROUND)
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_xlim(0, WIDTH)
    axes.set_ylim(height, 0)
    axes.axis("off")
    y = 0.3
    if content:
        axes.text(0.15, y, content, color="#c9cdfb", fontsize=10, va="center")
        y += 0.3
    card_height = height - y - (0.55 if buttons else 0) - 0.1
    axes.add_patch(FancyBboxPatch((0.15, y), WIDTH - 0.3, card_height, boxstyle="round,pad=0,rounding_size=0.06",
                                  facecolor=CARD, edgecolor="none"))
    axes.add_patch(FancyBboxPatch((0.15, y), 0.05, card_height, boxstyle="square,pad=0",
                                  facecolor=f"#{payload.get('color', 0x1565C0):06x}", edgecolor="none"))
    x = 0.35
    y += 0.3
    title = payload.get("title", "").replace("🔔 ", "")  # no bell in matplotlib's font
    axes.text(x, y, title, color="white", fontsize=11.5, fontweight="bold", va="center")
    y += 0.3
    for line in lines:
        axes.text(x, y, line, color=TEXT, fontsize=8.6, va="center")
        y += 0.19
    y += 0.1
    column = (WIDTH - 0.7) / 3
    for index, field in enumerate(fields):
        fx, fy = x + column * (index % 3), y + 0.48 * (index // 3)
        axes.text(fx, fy, field["name"], color="white", fontsize=8.6, fontweight="bold", va="center")
        axes.text(fx, fy + 0.2, field["value"], color=TEXT, fontsize=8.6, va="center")
    y += 0.48 * field_rows
    if image is not None:
        axes.imshow(image, extent=(x, WIDTH - 0.35, y + image_height, y), aspect="auto", zorder=3)
        axes.set_xlim(0, WIDTH)
        axes.set_ylim(height, 0)
        y += image_height + 0.05
    footer = payload.get("footer", {}).get("text", "")
    if payload.get("timestamp"):
        footer += f" • {datetime.fromisoformat(payload['timestamp']):%d/%m/%Y %H:%M}"
    axes.text(x, y + 0.15, footer, color=MUTED, fontsize=7.5, va="center")
    bx = 0.15
    for label, selected in buttons:
        width = 0.25 + 0.085 * len(label)
        axes.add_patch(FancyBboxPatch((bx, height - 0.5), width, 0.36, boxstyle="round,pad=0,rounding_size=0.05",
                                      facecolor=SELECTED if selected else BUTTON, edgecolor="none"))
        axes.text(bx + width / 2, height - 0.32, label, color="white", fontsize=9, ha="center", va="center")
        bx += width + 0.12
    figure.savefig(path, dpi=100, facecolor=BACKGROUND)
    plt.close(figure)


def _buttons(view: Any) -> list[tuple[str, bool]]:
    import discord

    if view is None:
        return []
    return [(item.label, item.style is discord.ButtonStyle.primary) for item in view.children]


async def main() -> None:
    import pandas as pd

    from bot.alerts.replay import replay
    from bot.alerts.rules import RuleParams
    from bot.app import App
    from bot.config import load_settings
    from bot.ports.reply import Reply
    from bot.render.alert_text import alert_fields
    from handlers.commands import dispatch
    from handlers.discord.messages import message_parts

    services = App(load_settings(market_data="snapshot", database_url="sqlite://", default_pair="ETH:RUT")).services
    answer = await dispatch(services, "/corr 90d ETH RUT", theme="dark")
    parts = message_parts(answer)
    draw(parts.embeds[0].to_dict(), answer.chart, _buttons(parts.view), DOCS / "discord-answer.png")  # type: ignore[union-attr]
    parts.done()
    params = RuleParams("ETH", "RUT", 90)
    events = replay(services.analysis, params, end=pd.Timestamp("2024-04-26"))
    event = next(e for e in reversed(events) if e.kind == "regime")  # the last regime change the rules fired
    fields = alert_fields(event, params)
    as_of = event.as_of.date()
    chart = (await dispatch(services, "/corr 90d ETH RUT", theme="dark", as_of=as_of)).chart
    alert = Reply(text=fields["text"], chart=chart, chart_name="ETH-RUT-regime.png", data={"alert_id": 1, **fields})
    parts = message_parts(alert)
    draw(parts.embeds[0].to_dict(), chart, _buttons(parts.view), DOCS / "discord-alert.png",  # type: ignore[union-attr]
         content="@traders")
    parts.done()


if __name__ == "__main__":
    asyncio.run(main())
