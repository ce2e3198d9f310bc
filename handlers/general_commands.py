"""/start and /help, generated from the command table."""

from __future__ import annotations

from bot.ports.reply import Button, Reply
from handlers.registry import COMMANDS, Option, OptionKind, Request, command

WELCOME = (
    "👋 Decoupler watches how crypto and stock markets move together, and tells you when that "
    "relationship breaks — like ETH, which traded as a high-beta small-cap stock for years, "
    "decoupling from the Russell 2000."
)


def command_list() -> list[str]:
    return [f"{c.usage} — {c.summary}" for c in COMMANDS.values()]


@command("start", summary="What Decoupler does and how to start",
         help="A short introduction with the commands to try first.", static=True)
async def start_command(req: Request) -> Reply:
    pair = req.services.settings.default_pair.replace(":", " vs ")
    lines = [
        WELCOME,
        "",
        "Try:",
        f"/corr — {pair}, 90-day correlation with a chart",
        "/corr 1y BTC SPY — any pair, any window from 30d to 10y",
        "/regime — coupled, decoupled or inverse, per window",
        "/div — is ETH straying from what its beta implies?",
    ]
    if "subscribe" in COMMANDS:
        lines.append("/subscribe — alerts in this chat after each US close")
    lines += ["", "/help lists every command; /help corr explains one."]
    buttons = [[Button("90d", "/corr 90d"), Button("1y", "/corr 1y"), Button("Regimes", "/regime")]]
    return Reply(text="\n".join(lines), buttons=buttons)


@command("help", summary="Every command, or details of one",
         help="Without an argument, the list of commands; with one (/help corr), its details.",
         options=(Option("command", OptionKind.TEXT, "A command, e.g. corr"),), static=True)
async def help_command(req: Request) -> Reply:
    if req.args:
        name = req.args[0].lstrip("/").lower()
        cmd = COMMANDS.get(name)
        if cmd is None:
            return Reply(text=f"No command /{name[:20]}. Send /help for the list.", ok=False,
                         data={"error": f"unknown command /{name[:20]}"})
        admin = f"\nIn groups and servers, only {req.chat.admins} can use it." if cmd.admin_only else ""
        return Reply(text=f"{cmd.usage}\n{cmd.summary}.\n{cmd.help}{admin}",
                     data={"name": cmd.name, "usage": cmd.usage})
    lines = ["Commands:", *command_list(), "", "Windows: 30d … 10y (e.g. 90d, 12w, 6m, 1y). "
             "Tickers: /assets. Details: /help <command>."]
    return Reply(text="\n".join(lines), data={"commands": [c.name for c in COMMANDS.values()]})
