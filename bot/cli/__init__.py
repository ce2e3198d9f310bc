"""The command line: `python -m bot run | ask | db | alerts | webhook | backfill | doctor`.

Each subcommand module adds its parser with `add_commands(subparsers)` and sets `handler=async fn(app,
args) -> int`; `main` builds the `App` (bot/app.py, the composition root), runs the handler, closes what it
opened. Bad settings and bad arguments print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import NoReturn

from bot.config import ConfigError, Settings, load_settings

USAGE_ERROR = 2


class ArgumentProblem(ValueError):
    """One line for the operator."""


def fail(message: str) -> int:
    from bot.ports.reply import printable

    print(f"decoupler: {printable(message)}", file=sys.stderr)  # it may quote the operator's words
    return USAGE_ERROR


def pair_argument(value: str | None, default: str) -> tuple[str, str]:
    """`--pair ETH:RUT` (or ETH-RUT, ETH/RUT; default the DEFAULT_PAIR) as two known tickers."""
    from bot.assets import find_asset
    from bot.ports.reply import command_text

    raw = command_text(value or default).upper().replace("-", ":").replace("/", ":")
    parts = [p for p in raw.split(":") if p]
    if len(parts) != 2:
        raise ArgumentProblem(f"--pair '{(value or '')[:20]}' must look like ASSET:BENCHMARK, e.g. ETH:RUT")
    assets = [find_asset(p) for p in parts]
    for part, asset in zip(parts, assets, strict=True):
        if asset is None:
            raise ArgumentProblem(f"unknown ticker '{part[:15]}' in --pair")
    asset, benchmark = assets
    if asset is None or benchmark is None:  # refused above; this tells the type checker
        raise ArgumentProblem("--pair needs two known tickers")
    if asset is benchmark:
        raise ArgumentProblem("--pair needs two different assets")
    return asset.symbol, benchmark.symbol


def one_line_errors(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    def error(message: str) -> NoReturn:
        from bot.ports.reply import printable

        print(f"decoupler {parser.prog.split()[-1]}: {printable(message)}", file=sys.stderr)
        raise SystemExit(USAGE_ERROR)

    parser.error = error  # type: ignore[method-assign]  # argparse offers no hook for its one-line errors
    return parser


class _Parser(argparse.ArgumentParser):
    """argparse, whose errors quote the words given (`invalid choice: '…'`): made printable first. Subcommand
    parsers are of the same class."""

    def error(self, message: str) -> NoReturn:
        from bot.ports.reply import printable

        super().error(printable(message))


# Which module of bot/cli defines each subcommand, in the order `--help` lists them. `main` imports only the
# module of the subcommand asked for (each imports what its commands need: pandas for a replay, SQLAlchemy for
# the database), so `ask /help` starts fast; `--help` or an unknown word loads them all.
SUBCOMMANDS = {
    "run": "chat", "ask": "chat", "db": "db", "alerts": "alerts", "webhook": "webhook", "backfill": "market",
    "doctor": "market", "discord": "discord", "healthcheck": "health",
}


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    import importlib

    wanted = SUBCOMMANDS.get(argv[0]) if argv else None
    names = [wanted] if wanted else list(dict.fromkeys(SUBCOMMANDS.values()))
    parser = _Parser(prog="python -m bot", description="Decoupler: crypto/equity correlation bot")
    sub = parser.add_subparsers(dest="cmd", required=True)
    for name in names:
        importlib.import_module(f"bot.cli.{name}").add_commands(sub)
    return parser


def settings_for_cli() -> Settings | None:
    """Settings with logging set up, or None after printing one line naming the bad variable."""
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"decoupler: {exc}", file=sys.stderr)
        return None
    from bot.telemetry.logs import setup_logging

    setup_logging(settings)
    return settings


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv).parse_args(argv)
    settings = settings_for_cli()
    if settings is None:
        return USAGE_ERROR
    try:
        return asyncio.run(_run(settings, args))
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:  # `… --json | head`: the reader has all it wanted; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes
        return 0


async def _run(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import App
    from bot.ports.transport import TransportStartError
    from bot.store.errors import DatabaseUrlError, StoreUnavailable

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
