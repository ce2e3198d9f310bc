"""The store's plain values — chat kinds, digest modes, kind lists — without SQLAlchemy, so that the command
layer can name them without importing the database (bot/store/models.py re-exports them)."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class ChatKind(StrEnum):
    PRIVATE = "private"
    GROUP = "group"
    CHANNEL = "channel"


class DigestMode(StrEnum):
    OFF = "off"  # one message per alert
    DAILY = "daily"  # the day's alerts in one message


def dump_kinds(kinds: Iterable[str]) -> str:
    """The `subscriptions.kinds` text for a set of alert kind names: sorted, comma-separated."""
    return ",".join(sorted(set(kinds)))


def load_kinds(text: str) -> frozenset[str]:
    return frozenset(part for part in text.split(",") if part)
