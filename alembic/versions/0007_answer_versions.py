"""messages.parent_id, current, picked_at: regenerate and edit keep the earlier version

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 17:00:00
"""

from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0007"
down_revision: Union[str, None] = "0006"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

COLUMNS = (
    ("parent_id", lambda: sa.Column("parent_id", sa.Integer(), nullable=True)),
    ("current", lambda: sa.Column("current", sa.Boolean(), nullable=False, server_default=sa.true())),
    ("picked_at", lambda: sa.Column("picked_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)),
)


def upgrade() -> None:
    # Plain ADD COLUMN, only what is missing (a database made from the current models has them).
    existing = {column["name"] for column in sa.inspect(op.get_bind()).get_columns("messages")}
    for name, column in COLUMNS:
        if name not in existing:
            op.add_column("messages", column())
    indexes = {index["name"] for index in sa.inspect(op.get_bind()).get_indexes("messages")}
    if "ix_messages_parent_id" not in indexes:
        op.create_index("ix_messages_parent_id", "messages", ["parent_id"])
    # Until now every conversation was one line: each message follows the one before it.
    op.execute(
        "UPDATE messages SET parent_id = (SELECT earlier.id FROM messages AS earlier"
        " WHERE earlier.conversation_id = messages.conversation_id AND earlier.seq = messages.seq - 1)"
        " WHERE parent_id IS NULL AND seq > 0"
    )


def downgrade() -> None:
    # Only the versions on screen stay: the others would read as one line with the shown ones.
    op.execute("DELETE FROM messages WHERE NOT current")
    op.drop_index("ix_messages_parent_id", "messages")
    for name, _ in reversed(COLUMNS):
        op.drop_column("messages", name)
