"""conversations.pinned_at: a pinned chat sits in the sidebar's Pinned group

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 15:30:00
"""

from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0005"
down_revision: Union[str, None] = "0004"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # Only when missing: a database made from the current models is adopted at 0001 and has it.
    existing = {column["name"] for column in sa.inspect(op.get_bind()).get_columns("conversations")}
    if "pinned_at" not in existing:  # a plain ADD COLUMN: no copy of the table (see downgrade)
        op.add_column("conversations", sa.Column("pinned_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite 3.35+), never batch mode: batch mode copies the table and drops
    # the old one, and dropping conversations would cascade to every message.
    op.drop_column("conversations", "pinned_at")
