"""messages.feedback, feedback_comment, feedback_at: Good answer / Bad answer on an answer

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 15:45:00
"""

from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0006"
down_revision: Union[str, None] = "0005"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

COLUMNS = (
    ("feedback", lambda: sa.Column("feedback", sa.Integer(), nullable=False, server_default="0")),
    (
        "feedback_comment",
        lambda: sa.Column(
            "feedback_comment", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False, server_default=""
        ),
    ),
    ("feedback_at", lambda: sa.Column("feedback_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)),
)


def upgrade() -> None:
    # Plain ADD COLUMN, only what is missing (a database made from the current models has them).
    existing = {column["name"] for column in sa.inspect(op.get_bind()).get_columns("messages")}
    for name, column in COLUMNS:
        if name not in existing:
            op.add_column("messages", column())


def downgrade() -> None:
    for name, _ in reversed(COLUMNS):
        op.drop_column("messages", name)
