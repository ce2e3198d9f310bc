"""Alerts: rule instances with their state, fired alerts, the delivery outbox, media handles, evaluations.

Revision ID: 0003
Revises: 0002
Created: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _created_at() -> sa.Column:
    return sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False)


def _updated_at() -> sa.Column:
    return sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False)


def upgrade() -> None:
    op.create_table(
        "rule_instances",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("asset", sa.String(16), nullable=False),
        sa.Column("benchmark", sa.String(16), nullable=False),
        sa.Column("window_days", sa.Integer(), nullable=False),
        sa.Column("thresholds", sa.Text(), server_default="{}", nullable=False),
        sa.Column("calendar", sa.String(16), nullable=False),
        sa.Column("state", sa.Text(), nullable=True),
        sa.Column("evaluated_through", sa.Date(), nullable=True),
        _created_at(),
        _updated_at(),
        sa.PrimaryKeyConstraint("id", name="pk_rule_instances"),
        sa.UniqueConstraint(
            "asset", "benchmark", "window_days", "thresholds",
            name="uq_rule_instances_asset_benchmark_window_days_thresholds",
        ),
    )
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rule_instance_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name="pk_alerts"),
        sa.ForeignKeyConstraint(
            ["rule_instance_id"], ["rule_instances.id"], name="fk_alerts_rule_instance_id_rule_instances",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("rule_instance_id", "kind", "as_of", name="uq_alerts_rule_instance_id_kind_as_of"),
        sa.CheckConstraint("kind IN ('regime', 'divergence', 'record')", name="ck_alerts_kind"),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("chat_pk", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("bundle", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("claim_token", sa.String(32), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("message_id", sa.String(128), nullable=True),
        sa.Column("error", sa.String(255), nullable=True),
        _created_at(),
        _updated_at(),
        sa.PrimaryKeyConstraint("id", name="pk_deliveries"),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.id"], name="fk_deliveries_alert_id_alerts", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["chat_pk"], ["chats.id"], name="fk_deliveries_chat_pk_chats", ondelete="CASCADE"),
        sa.UniqueConstraint("alert_id", "chat_pk", name="uq_deliveries_alert_id_chat_pk"),
        sa.CheckConstraint("status IN ('pending', 'sent', 'failed', 'skipped')", name="ck_deliveries_status"),
    )
    op.create_index("ix_deliveries_due", "deliveries", ["status", "platform", "not_before"])
    op.create_index("ix_deliveries_chat_pk", "deliveries", ["chat_pk"])
    op.create_table(
        "alert_media",
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("handle", sa.String(255), nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("alert_id", "platform", name="pk_alert_media"),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.id"], name="fk_alert_media_alert_id_alerts", ondelete="CASCADE"
        ),
    )
    op.create_table(
        "evaluations",
        sa.Column("calendar", sa.String(16), nullable=False),
        sa.Column("session", sa.Date(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("instances", sa.Integer(), server_default="0", nullable=False),
        sa.Column("alerts", sa.Integer(), server_default="0", nullable=False),
        _updated_at(),
        sa.PrimaryKeyConstraint("calendar", "session", name="pk_evaluations"),
        sa.CheckConstraint("status IN ('evaluated', 'stale')", name="ck_evaluations_status"),
    )


def downgrade() -> None:
    op.drop_table("evaluations")
    op.drop_table("alert_media")
    op.drop_index("ix_deliveries_chat_pk", table_name="deliveries")
    op.drop_index("ix_deliveries_due", table_name="deliveries")
    op.drop_table("deliveries")
    op.drop_table("alerts")
    op.drop_table("rule_instances")
