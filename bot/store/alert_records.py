"""The alert store's records: plain dataclasses the engine, the delivery worker and the command layer pass
around (no SQLAlchemy here, so `/history` and `/preview` can name them without importing the database)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from bot.store.preferences import QuietHours


@dataclass(frozen=True)
class InstanceKey:
    """What makes subscriptions share a rule instance; `thresholds` is the canonical overrides text."""

    asset: str
    benchmark: str
    window_days: int
    thresholds: str


@dataclass(frozen=True)
class RuleInstance:
    id: int
    key: InstanceKey
    calendar: str
    state: str | None  # RuleState JSON; None = never evaluated
    evaluated_through: date | None


@dataclass(frozen=True)
class Recipient:
    """A chat that wants an instance's alerts, with what decides when they go out."""

    chat_pk: int
    platform: str
    timezone: str
    quiet_hours: QuietHours | None
    digest: bool
    kinds: frozenset[str]


@dataclass(frozen=True)
class Release:
    not_before: datetime
    bundle: bool  # held (quiet hours, digest): goes out with the chat's other held alerts in one message


ReleasePolicy = Callable[[Recipient, datetime], Release]


SEND, SKIP, RECORD_ONLY = "send", "skip", "record"


@dataclass(frozen=True)
class NewAlert:
    kind: str
    as_of: date
    payload: dict[str, Any]
    # send: pending deliveries to every recipient; skip: deliveries recorded as skipped (catch-up after an
    # outage); record: no deliveries at all (a new instance's warm-up over history)
    delivery: str = SEND


@dataclass(frozen=True)
class InstanceUpdate:
    instance: RuleInstance
    state: str
    evaluated_through: date
    alerts: list[NewAlert]


@dataclass(frozen=True)
class EvaluationNote:
    calendar: str
    session: date
    status: str  # evaluated | stale
    detail: str | None = None
    instances: int = 0
    alerts: int = 0


@dataclass(frozen=True)
class RunTotals:
    alerts: int = 0
    pending: int = 0
    skipped: int = 0


@dataclass(frozen=True)
class StoredAlert:
    id: int
    key: InstanceKey
    kind: str
    as_of: date
    payload: dict[str, Any]
    created_at: datetime | None = None


@dataclass(frozen=True)
class ClaimedDelivery:
    id: int
    alert: StoredAlert
    chat_pk: int
    platform: str
    chat_id: str
    chat_kind: str
    bundle: bool
    attempts: int
    created_at: datetime  # when the outbox row was written: how long this delivery has been trying


@dataclass(frozen=True)
class Evaluation:
    calendar: str
    session: date
    status: str
    detail: str | None
    instances: int
    alerts: int
    updated_at: datetime


@dataclass(frozen=True)
class HistoryEntry:
    alert: StoredAlert
    status: str
    not_before: datetime
    sent_at: datetime | None
    error: str | None


@dataclass(frozen=True)
class DeliveryCounts:
    due: dict[str, int] = field(default_factory=dict)  # pending and due now, by platform
    held: dict[str, int] = field(default_factory=dict)  # pending until later (quiet hours, digest, retry)


# ---------------------------------------------------------------- repository
