"""Command line: `python -m bot run | ask | db upgrade`."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import logging
import sys
from pathlib import Path

from bot.config import ConfigError, Settings, load_settings
from bot.optional import import_optional

log = logging.getLogger("bot")
USAGE_ERROR = 2
# Modules that add subcommands of their own: each has `add_commands(subparsers)`, and every parser it adds
# sets `handler=function(settings, args) -> int` with `set_defaults`. Missing modules are skipped.
CLI_MODULES = ("bot.market.cli", "bot.alerts.cli")


def _parse_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text[:20]}' is not a date: use YYYY-MM-DD") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description="Decoupler: crypto/equity correlation bot")
    sub = parser.add_subparsers(dest="cmd", required=True)

    run = sub.add_parser("run", help="with no chat token: the console; with tokens: the chat server")
    run.add_argument("--console", action="store_true", help="also read commands from the terminal (server mode)")

    ask = sub.add_parser("ask", help='answer one command, e.g. ask "/corr 90d" --json')
    ask.add_argument("command", help='the chat command, e.g. "/corr 1y BTC SPY"')
    ask.add_argument("--json", action="store_true", help="print one JSON object")
    ask.add_argument("--as-of", type=_parse_date, help="answer as of this date (YYYY-MM-DD)")
    ask.add_argument("--chart-out", type=Path, help="write the chart PNG here")
    ask.add_argument("--theme", choices=["light", "dark"], default="light")

    db = sub.add_parser("db", help="database maintenance")
    db.add_argument("action", choices=["upgrade"])

    for module_name in CLI_MODULES:
        module = import_optional(module_name)
        if module is not None:
            module.add_commands(sub)
    return parser


async def _ask(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import build_app, close_services
    from handlers.commands import dispatch
    from handlers.registry import ChatContext

    services = await build_app(settings)
    try:
        reply = await dispatch(
            services,
            args.command,
            ChatContext(platform="cli", chat_id="cli", chat_kind="private", title="cli"),
            as_of=args.as_of,
            want_chart=args.chart_out is not None,
            theme=args.theme,
        )
    finally:
        await close_services(services)
    if reply.chart is not None and args.chart_out is not None:
        args.chart_out.parent.mkdir(parents=True, exist_ok=True)
        args.chart_out.write_bytes(reply.chart)
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


async def _run(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import build_app, close_services, configured_platforms, run_console_app, run_server

    services = await build_app(settings)
    try:
        if configured_platforms(settings):
            return await run_server(services, with_console=args.console)
        log.info("no chat token set: running the console on %s data", settings.market_data.value)
        return await run_console_app(services)
    finally:
        await close_services(services)


def settings_for_cli() -> Settings | None:
    """Settings with logging set up, or None after printing one line naming the bad variable."""
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"decoupler: {exc}", file=sys.stderr)
        return None
    from bot.logs import setup_logging

    setup_logging(settings)
    return settings


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = settings_for_cli()
    if settings is None:
        return USAGE_ERROR
    from bot.store import DatabaseUrlError

    try:
        return _dispatch(settings, args)
    except DatabaseUrlError as exc:  # the message never contains the URL
        print(f"decoupler: {exc}", file=sys.stderr)
        return USAGE_ERROR


def _dispatch(settings: Settings, args: argparse.Namespace) -> int:
    if getattr(args, "handler", None) is not None:
        return args.handler(settings, args)
    if args.cmd == "ask":
        return asyncio.run(_ask(settings, args))
    if args.cmd == "run":
        try:
            return asyncio.run(_run(settings, args))
        except KeyboardInterrupt:
            return 0
    if args.cmd == "db":
        from bot.store import upgrade

        upgrade(settings.database_url)
        print("database is up to date")
        return 0
    return USAGE_ERROR


if __name__ == "__main__":
    sys.exit(main())
