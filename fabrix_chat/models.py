"""Every table of the app.

Timestamps are timezone-aware UTC datetimes. Schema changes go through migrations in alembic/.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


class Role(StrEnum):
    """Who wrote a message."""

    USER = "user"
    ASSISTANT = "assistant"


class Status(StrEnum):
    """What became of a message: a question is COMPLETE when saved; an answer is STREAMING until
    it ends COMPLETE, STOPPED (Stop, or its writer went away) or ERROR (with its plain message)."""

    COMPLETE = "complete"
    STREAMING = "streaming"
    STOPPED = "stopped"
    ERROR = "error"


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(when: datetime | None) -> datetime | None:
    """`when` as an aware UTC-based datetime: SQLite hands datetimes back naive (they were stored as UTC)."""
    return when.replace(tzinfo=UTC) if when is not None and when.tzinfo is None else when


MAX_ID = 2**63 - 1  # the largest id a database column holds (SQLite INTEGER, PostgreSQL BIGINT)


def record_id(value: object) -> int:
    """A row id as a browser sent it: 0 (no row) for anything that is not a whole number from 1
    to MAX_ID, so a forged or broken id is "not found", never an error."""
    try:
        number = int(str(value).strip())
    except ValueError:
        return 0
    return number if 0 < number <= MAX_ID else 0


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=32, unique=True, index=True)
    email: str = Field(max_length=254, unique=True, index=True)
    password_hash: str = Field(max_length=255)
    is_admin: bool = False
    is_active: bool = True
    created_at: datetime = Field(default_factory=utcnow)
    last_login_at: datetime | None = None
    # Set when someone else chose the password (an admin's reset, an import): the user must
    # choose their own at the next sign-in before anything else.
    must_change_password: bool = False
    # Migration 0010: where the password is checked ("local", or "ldap": the directory, with no
    # local password), and the user's own daily limits (None: the [quota] default).
    auth_source: str = Field(default="local", max_length=16)
    daily_question_limit: int | None = None
    daily_token_limit: int | None = None


class AuthSession(SQLModel, table=True):
    """A signed-in browser. Only the SHA-256 of its random token is stored."""

    __tablename__ = "auth_sessions"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", ondelete="CASCADE", index=True)
    token_hash: str = Field(max_length=64, unique=True, index=True)
    created_at: datetime = Field(default_factory=utcnow)
    last_seen_at: datetime = Field(default_factory=utcnow)
    client: str = Field(default="", max_length=100)


class Conversation(SQLModel, table=True):
    __tablename__ = "conversations"
    __table_args__ = (Index("ix_conversations_user_updated", "user_id", "updated_at"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", ondelete="CASCADE")
    title: str = Field(default="", max_length=200)
    agent_id: str = Field(default="", max_length=100)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    pinned_at: datetime | None = None  # pinned chats head the sidebar (migration 0005)


class Message(SQLModel, table=True):
    __tablename__ = "messages"
    # AUTOINCREMENT: SQLite would otherwise give a deleted newest message's id to the next one
    # (migration 0004), and answers are found by id while they stream.
    __table_args__ = (Index("ix_messages_conversation_seq", "conversation_id", "seq"), {"sqlite_autoincrement": True})

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversations.id", ondelete="CASCADE")
    seq: int  # position in the conversation, 0-based
    role: str = Field(max_length=16)  # a Role
    content: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    status: str = Field(default="complete", max_length=16)  # a Status
    error: str = Field(default="", max_length=500)
    attachment_name: str = Field(default="", max_length=255)
    attachment_size: int = 0
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    # While an answer streams: the app instance writing it and when that writer last showed it was
    # alive, so a starting instance stops only answers nobody is writing any more. Cleared at the end.
    owner: str = Field(default="", max_length=64)
    heartbeat_at: datetime | None = None
    # The asker's verdict on an answer: 1 Good answer, -1 Bad answer (with an optional comment), 0 none.
    feedback: int = 0
    feedback_comment: str = Field(default="", max_length=1000)
    feedback_at: datetime | None = None
    # Versions (migration 0007): messages form a tree, each one following its parent (the message
    # before it, None for a first question); a regenerated answer or an edited question is a new
    # child beside the old one, which is kept. `current` marks the one path on screen, with seq
    # 0, 1, 2, ... along it (seq is a message's depth); `picked_at` is when a version was last
    # chosen, so going back to a branch shows the versions last chosen within it.
    parent_id: int | None = Field(default=None, index=True)
    current: bool = True
    picked_at: datetime | None = Field(default_factory=utcnow)


class UsageRecord(SQLModel, table=True):
    """One FabriX call: who, which agent, what kind, estimated tokens, latency, outcome."""

    __tablename__ = "usage_records"
    __table_args__ = (Index("ix_usage_created", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL", index=True)
    username: str = Field(default="", max_length=32)
    agent_id: str = Field(default="", max_length=100)
    kind: str = Field(max_length=16)  # "chat", "file", "agents"
    tokens_in: int = 0
    tokens_out: int = 0
    latency_ms: int = 0
    outcome: str = Field(default="ok", max_length=32)  # "ok", "stopped" or an error kind
    created_at: datetime = Field(default_factory=utcnow)


class Share(SQLModel, table=True):
    """A read-only copy of a conversation as it was when shared, at /shared/{token}, for any
    signed-in user. Stop sharing deletes the row (migration 0008)."""

    __tablename__ = "shares"

    id: int | None = Field(default=None, primary_key=True)
    token: str = Field(max_length=64, unique=True, index=True)
    conversation_id: int = Field(foreign_key="conversations.id", ondelete="CASCADE", unique=True)
    user_id: int = Field(foreign_key="users.id", ondelete="CASCADE", index=True)
    title: str = Field(default="", max_length=200)
    agent_id: str = Field(default="", max_length=100)
    # The messages on screen when shared, as JSON: [{"role", "content", "attachment_name", "created_at"}].
    snapshot: str = Field(default="[]", sa_column=Column(Text, nullable=False, default="[]"))
    created_at: datetime = Field(default_factory=utcnow)


class Prompt(SQLModel, table=True):
    """A saved prompt of the prompt library (migration 0009): a user's own, or, with no user,
    one an administrator published for everyone. The body's limit (repo/prompts.py) is checked
    in code: the column is plain text."""

    __tablename__ = "prompts"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int | None = Field(default=None, foreign_key="users.id", ondelete="CASCADE", index=True)
    title: str = Field(max_length=100)
    body: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Invitation(SQLModel, table=True):
    """A personal invitation (migration 0010): one sign-up for one email address before it
    expires. Only the SHA-256 of its code is stored."""

    __tablename__ = "invitations"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, index=True)
    code_hash: str = Field(max_length=64, unique=True, index=True)
    created_by: str = Field(default="", max_length=32)  # the admin's username
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    used_at: datetime | None = None
    used_by: str = Field(default="", max_length=32)  # the username it signed up
    revoked_at: datetime | None = None


class Announcement(SQLModel, table=True):
    """A banner on every chat page until its end time (migration 0010); markdown, never raw HTML."""

    __tablename__ = "announcements"

    id: int | None = Field(default=None, primary_key=True)
    text: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    level: str = Field(default="info", max_length=16)  # "info" or "warning"
    created_by: str = Field(default="", max_length=32)
    created_at: datetime = Field(default_factory=utcnow)
    ends_at: datetime | None = None


class AnnouncementDismissal(SQLModel, table=True):
    """A user pressed Dismiss on an announcement: it is not shown to them again."""

    __tablename__ = "announcement_dismissals"
    __table_args__ = (UniqueConstraint("announcement_id", "user_id"),)

    id: int | None = Field(default=None, primary_key=True)
    announcement_id: int = Field(foreign_key="announcements.id", ondelete="CASCADE")
    user_id: int = Field(foreign_key="users.id", ondelete="CASCADE", index=True)
    created_at: datetime = Field(default_factory=utcnow)


class AuditRecord(SQLModel, table=True):
    """Who did what, to whom, when and from where (migration 0010). Never a secret."""

    __tablename__ = "audit_records"
    __table_args__ = (Index("ix_audit_created", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow)
    actor: str = Field(default="", max_length=64)  # a username, or "" (someone not signed in)
    action: str = Field(max_length=40, index=True)  # an audit.Action
    target: str = Field(default="", max_length=200)  # on whom or what (a username, a title, a file)
    client: str = Field(default="", max_length=100)  # the client address
    detail: str = Field(default="", max_length=500)
