"""The command line: `python -m bot run | ask | db | alerts | webhook | backfill | doctor`.

Each subcommand module adds its parser with `add_commands(subparsers)` and sets `handler=async fn(app,
args) -> int`; `main` builds the `App` (bot/app.py, the composition root), runs the handler, closes what it
opened. Bad settings and bad arguments print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import NoReturn

from bot.config import ConfigError, Settings, load_settings

USAGE_ERROR = 2


class ArgumentProblem(ValueError):
    """One line for the operator."""


def fail(message: str) -> int:
    print(f"decoupler: {message}", file=sys.stderr)
    return USAGE_ERROR


def one_line_errors(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    def error(message: str) -> NoReturn:
        print(f"decoupler {parser.prog.split()[-1]}: {message}", file=sys.stderr)
        raise SystemExit(USAGE_ERROR)

    parser.error = error  # type: ignore[method-assign]
    return parser


def build_parser() -> argparse.ArgumentParser:
    from bot.cli import alerts, chat, db, discord, health, market, webhook

    parser = argparse.ArgumentParser(prog="python -m bot", description="Decoupler: crypto/equity correlation bot")
    sub = parser.add_subparsers(dest="cmd", required=True)
    for module in (chat, db, alerts, webhook, market, discord, health):
        module.add_commands(sub)
    return parser


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
    try:
        return asyncio.run(_run(settings, args))
    except KeyboardInterrupt:
        return 0


async def _run(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import App
    from bot.store import DatabaseUrlError, StoreUnavailable
    from bot.transport import TransportStartError

    app = App(settings)
    try:
        return await args.handler(app, args)
    except ArgumentProblem as problem:
        return fail(str(problem))
    except ConfigError as problem:
        return fail(str(problem))
    except (DatabaseUrlError, StoreUnavailable) as exc:  # the messages never contain the URL
        return fail(str(exc))
    except TransportStartError as exc:  # a platform refused the token or can't be reached (no secret in it)
        return fail(str(exc))
    finally:
        await app.close()
