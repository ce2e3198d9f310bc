"""What the store hands out: immutable snapshots of rows, safe to keep after the session has closed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from typing import TYPE_CHECKING, NamedTuple

from bot.clock import as_utc
from bot.store.values import ChatKind, DigestMode, load_kinds

if TYPE_CHECKING:
    from bot.store.models import ChatRow, SubscriptionRow
from bot.store.preferences import QuietHours, load_thresholds


def _quiet_hours(start: time | None, end: time | None) -> QuietHours | None:
    return QuietHours(start, end) if start is not None and end is not None else None


@dataclass(frozen=True)
class Chat:
    id: int
    platform: str
    chat_id: str
    kind: ChatKind
    title: str | None
    timezone: str
    quiet_hours: QuietHours | None
    language: str
    default_window_days: int | None
    default_thresholds: dict[str, float | int]
    default_digest: DigestMode
    active: bool
    inactive_reason: str | None
    created_at: datetime
    updated_at: datetime
    mention_role: str | None = None  # a role mentioned on every alert here (Discord's role id)

    @classmethod
    def from_row(cls, row: ChatRow) -> Chat:
        return cls(
            id=row.id,
            platform=row.platform,
            chat_id=row.chat_id,
            kind=ChatKind(row.kind),
            title=row.title,
            timezone=row.timezone,
            quiet_hours=_quiet_hours(row.quiet_start, row.quiet_end),
            language=row.language,
            default_window_days=row.default_window_days,
            default_thresholds=load_thresholds(row.default_thresholds),
            default_digest=DigestMode(row.default_digest_mode),
            active=row.active,
            inactive_reason=row.inactive_reason,
            created_at=as_utc(row.created_at),
            updated_at=as_utc(row.updated_at),
            mention_role=row.mention_role,
        )


@dataclass(frozen=True)
class Subscription:
    id: int
    chat_pk: int
    asset: str | None  # None (with benchmark): universe-wide
    benchmark: str | None
    kinds: frozenset[str]
    window_days: int
    thresholds: dict[str, float | int]  # overrides only; empty = the defaults
    digest: DigestMode
    created_at: datetime
    updated_at: datetime

    @property
    def pair(self) -> str:
        return f"{self.asset}:{self.benchmark}" if self.asset else "universe"

    @property
    def universe_wide(self) -> bool:
        return self.asset is None

    @property
    def legs(self) -> tuple[str, str]:
        """(asset, benchmark) of a pair subscription; a universe-wide one has none."""
        if self.asset is None or self.benchmark is None:
            raise ValueError("a universe-wide subscription has no pair")
        return self.asset, self.benchmark

    @classmethod
    def from_row(cls, row: SubscriptionRow) -> Subscription:
        return cls(
            id=row.id,
            chat_pk=row.chat_pk,
            asset=row.asset,
            benchmark=row.benchmark,
            kinds=load_kinds(row.kinds),
            window_days=row.window_days,
            thresholds=load_thresholds(row.thresholds),
            digest=DigestMode(row.digest_mode),
            created_at=as_utc(row.created_at),
            updated_at=as_utc(row.updated_at),
        )


class ChatSubscription(NamedTuple):
    """One line of the alert engine's work list: a subscription and the chat it delivers to."""

    chat: Chat
    subscription: Subscription
