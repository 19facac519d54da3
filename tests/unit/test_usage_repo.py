"""Usage totals per user, per agent and per day on SQLite, as the admin page's usage tab shows them.

The same totals on PostgreSQL: tests/integration/test_postgres_operations.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel

from fabrix_chat.db import make_engine
from fabrix_chat.models import UsageRecord
from fabrix_chat.repo.usage import usage_totals

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
KST = 9 * 60


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    engine: Engine = make_engine(f"sqlite:///{(tmp_path / 'usage.db').as_posix()}")
    SQLModel.metadata.create_all(engine)
    with Session(engine) as session:
        yield session
    engine.dispose()


def add(session: Session, at: datetime, username: str, agent: str, outcome: str = "ok", tokens: int = 10) -> None:
    session.add(
        UsageRecord(
            username=username,
            agent_id=agent,
            kind="chat",
            tokens_in=tokens,
            tokens_out=tokens * 2,
            latency_ms=100 if outcome == "ok" else 300,
            outcome=outcome,
            created_at=at,
        )
    )


@pytest.fixture
def records(session: Session) -> Session:
    add(session, NOW - timedelta(hours=1), "alice", "agent-a")  # 03-10 11:00 UTC, 20:00 KST
    add(session, NOW - timedelta(hours=2), "alice", "agent-b", outcome="timeout")  # 03-10 10:00 UTC
    add(session, NOW - timedelta(hours=13), "bob", "agent-a", outcome="stopped")  # 03-09 23:00 UTC = 03-10 08:00 KST
    add(session, NOW - timedelta(days=2), "bob", "agent-a", tokens=5)  # 03-08 12:00 UTC
    add(session, NOW - timedelta(days=40), "carol", "agent-c")  # outside a 30-day window
    session.commit()
    return session


def test_totals_per_user(records: Session) -> None:
    assert usage_totals(session=records, group_by="user", now=NOW) == [
        {"key": "alice", "requests": 2, "tokens_in": 20, "tokens_out": 40, "errors": 1, "avg_latency_ms": 200},
        {"key": "bob", "requests": 2, "tokens_in": 15, "tokens_out": 30, "errors": 0, "avg_latency_ms": 200},
    ]


def test_totals_per_agent(records: Session) -> None:
    rows = usage_totals(session=records, group_by="agent", now=NOW)
    assert [(r["key"], r["requests"], r["errors"]) for r in rows] == [("agent-a", 3, 0), ("agent-b", 1, 1)]


def test_totals_per_day_in_utc(records: Session) -> None:
    rows = usage_totals(session=records, group_by="day", now=NOW)
    assert [(r["key"], r["requests"], r["tokens_in"]) for r in rows] == [
        ("2026-03-08", 1, 5),
        ("2026-03-09", 1, 10),
        ("2026-03-10", 2, 20),
    ]


def test_totals_per_day_in_korean_time(records: Session) -> None:
    rows = usage_totals(session=records, group_by="day", now=NOW, tz_offset_minutes=KST)
    assert [(r["key"], r["requests"]) for r in rows] == [("2026-03-08", 1), ("2026-03-10", 3)]


def test_window_covers_the_last_days_only(records: Session) -> None:
    assert [r["key"] for r in usage_totals(session=records, group_by="user", days=1, now=NOW)] == ["alice", "bob"]
    assert sum(r["requests"] for r in usage_totals(session=records, group_by="user", days=1, now=NOW)) == 3
    assert "carol" in [r["key"] for r in usage_totals(session=records, group_by="user", days=60, now=NOW)]


def test_no_usage_gives_no_rows(session: Session) -> None:
    assert usage_totals(session=session, group_by="day", now=NOW) == []


def test_unknown_grouping_is_refused(session: Session) -> None:
    with pytest.raises(ValueError, match="group_by"):
        usage_totals(session=session, group_by="week", now=NOW)


def test_feedback_is_counted_per_agent_and_the_newest_comments_come_first(session: Session) -> None:
    from fabrix_chat.models import Conversation, Message, User
    from fabrix_chat.repo.usage import feedback_by_agent, recent_feedback_comments

    kim = User(username="kim", email="kim@example.com", password_hash="x")
    session.add(kim)
    session.flush()
    now = datetime.now(UTC)
    verdicts = [
        ("code", 1, "", 1),
        ("code", -1, "wrong", 2),
        ("code", -1, "", 3),
        ("docs", 1, "", 4),
        ("docs", 1, "", 40),
    ]
    for seq, (agent, value, comment, days) in enumerate(verdicts):
        chat = Conversation(user_id=kim.id, title=f"chat {seq}", agent_id=agent)
        session.add(chat)
        session.flush()
        at = now - timedelta(days=days)
        session.add(
            Message(
                conversation_id=chat.id,
                seq=1,
                role="assistant",
                content="a",
                feedback=value,
                feedback_comment=comment,
                feedback_at=at,
            )
        )
        session.add(Message(conversation_id=chat.id, seq=2, role="assistant", content="no verdict"))
    session.commit()
    # The 40-day-old verdict is outside the 30 days; answers without one are not counted.
    assert feedback_by_agent(session=session, days=30) == [
        {"agent": "code", "good": 1, "bad": 2},
        {"agent": "docs", "good": 1, "bad": 0},
    ]
    (only,) = recent_feedback_comments(session=session)
    assert (only["comment"], only["username"], only["title"]) == ("wrong", "kim", "chat 1")
