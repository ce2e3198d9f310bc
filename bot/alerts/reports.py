"""What the alert service reports to commands (/status, /history): plain data, worded by bot.render."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd

from bot.alerts.rules import FiredAlert


@dataclass(frozen=True)
class EvaluatedSession:
    calendar: str
    session: pd.Timestamp
    instances: int
    alerts: int
    at: datetime


@dataclass(frozen=True)
class WaitingSession:
    calendar: str
    session: pd.Timestamp
    detail: str | None


@dataclass(frozen=True)
class FailedEvaluation:
    """A rule instance whose evaluation raised, not evaluated through that session since."""

    calendar: str
    session: pd.Timestamp
    pair: str
    error: str  # the exception's class name


@dataclass(frozen=True)
class AlertStatus:
    """The last evaluated session per calendar, sessions refused for stale data, the outbox, and rule
    instances whose evaluation failed."""

    evaluated: list[EvaluatedSession] = field(default_factory=list)
    waiting: list[WaitingSession] = field(default_factory=list)
    due: dict[str, int] = field(default_factory=dict)
    held: dict[str, int] = field(default_factory=dict)
    failed: list[FailedEvaluation] = field(default_factory=list)


@dataclass(frozen=True)
class HistoryItem:
    alert: FiredAlert
    status: str  # sent | pending | failed | skipped
    not_before: datetime
    sent_at: datetime | None
    error: str | None
