"""Long chat ids: `chats.chat_id` is VARCHAR(2048), for webhook URLs (the chat id of a webhook is its URL);
the unique (platform, chat_id) constraint stays.

PostgreSQL alters the column in place. SQLite cannot, so the table is rebuilt (Alembic's batch mode, from the
table's full definition rather than reflection, so its CHECK constraints and names are kept). Rebuilding drops
the old `chats`, and with foreign keys on (they always are: bot/store/engine.py, and a PRAGMA cannot change
inside the migration's transaction) that drop cascades to the rows referring to it — subscriptions and
deliveries. Those are copied aside first and put back after, ids and all.

Downgrade: chats whose id is longer than 64 characters cannot exist before this revision; they are deleted
(with their subscriptions and deliveries).

Revision ID: 0005
Revises: 0004
Created: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_WIDTH, NEW_WIDTH = 64, 2048
CASCADING_CHILDREN = ("subscriptions", "deliveries")  # at revision 0004: ON DELETE CASCADE from chats


def upgrade() -> None:
    _change_width(OLD_WIDTH, NEW_WIDTH)


def downgrade() -> None:
    op.execute(sa.text(f"DELETE FROM chats WHERE length(chat_id) > {OLD_WIDTH}"))
    _change_width(NEW_WIDTH, OLD_WIDTH)


def _change_width(old: int, new: int) -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.alter_column("chats", "chat_id", existing_type=sa.String(old), type_=sa.String(new),
                        existing_nullable=False)
        return
    for table in CASCADING_CHILDREN:
        op.execute(sa.text(f'CREATE TEMP TABLE "keep_{table}" AS SELECT * FROM "{table}"'))
    with op.batch_alter_table("chats", copy_from=_chats(old), recreate="always") as batch:
        batch.alter_column("chat_id", existing_type=sa.String(old), type_=sa.String(new), existing_nullable=False)
    for table in CASCADING_CHILDREN:
        op.execute(sa.text(f'DELETE FROM "{table}"'))  # emptied by the cascade already; to be sure
        op.execute(sa.text(f'INSERT INTO "{table}" SELECT * FROM "keep_{table}"'))
        op.execute(sa.text(f'DROP TABLE "keep_{table}"'))


def _chats(width: int) -> sa.Table:
    """`chats` as revision 0001 created it (no later revision before this one changed it)."""
    return sa.Table(
        "chats",
        sa.MetaData(),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("chat_id", sa.String(width), nullable=False),
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
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_chats"),
        sa.UniqueConstraint("platform", "chat_id", name="uq_chats_platform_chat_id"),
        sa.CheckConstraint("kind IN ('private', 'group', 'channel')", name="ck_chats_kind"),
        sa.CheckConstraint("(quiet_start IS NULL) = (quiet_end IS NULL)", name="ck_chats_quiet_hours_pair"),
        sa.CheckConstraint("default_digest_mode IN ('off', 'daily')", name="ck_chats_default_digest_mode"),
    )
