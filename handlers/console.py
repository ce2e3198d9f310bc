"""Terminal transport: a daily report, then one reply per line of stdin; EOF ends it."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TextIO

from bot.reply import Reply
from bot.services import Services
from handlers.commands import dispatch
from handlers.registry import ChatContext

CONSOLE_CHAT = ChatContext(platform="console", chat_id="console", chat_kind="private", title="console")


def save_chart(reply: Reply, chart_dir: Path) -> Path | None:
    if reply.chart is None:
        return None
    chart_dir.mkdir(parents=True, exist_ok=True)
    path = chart_dir / reply.chart_name
    path.write_bytes(reply.chart)
    return path


def format_reply(reply: Reply, chart_path: Path | None) -> str:
    lines = [reply.text] if reply.text else []
    if chart_path is not None:
        lines.append(f"[chart saved to {chart_path}]")
    if reply.buttons:
        lines.append("Try: " + " · ".join(b.command for row in reply.buttons for b in row))
    return "\n".join(lines)


async def answer(services: Services, line: str, out: TextIO, chart_dir: Path) -> None:
    reply = await dispatch(services, line, CONSOLE_CHAT)
    out.write(format_reply(reply, save_chart(reply, chart_dir)) + "\n\n")
    out.flush()


async def run_console(services: Services, stdin: TextIO = sys.stdin, out: TextIO = sys.stdout) -> int:
    chart_dir = Path(services.settings.chart_dir)
    await answer(services, "/report", out, chart_dir)
    out.write("Type a command (/help for the list, /corr 90d to start); Ctrl-D quits.\n")
    interactive = stdin.isatty()
    while True:
        if interactive:
            out.write("> ")
        out.flush()
        line = await asyncio.to_thread(stdin.readline)
        if not line:
            return 0
        if line.strip():
            await answer(services, line.strip(), out, chart_dir)
