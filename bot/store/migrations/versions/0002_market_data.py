"""Market data: price bars, per-series source status, user-added assets.

Revision ID: 0002
Revises: 0001
Created: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "price_bars",
        sa.Column("asset", sa.String(32), nullable=False),
        sa.Column("interval", sa.String(4), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=False), nullable=False),
        sa.Column("close", sa.Float(), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("interval IN ('1d', '1h')", name=op.f("ck_price_bars_interval")),
        sa.CheckConstraint("close > 0", name=op.f("ck_price_bars_close_positive")),
        sa.PrimaryKeyConstraint("asset", "interval", "ts", name=op.f("pk_price_bars")),
    )
    op.create_table(
        "source_status",
        sa.Column("asset", sa.String(32), nullable=False),
        sa.Column("interval", sa.String(4), nullable=False),
        sa.Column("source", sa.String(32), nullable=True),
        sa.Column("last_bar", sa.DateTime(timezone=False), nullable=True),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("asset", "interval", name=op.f("pk_source_status")),
    )
    op.create_table(
        "custom_assets",
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("market", sa.String(16), nullable=False),
        sa.Column("calendar", sa.String(16), nullable=True),
        sa.Column("yahoo", sa.String(32), nullable=True),
        sa.Column("ccxt", sa.String(32), nullable=True),
        sa.Column("added_by", sa.String(128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("kind IN ('crypto', 'equity', 'index')", name=op.f("ck_custom_assets_kind")),
        sa.PrimaryKeyConstraint("symbol", name=op.f("pk_custom_assets")),
    )


def downgrade() -> None:
    op.drop_table("custom_assets")
    op.drop_table("source_status")
    op.drop_table("price_bars")
