"""users.must_change_password: a password someone else chose is changed at the next sign-in

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 09:30:00
"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: Union[str, None] = "0001"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # Only when missing (a database made from the current models is adopted at 0001 and has it),
    # and a plain ADD COLUMN: batch mode would copy the users table, which fails once it has
    # columns of later migrations.
    if "must_change_password" in {c["name"] for c in sa.inspect(op.get_bind()).get_columns("users")}:
        return
    op.add_column("users", sa.Column("must_change_password", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("must_change_password")
