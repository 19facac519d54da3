"""Data for the daily quotas (services/quota.py): a user's usage in one day, and the limits an
administrator set per user (User.daily_question_limit / daily_token_limit; None: the default)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from fabrix_chat.models import UsageRecord, User

# Usage record kinds that are questions (a regenerated answer too); "agents" is the agent list.
QUESTION_KINDS = ("chat", "file")

LimitKind = Literal["questions", "tokens"]


def day_usage(*, session: Session, user_id: int, since: datetime, until: datetime) -> tuple[int, int]:
    """(questions, estimated tokens in + out) the user's answers recorded from `since` to before `until`."""
    tokens = func.coalesce(func.sum(col(UsageRecord.tokens_in) + col(UsageRecord.tokens_out)), 0)
    stmt = select(func.count(), tokens).where(
        col(UsageRecord.user_id) == user_id,
        col(UsageRecord.kind).in_(QUESTION_KINDS),
        # Stored as UTC (SQLite keeps the wall time without its zone): compare in UTC.
        col(UsageRecord.created_at) >= since.astimezone(UTC),
        col(UsageRecord.created_at) < until.astimezone(UTC),
    )
    questions, used = session.exec(stmt).one()
    return int(questions or 0), int(used or 0)


def any_override(*, session: Session) -> bool:
    """Whether an administrator set a daily limit of its own for any user."""
    stmt = select(User.id).where(
        or_(col(User.daily_question_limit).is_not(None), col(User.daily_token_limit).is_not(None))
    )
    return session.exec(stmt.limit(1)).first() is not None


def set_limit(*, session: Session, user_id: int, kind: LimitKind, value: int | None) -> User | None:
    """Set the user's own daily question or token limit (None: the default); None when there is no such user."""
    user = session.get(User, user_id)
    if user is None:
        return None
    if kind == "questions":
        user.daily_question_limit = value
    else:
        user.daily_token_limit = value
    session.add(user)
    session.flush()
    session.refresh(user)
    return user
