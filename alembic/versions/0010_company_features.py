"""invitations, announcements, audit records; users.auth_source and daily limits

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 17:15:00
"""

from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0010"
down_revision: Union[str, None] = "0009"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

String = sqlmodel.sql.sqltypes.AutoString
When = sqlmodel.sql.sqltypes.UTCDateTime

USER_COLUMNS = (
    ("auth_source", lambda: sa.Column("auth_source", String(length=16), nullable=False, server_default="local")),
    ("daily_question_limit", lambda: sa.Column("daily_question_limit", sa.Integer(), nullable=True)),
    ("daily_token_limit", lambda: sa.Column("daily_token_limit", sa.Integer(), nullable=True)),
)


def upgrade() -> None:
    # Only what is missing: a database made from the current models is adopted at 0001 and has it.
    inspector = sa.inspect(op.get_bind())
    existing = {column["name"] for column in inspector.get_columns("users")}
    for name, column in USER_COLUMNS:
        if name not in existing:
            op.add_column("users", column())  # plain ADD COLUMN: no copy of the table
    tables = set(inspector.get_table_names())
    if "invitations" not in tables:
        op.create_table(
            "invitations",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("email", String(length=254), nullable=False),
            sa.Column("code_hash", String(length=64), nullable=False),
            sa.Column("created_by", String(length=32), nullable=False),
            sa.Column("created_at", When(), nullable=False),
            sa.Column("expires_at", When(), nullable=False),
            sa.Column("used_at", When(), nullable=True),
            sa.Column("used_by", String(length=32), nullable=False),
            sa.Column("revoked_at", When(), nullable=True),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index("ix_invitations_email", "invitations", ["email"])
        op.create_index("ix_invitations_code_hash", "invitations", ["code_hash"], unique=True)
    if "announcements" not in tables:
        op.create_table(
            "announcements",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("text", sa.Text(), nullable=False),
            sa.Column("level", String(length=16), nullable=False),
            sa.Column("created_by", String(length=32), nullable=False),
            sa.Column("created_at", When(), nullable=False),
            sa.Column("ends_at", When(), nullable=True),
            sa.PrimaryKeyConstraint("id"),
        )
    if "announcement_dismissals" not in tables:
        op.create_table(
            "announcement_dismissals",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("announcement_id", sa.Integer(), nullable=False),
            sa.Column("user_id", sa.Integer(), nullable=False),
            sa.Column("created_at", When(), nullable=False),
            sa.ForeignKeyConstraint(["announcement_id"], ["announcements.id"], ondelete="CASCADE"),
            sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("announcement_id", "user_id"),
        )
        op.create_index("ix_announcement_dismissals_user_id", "announcement_dismissals", ["user_id"])
    if "audit_records" not in tables:
        op.create_table(
            "audit_records",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("created_at", When(), nullable=False),
            sa.Column("actor", String(length=64), nullable=False),
            sa.Column("action", String(length=40), nullable=False),
            sa.Column("target", String(length=200), nullable=False),
            sa.Column("client", String(length=100), nullable=False),
            sa.Column("detail", String(length=500), nullable=False),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index("ix_audit_created", "audit_records", ["created_at"])
        op.create_index("ix_audit_records_action", "audit_records", ["action"])


def downgrade() -> None:
    op.drop_index("ix_audit_records_action", "audit_records")
    op.drop_index("ix_audit_created", "audit_records")
    op.drop_table("audit_records")
    op.drop_index("ix_announcement_dismissals_user_id", "announcement_dismissals")
    op.drop_table("announcement_dismissals")
    op.drop_table("announcements")
    op.drop_index("ix_invitations_code_hash", "invitations")
    op.drop_index("ix_invitations_email", "invitations")
    op.drop_table("invitations")
    for name, _ in reversed(USER_COLUMNS):
        op.drop_column("users", name)  # plain DROP COLUMN: batch mode would copy and drop users
