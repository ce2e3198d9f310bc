"""`python -m bot run` (the console, or the chat server with tokens) and `python -m bot ask` (one command)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.cli import USAGE_ERROR, fail

if TYPE_CHECKING:
    from bot.app import App


def parse_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text[:20]}' is not a date: use YYYY-MM-DD") from None


def add_commands(subparsers: Any) -> None:
    run = subparsers.add_parser("run", help="with no chat token: the console; with tokens: the chat server")
    run.add_argument("--console", action="store_true", help="also read commands from the terminal (server mode)")
    run.set_defaults(handler=run_bot)

    ask = subparsers.add_parser("ask", help='answer one command, e.g. ask "/corr 90d" --json')
    ask.add_argument("command", help='the chat command, e.g. "/corr 1y BTC SPY"')
    ask.add_argument("--json", action="store_true", help="print one JSON object")
    ask.add_argument("--as-of", type=parse_date, help="answer as of this date (YYYY-MM-DD)")
    ask.add_argument("--chart-out", type=Path, help="write the chart PNG here")
    ask.add_argument("--theme", choices=["light", "dark"], default="light")
    ask.set_defaults(handler=ask_once)


async def run_bot(app: App, args: argparse.Namespace) -> int:
    return await app.run(with_console=args.console)


async def ask_once(app: App, args: argparse.Namespace) -> int:
    reply = await app.ask(args.command, as_of=args.as_of, want_chart=args.chart_out is not None, theme=args.theme)
    if reply.chart is not None and args.chart_out is not None:
        problem = _write_chart(args.chart_out, reply.chart)
        if problem:
            return fail(f"can't write the chart to {str(args.chart_out)[:200]}: {problem}")
    if args.json:
        if reply.ok:
            payload = {"ok": True, **reply.data, "text": reply.text}
            if reply.chart is not None and args.chart_out is not None:
                payload["chart"] = str(args.chart_out)
        else:
            payload = {"ok": False, "error": reply.data.get("error", reply.text)}
        print(json.dumps(payload, ensure_ascii=False))
    else:
        print(reply.text)
        if reply.chart is not None and args.chart_out is not None:
            print(f"[chart saved to {args.chart_out}]")
    return 0 if reply.ok else USAGE_ERROR


def _write_chart(path: Path, png: bytes) -> str | None:
    """Write the PNG (making its folder); the reason in a few words when that fails (a folder that is a file,
    no permission, a full disk), never a traceback."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png)
    except FileExistsError:  # mkdir met a file where a folder should be
        return "a part of that path is a file, not a folder"
    except OSError as exc:
        return (exc.strerror or type(exc).__name__).lower()
    return None
