"""messages: ids never reused (SQLite AUTOINCREMENT)

SQLite gives a new row the largest id + 1, so the id of the newest, deleted message came back
for the next one: an answer still streaming in one tab while another tab regenerated it could
then write into the new answer, and everything the app keys by answer id (the running answers,
the live board in Redis, the page's buffer) could mix two answers. PostgreSQL's sequences never
reuse ids; there this migration does nothing.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 13:00:00
"""

from typing import Sequence, Union

from alembic import op

revision: str = "0004"
down_revision: Union[str, None] = "0003"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    # The table is copied with AUTOINCREMENT (its rows, indexes and keys kept).
    with op.batch_alter_table("messages", recreate="always", table_kwargs={"sqlite_autoincrement": True}):
        pass


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table("messages", recreate="always", table_kwargs={"sqlite_autoincrement": False}):
        pass
