"""`python -m bot.alerts …`: the `alerts` and `webhook` commands alone — the same handlers as
`python -m bot alerts …`, without loading every other command module first (a quicker start for cron jobs)."""

from __future__ import annotations

import argparse
import sys

from bot.alerts.cli import USAGE_ERROR, add_commands
from bot.config import ConfigError, load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.alerts")
    add_commands(parser.add_subparsers(dest="cmd", required=True))
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"decoupler: {exc}", file=sys.stderr)
        return USAGE_ERROR
    from bot.logs import setup_logging

    setup_logging(settings)
    return args.handler(settings, args)


if __name__ == "__main__":
    sys.exit(main())
