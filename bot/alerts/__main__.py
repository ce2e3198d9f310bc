"""`python -m bot.alerts …`: the `alerts` and `webhook` commands alone — the same handlers as
`python -m bot alerts …`, without loading every other command module first (a quicker start for cron jobs)."""

from __future__ import annotations

import argparse
import sys

from bot.__main__ import settings_for_cli
from bot.alerts.cli import USAGE_ERROR, add_commands


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.alerts")
    add_commands(parser.add_subparsers(dest="cmd", required=True))
    args = parser.parse_args(argv)
    settings = settings_for_cli()
    if settings is None:
        return USAGE_ERROR
    return args.handler(settings, args)


if __name__ == "__main__":
    sys.exit(main())
