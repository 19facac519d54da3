"""messages.owner and messages.heartbeat_at: a streaming answer shows which instance writes it and that it is alive

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-08 10:00:00
"""

from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0003"
down_revision: Union[str, None] = "0002"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # A database made from the current models before it had a migration record is adopted at 0001
    # (`manage migrate`) and already has these columns. A plain ADD COLUMN (no table copy on
    # SQLite) would fail on them, so only the missing ones are added.
    existing = {column["name"] for column in sa.inspect(op.get_bind()).get_columns("messages")}
    with op.batch_alter_table("messages") as batch:
        if "owner" not in existing:
            batch.add_column(
                sa.Column("owner", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False, server_default="")
            )
        if "heartbeat_at" not in existing:
            batch.add_column(sa.Column("heartbeat_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("heartbeat_at")
        batch.drop_column("owner")
