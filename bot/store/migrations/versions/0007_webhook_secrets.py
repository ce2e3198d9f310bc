"""A signing secret per webhook (`webhook_secrets`): a receiver can't forge alerts to another receiver. Hooks
added before this keep signing with WEBHOOK_SECRET until `python -m bot webhook rotate URL` gives them one.

Revision ID: 0007
Revises: 0006
Created: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "webhook_secrets",
        sa.Column("chat_pk", sa.Integer(), nullable=False),
        sa.Column("secret", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(["chat_pk"], ["chats.id"], name=op.f("fk_webhook_secrets_chat_pk_chats"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("chat_pk", name=op.f("pk_webhook_secrets")),
    )


def downgrade() -> None:
    op.drop_table("webhook_secrets")
