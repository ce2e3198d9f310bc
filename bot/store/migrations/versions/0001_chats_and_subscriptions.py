"""Chats and their subscriptions.

Revision ID: 0001
Revises:
Created: 2025-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "chats",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("chat_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("title", sa.String(255), nullable=True),
        sa.Column("timezone", sa.String(64), server_default="UTC", nullable=False),
        sa.Column("quiet_start", sa.Time(), nullable=True),
        sa.Column("quiet_end", sa.Time(), nullable=True),
        sa.Column("language", sa.String(16), server_default="en", nullable=False),
        sa.Column("default_window_days", sa.Integer(), nullable=True),
        sa.Column("default_thresholds", sa.Text(), server_default="{}", nullable=False),
        sa.Column("default_digest_mode", sa.String(16), server_default="off", nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("inactive_reason", sa.String(255), nullable=True),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_chats"),
        sa.UniqueConstraint("platform", "chat_id", name="uq_chats_platform_chat_id"),
        sa.CheckConstraint("kind IN ('private', 'group', 'channel')", name="ck_chats_kind"),
        sa.CheckConstraint(
            "(quiet_start IS NULL) = (quiet_end IS NULL)", name="ck_chats_quiet_hours_pair"
        ),
        sa.CheckConstraint(
            "default_digest_mode IN ('off', 'daily')", name="ck_chats_default_digest_mode"
        ),
    )
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chat_pk", sa.Integer(), nullable=False),
        sa.Column("asset", sa.String(16), nullable=False),
        sa.Column("benchmark", sa.String(16), nullable=False),
        sa.Column("alert_regime", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("alert_divergence", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("alert_record", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("window_days", sa.Integer(), nullable=False),
        sa.Column("thresholds", sa.Text(), server_default="{}", nullable=False),
        sa.Column("digest_mode", sa.String(16), server_default="off", nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_subscriptions"),
        sa.ForeignKeyConstraint(
            ["chat_pk"], ["chats.id"], name="fk_subscriptions_chat_pk_chats", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("chat_pk", "asset", "benchmark", name="uq_subscriptions_chat_pk_asset_benchmark"),
        sa.CheckConstraint("asset <> benchmark", name="ck_subscriptions_two_assets"),
        sa.CheckConstraint(
            "alert_regime OR alert_divergence OR alert_record", name="ck_subscriptions_some_alert_kind"
        ),
        sa.CheckConstraint("window_days > 0", name="ck_subscriptions_window_days_positive"),
        sa.CheckConstraint("digest_mode IN ('off', 'daily')", name="ck_subscriptions_digest_mode"),
    )
    op.create_index(
        "ix_subscriptions_rule_key", "subscriptions", ["asset", "benchmark", "window_days", "thresholds"]
    )


def downgrade() -> None:
    op.drop_index("ix_subscriptions_rule_key", table_name="subscriptions")
    op.drop_table("subscriptions")
    op.drop_table("chats")
