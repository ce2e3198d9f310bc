"""`python -m bot db upgrade`: bring the database schema up to date."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.app import App


def add_commands(subparsers: Any) -> None:
    db = subparsers.add_parser("db", help="database maintenance")
    db.add_argument("action", choices=["upgrade"])
    db.set_defaults(handler=upgrade)


async def upgrade(app: App, args: argparse.Namespace) -> int:
    await app.store.open()  # migrates to the newest schema
    print("database is up to date")
    return 0
