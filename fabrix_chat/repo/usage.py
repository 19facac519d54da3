"""Usage records: one row per FabriX call, and the totals the admin page shows."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, case, func, literal_column
from sqlmodel import Session, col, select

from fabrix_chat import spreadsheet
from fabrix_chat.models import Conversation, Message, UsageRecord, User, utcnow


def record_usage(
    *,
    session: Session,
    user_id: int | None,
    username: str,
    agent_id: str,
    kind: str,
    tokens_in: int,
    tokens_out: int,
    latency_ms: int,
    outcome: str,
) -> None:
    session.add(
        UsageRecord(
            user_id=user_id,
            username=username,
            agent_id=agent_id,
            kind=kind,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            latency_ms=latency_ms,
            outcome=outcome,
        )
    )


def _day_key(session: Session, tz_offset_minutes: int) -> ColumnElement[str]:
    """'YYYY-MM-DD' of created_at, shifted from UTC by the offset (e.g. +540 for Korea)."""
    created = col(UsageRecord.created_at)
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        # Stored as UTC text 'YYYY-MM-DD HH:MM:SS.ffffff'; date() applies the shift before cutting the day.
        return func.date(created, f"{tz_offset_minutes:+d} minutes")
    if dialect == "postgresql":
        # A timestamptz prints in the session's time zone: convert to UTC first so the server setting
        # does not move records between days. Literal SQL, not bound parameters: PostgreSQL only accepts
        # the SELECT expression if the GROUP BY one is identical. int() keeps it injection-free.
        shifted = func.timezone("UTC", created) + literal_column(f"INTERVAL '{int(tz_offset_minutes)} minutes'")
        return func.to_char(shifted, literal_column("'YYYY-MM-DD'"))
    raise ValueError(f"usage by day is not supported on {dialect}")


def usage_totals(
    *, session: Session, group_by: str, days: int = 30, now: datetime | None = None, tz_offset_minutes: int = 0
) -> list[dict]:
    """Requests, tokens, errors and average latency per 'user', 'agent' or 'day' over the last `days` days.

    Each row: {"key", "requests", "tokens_in", "tokens_out", "errors", "avg_latency_ms"}, ordered by key.
    Days are 'YYYY-MM-DD' in UTC shifted by `tz_offset_minutes` (540 for KST). Errors are outcomes other
    than "ok" and "stopped".
    """
    since = (now or utcnow()) - timedelta(days=days)
    if group_by == "user":
        key = col(UsageRecord.username)
    elif group_by == "agent":
        key = col(UsageRecord.agent_id)
    elif group_by == "day":
        key = _day_key(session, tz_offset_minutes)
    else:
        raise ValueError(f"group_by must be user, agent or day, not {group_by!r}")
    is_error = case((col(UsageRecord.outcome).in_(["ok", "stopped"]), 0), else_=1)
    stmt = (
        select(
            key.label("key"),
            func.count().label("requests"),
            func.coalesce(func.sum(UsageRecord.tokens_in), 0).label("tokens_in"),
            func.coalesce(func.sum(UsageRecord.tokens_out), 0).label("tokens_out"),
            func.coalesce(func.sum(is_error), 0).label("errors"),
            func.coalesce(func.avg(UsageRecord.latency_ms), 0).label("avg_latency_ms"),
        )
        .where(col(UsageRecord.created_at) >= since)
        .group_by(key)
        .order_by(key)
    )
    # PostgreSQL returns Decimal for sums and averages: plain ints for the page and the chart.
    return [
        {
            "key": row.key,
            "requests": int(row.requests),
            "tokens_in": int(row.tokens_in),
            "tokens_out": int(row.tokens_out),
            "errors": int(row.errors),
            "avg_latency_ms": round(float(row.avg_latency_ms)),
        }
        for row in session.exec(stmt)
    ]


# --- feedback on answers (Good answer / Bad answer) --------------------------------------------


def feedback_by_agent(*, session: Session, days: int) -> list[dict[str, Any]]:
    """Good and bad verdicts given in the last `days` days, per agent, most verdicts first."""
    since = utcnow() - timedelta(days=days)
    good = func.sum(case((col(Message.feedback) > 0, 1), else_=0))
    bad = func.sum(case((col(Message.feedback) < 0, 1), else_=0))
    stmt = (
        select(Conversation.agent_id, good, bad)
        .join(Conversation, col(Conversation.id) == col(Message.conversation_id))
        .where(col(Message.feedback) != 0, col(Message.feedback_at) >= since)
        .group_by(Conversation.agent_id)
        .order_by((good + bad).desc(), col(Conversation.agent_id))
    )
    return [{"agent": agent or "", "good": int(g or 0), "bad": int(b or 0)} for agent, g, b in session.exec(stmt)]


def recent_feedback_comments(*, session: Session, limit: int = 20) -> list[dict[str, Any]]:
    """The newest comments given with Bad answer: who, on which conversation, when, what."""
    stmt = (
        select(Message.feedback_comment, Message.feedback_at, Conversation.id, Conversation.title, User.username)
        .join(Conversation, col(Conversation.id) == col(Message.conversation_id))
        .join(User, col(User.id) == col(Conversation.user_id))
        .where(col(Message.feedback) < 0, col(Message.feedback_comment) != "")
        .order_by(col(Message.feedback_at).desc(), col(Message.id).desc())
        .limit(limit)
    )
    return [
        {"comment": comment, "at": at, "conversation_id": cid, "title": title, "username": username}
        for comment, at, cid, title, username in session.exec(stmt)
    ]


# --- the Usage tab's CSV export ----------------------------------------------------------------

EXPORT_COLUMNS = ("day", "user", "agent", "requests", "tokens_in", "tokens_out", "errors", "avg_latency_ms")


def daily_totals(*, session: Session, since: datetime, until: datetime, tz_offset_minutes: int = 0) -> list[dict]:
    """Per day, user and agent: requests, tokens, errors and average latency of the records from
    `since` to `until` (excluded). Days are 'YYYY-MM-DD' shifted from UTC by the offset, as on the tab."""
    day = _day_key(session, tz_offset_minutes)
    is_error = case((col(UsageRecord.outcome).in_(["ok", "stopped"]), 0), else_=1)
    user, agent = col(UsageRecord.username), col(UsageRecord.agent_id)
    stmt = (
        select(
            day.label("day"),
            user.label("user"),
            agent.label("agent"),
            func.count().label("requests"),
            func.coalesce(func.sum(UsageRecord.tokens_in), 0).label("tokens_in"),
            func.coalesce(func.sum(UsageRecord.tokens_out), 0).label("tokens_out"),
            func.coalesce(func.sum(is_error), 0).label("errors"),
            func.coalesce(func.avg(UsageRecord.latency_ms), 0).label("avg_latency_ms"),
        )
        .where(col(UsageRecord.created_at) >= since, col(UsageRecord.created_at) < until)
        .group_by(day, user, agent)
        .order_by(day, user, agent)
    )
    return [
        {
            "day": row.day,
            "user": row.user,
            "agent": row.agent,
            "requests": int(row.requests),
            "tokens_in": int(row.tokens_in),
            "tokens_out": int(row.tokens_out),
            "errors": int(row.errors),
            "avg_latency_ms": round(float(row.avg_latency_ms)),
        }
        for row in session.exec(stmt)
    ]


def daily_totals_csv(rows: list[dict]) -> str:
    return spreadsheet.to_csv(EXPORT_COLUMNS, ([row[name] for name in EXPORT_COLUMNS] for row in rows))
