"""The tables that survive a restart: chats and their subscriptions.

Conventions: `chats.id` is our key; `chats.chat_id` is the platform's id as text (Telegram ids exceed 32 bits,
Discord snowflakes 64). Timestamps are UTC. Threshold overrides are stored as canonical JSON *text* (sorted
keys, only values that differ from the defaults): equal parameters give equal text on every dialect, so a
subscription can be matched to its rule instance with plain `=` (PostgreSQL's `json` has no equality).

A subscription's alert kinds are one text column of comma-separated names (`dump_kinds`/`load_kinds`);
which names exist is bot/alerts/kinds.py's business, so a new kind needs no schema change. A subscription
with no pair (asset and benchmark NULL) is universe-wide.
"""

from __future__ import annotations

from datetime import date, datetime, time
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    Time,
    UniqueConstraint,
    false,
    func,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bot.clock import utcnow
from bot.store.values import ChatKind, DigestMode

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)



def _created_at() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), default=utcnow, server_default=func.now())


def _updated_at() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow, server_default=func.now())


class ChatRow(Base):
    __tablename__ = "chats"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    chat_id: Mapped[str] = mapped_column(String(2048))  # webhook URLs (migration 0005)
    kind: Mapped[str] = mapped_column(String(16), default=ChatKind.PRIVATE.value)
    title: Mapped[str | None] = mapped_column(String(255))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    quiet_start: Mapped[time | None] = mapped_column(Time)
    quiet_end: Mapped[time | None] = mapped_column(Time)
    language: Mapped[str] = mapped_column(String(16), default="en", server_default="en")
    # Chat-wide defaults: `/set` without a pair writes these and every subscription of the chat;
    # a later `/subscribe` starts from them. NULL window = the configured DEFAULT_WINDOW.
    default_window_days: Mapped[int | None] = mapped_column(Integer)
    default_thresholds: Mapped[str] = mapped_column(Text, default="{}", server_default="{}")
    default_digest_mode: Mapped[str] = mapped_column(
        String(16), default=DigestMode.OFF.value, server_default=DigestMode.OFF.value
    )
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    inactive_reason: Mapped[str | None] = mapped_column(String(255))
    mention_role: Mapped[str | None] = mapped_column(String(32))  # mentioned on every alert (a Discord role id)
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = _updated_at()

    __table_args__ = (
        UniqueConstraint("platform", "chat_id"),
        CheckConstraint("kind IN ('private', 'group', 'channel')", name="kind"),
        CheckConstraint("(quiet_start IS NULL) = (quiet_end IS NULL)", name="quiet_hours_pair"),
        CheckConstraint("default_digest_mode IN ('off', 'daily')", name="default_digest_mode"),
    )


class SubscriptionRow(Base):
    __tablename__ = "subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chat_pk: Mapped[int] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"))
    asset: Mapped[str | None] = mapped_column(String(16))  # both NULL: universe-wide
    benchmark: Mapped[str | None] = mapped_column(String(16))
    kinds: Mapped[str] = mapped_column(Text)  # names from bot/alerts/kinds.py, see dump_kinds
    window_days: Mapped[int] = mapped_column(Integer)
    thresholds: Mapped[str] = mapped_column(Text, default="{}", server_default="{}")
    digest_mode: Mapped[str] = mapped_column(
        String(16), default=DigestMode.OFF.value, server_default=DigestMode.OFF.value
    )
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = _updated_at()

    __table_args__ = (
        UniqueConstraint("chat_pk", "asset", "benchmark"),
        Index("ix_subscriptions_rule_key", "asset", "benchmark", "window_days", "thresholds"),
        CheckConstraint("asset <> benchmark", name="two_assets"),
        CheckConstraint("kinds <> ''", name="some_alert_kind"),
        CheckConstraint("(asset IS NULL) = (benchmark IS NULL)", name="pair_or_universe"),
        CheckConstraint("window_days > 0", name="window_days_positive"),
        CheckConstraint("digest_mode IN ('off', 'daily')", name="digest_mode"),
    )


# ---- market data (migration 0002) -------------------------------------------------------------------------


class PriceBarRow(Base):
    """One complete bar. `ts` is naive UTC: the session date at midnight for '1d' bars, the candle's open
    time for '1h' bars. Provisional (unfinished) bars are never stored."""

    __tablename__ = "price_bars"

    asset: Mapped[str] = mapped_column(String(32), primary_key=True)
    interval: Mapped[str] = mapped_column(String(4), primary_key=True)
    ts: Mapped[datetime] = mapped_column(DateTime(timezone=False), primary_key=True)
    close: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(32))  # snapshot | binance | coinbase | kraken | yahoo | …
    fetched_at: Mapped[datetime] = _created_at()

    __table_args__ = (
        CheckConstraint("interval IN ('1d', '1h')", name="interval"),
        CheckConstraint("close > 0", name="close_positive"),
    )


class SourceStatusRow(Base):
    """Freshness and health of one asset's series, shown by /status and `doctor`."""

    __tablename__ = "source_status"

    asset: Mapped[str] = mapped_column(String(32), primary_key=True)
    interval: Mapped[str] = mapped_column(String(4), primary_key=True)
    source: Mapped[str | None] = mapped_column(String(32))  # where the last good bars came from
    last_bar: Mapped[datetime | None] = mapped_column(DateTime(timezone=False))
    last_success_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = _updated_at()


class CustomAssetRow(Base):
    """Assets users added with /assets add, validated against the source's own symbol list first."""

    __tablename__ = "custom_assets"

    symbol: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))  # crypto | equity | index
    market: Mapped[str] = mapped_column(String(16))
    calendar: Mapped[str | None] = mapped_column(String(16))
    yahoo: Mapped[str | None] = mapped_column(String(32))
    ccxt: Mapped[str | None] = mapped_column(String(32))
    added_by: Mapped[str | None] = mapped_column(String(128))  # platform:chat id
    created_at: Mapped[datetime] = _created_at()

    __table_args__ = (CheckConstraint("kind IN ('crypto', 'equity', 'index')", name="kind"),)


# ---- alerts and their delivery (migration 0003) -----------------------------------------------------------


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"  # recorded, never sent: catch-up after an outage, or the chat went away


class RuleInstanceRow(Base):
    """One rule instance (pair, window, thresholds), shared by every subscription with those parameters.

    `state` is the rule's `RuleState` JSON (NULL until the first evaluation); `evaluated_through` is the last
    session it was evaluated for — the source of truth for catch-up after a restart.
    """

    __tablename__ = "rule_instances"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    asset: Mapped[str] = mapped_column(String(16))
    benchmark: Mapped[str] = mapped_column(String(16))
    window_days: Mapped[int] = mapped_column(Integer)
    thresholds: Mapped[str] = mapped_column(Text, default="{}", server_default="{}")
    calendar: Mapped[str] = mapped_column(String(16))  # "XNYS" (a leg trades there) or "UTC" (crypto-crypto)
    state: Mapped[str | None] = mapped_column(Text)
    evaluated_through: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = _updated_at()

    __table_args__ = (UniqueConstraint("asset", "benchmark", "window_days", "thresholds"),)


class AlertRow(Base):
    """What a rule instance fired; the unique key makes a second evaluation of a session a no-op."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rule_instance_id: Mapped[int] = mapped_column(ForeignKey("rule_instances.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    as_of: Mapped[date] = mapped_column(Date)
    payload: Mapped[str] = mapped_column(Text)  # value, regimes, since, detail (JSON)
    created_at: Mapped[datetime] = _created_at()

    __table_args__ = (UniqueConstraint("rule_instance_id", "kind", "as_of"),)


class DeliveryRow(Base):
    """The outbox: one row per (alert, chat). A sender claims rows by writing its token and the time;
    a claim older than the lease counts as abandoned (its process died) and can be taken over."""

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"))
    chat_pk: Mapped[int] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"))
    platform: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.PENDING.value)
    # Held by quiet hours or a daily digest: goes out in one message with the chat's other held alerts.
    bundle: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    not_before: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    claim_token: Mapped[str | None] = mapped_column(String(32))
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    message_id: Mapped[str | None] = mapped_column(String(128))
    error: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = _updated_at()

    __table_args__ = (
        UniqueConstraint("alert_id", "chat_pk"),
        Index("ix_deliveries_due", "status", "platform", "not_before"),
        Index("ix_deliveries_chat_pk", "chat_pk"),
        CheckConstraint("status IN ('pending', 'sent', 'failed', 'skipped')", name="status"),
    )


class AlertMediaRow(Base):
    """A platform's handle for an alert's uploaded chart (Telegram's file_id), reused for every recipient."""

    __tablename__ = "alert_media"

    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), primary_key=True)
    platform: Mapped[str] = mapped_column(String(16), primary_key=True)
    handle: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = _created_at()


class EvaluationRow(Base):
    """How the engine's last attempt at a session went, per calendar: evaluated, or refused for stale data."""

    __tablename__ = "evaluations"

    calendar: Mapped[str] = mapped_column(String(16), primary_key=True)
    session: Mapped[date] = mapped_column(Date, primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(Text)
    instances: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    alerts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    updated_at: Mapped[datetime] = _updated_at()

    __table_args__ = (CheckConstraint("status IN ('evaluated', 'stale')", name="status"),)


# ---- named values kept between runs (migration 0006) ------------------------------------------------------


class BotStateRow(Base):
    """A small named value the bot keeps between runs, e.g. the hash of the slash commands last synced."""

    __tablename__ = "bot_state"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = _updated_at()


# ---- per-hook signing secrets (migration 0007) ------------------------------------------------------------


class WebhookSecretRow(Base):
    """The secret that signs one generic webhook's requests (HMAC-SHA256), shown once when it was made. It is
    kept as it is, not hashed: signing needs it. A hook without a row signs with WEBHOOK_SECRET."""

    __tablename__ = "webhook_secrets"

    chat_pk: Mapped[int] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"), primary_key=True)
    secret: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = _created_at()
