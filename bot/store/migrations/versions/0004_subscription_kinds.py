"""Alert kinds as data: a subscription's kinds are one text column (comma-separated names), not a boolean
column per kind, and `alerts.kind` has no CHECK list, so a new kind needs no schema change. A subscription
may have no pair (universe-wide: asset and benchmark both NULL).

SQLite rebuilds `alerts` to drop its CHECK; dropping the old table cascades (foreign keys are always on, and a
PRAGMA can't change inside the migration's transaction) to the rows that refer to it — deliveries and alert
media — so those are copied aside first and put back after, ids and all.

Revision ID: 0004
Revises: 0003
Created: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_KINDS = ("regime", "divergence", "record")
ALERT_CHILDREN = ("deliveries", "alert_media")  # ON DELETE CASCADE from alerts


@contextmanager
def _keeping(tables: Sequence[str]) -> Iterator[None]:
    """On SQLite, keep these tables' rows through a rebuild of the table they refer to."""
    if op.get_bind().dialect.name != "sqlite":
        yield
        return
    for table in tables:
        op.execute(sa.text(f'CREATE TEMP TABLE "keep_{table}" AS SELECT * FROM "{table}"'))
    yield
    for table in tables:
        op.execute(sa.text(f'DELETE FROM "{table}"'))
        op.execute(sa.text(f'INSERT INTO "{table}" SELECT * FROM "keep_{table}"'))
        op.execute(sa.text(f'DROP TABLE "keep_{table}"'))


def upgrade() -> None:
    op.add_column("subscriptions", sa.Column("kinds", sa.Text(), server_default="divergence,record,regime",
                                             nullable=False))
    subscriptions = sa.table("subscriptions", *(sa.column(f"alert_{k}", sa.Boolean()) for k in OLD_KINDS),
                             sa.column("kinds", sa.Text()))
    # every combination of the three flags, written as the sorted names that are on
    for mask in range(1, 8):
        wanted = [k for bit, k in enumerate(OLD_KINDS) if mask & (1 << bit)]
        condition = sa.and_(*(getattr(subscriptions.c, f"alert_{k}").is_(k in wanted) for k in OLD_KINDS))
        op.execute(subscriptions.update().where(condition).values(kinds=",".join(sorted(wanted))))
    with op.batch_alter_table("subscriptions") as batch:
        batch.drop_constraint("ck_subscriptions_some_alert_kind", type_="check")
        for kind in OLD_KINDS:
            batch.drop_column(f"alert_{kind}")
        batch.alter_column("asset", existing_type=sa.String(16), nullable=True)
        batch.alter_column("benchmark", existing_type=sa.String(16), nullable=True)
        batch.create_check_constraint("ck_subscriptions_some_alert_kind", "kinds <> ''")
        batch.create_check_constraint("ck_subscriptions_pair_or_universe", "(asset IS NULL) = (benchmark IS NULL)")
    with _keeping(ALERT_CHILDREN), op.batch_alter_table("alerts") as batch:
        batch.drop_constraint("ck_alerts_kind", type_="check")


def downgrade() -> None:
    with _keeping(ALERT_CHILDREN), op.batch_alter_table("alerts") as batch:
        batch.create_check_constraint("ck_alerts_kind", "kind IN ('regime', 'divergence', 'record')")
    op.execute("DELETE FROM subscriptions WHERE asset IS NULL")
    with op.batch_alter_table("subscriptions") as batch:
        batch.drop_constraint("ck_subscriptions_pair_or_universe", type_="check")
        batch.drop_constraint("ck_subscriptions_some_alert_kind", type_="check")
        batch.alter_column("asset", existing_type=sa.String(16), nullable=False)
        batch.alter_column("benchmark", existing_type=sa.String(16), nullable=False)
        for kind in OLD_KINDS:
            batch.add_column(sa.Column(f"alert_{kind}", sa.Boolean(), server_default=sa.true(), nullable=False))
    subscriptions = sa.table("subscriptions", *(sa.column(f"alert_{k}", sa.Boolean()) for k in OLD_KINDS),
                             sa.column("kinds", sa.Text()))
    for kind in OLD_KINDS:
        op.execute(subscriptions.update().values(
            {f"alert_{kind}": subscriptions.c.kinds.contains(kind)}))
    with op.batch_alter_table("subscriptions") as batch:
        batch.create_check_constraint("ck_subscriptions_some_alert_kind",
                                      "alert_regime OR alert_divergence OR alert_record")
        batch.drop_column("kinds")
