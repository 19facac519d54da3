"""Operations on PostgreSQL (a throwaway server in Asia/Seoul time): migrate, check, optimize, cleanup, usage by day."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from fabrix_chat.config import PROJECT_ROOT, DatabaseSettings, ServerSettings, Settings
from fabrix_chat.db import make_engine, session_scope
from fabrix_chat.models import Conversation, Message, UsageRecord, User, utcnow
from fabrix_chat.repo.usage import usage_totals
from fabrix_chat.services import maintenance
from fabrix_chat.services.maintenance import MaintenanceError
from tests.integration import pg


@pytest.fixture
def settings(postgres_url: str, tmp_path: Path) -> Settings:
    url = pg.create_database(postgres_url, "fabrix_operations")
    return Settings(server=ServerSettings(data_dir=str(tmp_path)), database=DatabaseSettings(url=url))


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    maintenance.migrate(settings)
    engine = make_engine(settings.database_url)
    yield engine
    engine.dispose()


def test_migrate_check_and_optimize(settings: Settings, engine: Engine) -> None:
    assert maintenance.check(settings) == ["ok"]
    assert maintenance.migrate(settings) == maintenance.head_revision()  # again: nothing to do
    result = maintenance.optimize(settings)
    assert result["size_before"] > 0 and result["size_after"] > 0


def test_check_reports_an_unreachable_server_without_its_password(tmp_path: Path) -> None:
    settings = Settings(
        server=ServerSettings(data_dir=str(tmp_path)),
        database=DatabaseSettings(url="postgresql+psycopg://app:pg-s3cret@127.0.0.1:1/fabrix"),
    )
    (problem,) = maintenance.check(settings)
    assert problem.startswith("cannot reach the database") and "pg-s3cret" not in problem


def test_backup_points_to_pg_dump(settings: Settings, engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(MaintenanceError, match="pg_dump"):
        maintenance.backup(settings)
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(f'[database]\nurl = "{settings.database_url}"\n[server]\ndata_dir = "{tmp_path.as_posix()}"\n')
    result = subprocess.run(
        [sys.executable, "-m", "fabrix_chat.manage", "backup"],
        cwd=PROJECT_ROOT,
        env={**os.environ, "FABRIX_CHAT_SECRETS": str(secrets)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1 and "pg_dump" in result.stderr


def test_cleanup_dry_run_then_real(engine: Engine) -> None:
    with session_scope(engine) as session:
        user = User(username="pguser", email="pg@example.com", password_hash="x")
        session.add(user)
        session.flush()
        for age_days, messages in ((100, 2), (5, 1)):
            conversation = Conversation(user_id=user.id, updated_at=utcnow() - timedelta(days=age_days))
            session.add(conversation)
            session.flush()
            session.add_all(
                Message(conversation_id=conversation.id, seq=i, role="user", content="hi") for i in range(messages)
            )
    with session_scope(engine) as session:
        preview = maintenance.cleanup(session=session, days=30, dry_run=True)
    with session_scope(engine) as session:
        done = maintenance.cleanup(session=session, days=30, dry_run=False)
    assert (preview["conversations"], preview["messages"]) == (done["conversations"], done["messages"]) == (1, 2)
    with session_scope(engine) as session:
        assert session.exec(select(func.count()).select_from(Message)).one() == 1


def test_usage_per_day_does_not_depend_on_the_server_time_zone(engine: Engine) -> None:
    now = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    with Session(engine) as session:
        # 03-09 16:00 UTC is already 03-10 01:00 in Seoul, the server's zone.
        for at, outcome in ((now - timedelta(hours=20), "ok"), (now - timedelta(hours=1), "error")):
            session.add(
                UsageRecord(username="pguser", agent_id="a", kind="chat", tokens_in=3, outcome=outcome, created_at=at)
            )
        session.commit()
        utc_days = usage_totals(session=session, group_by="day", now=now)
        kst_days = usage_totals(session=session, group_by="day", now=now, tz_offset_minutes=540)
        per_user = usage_totals(session=session, group_by="user", now=now)
    assert [(r["key"], r["requests"], r["errors"]) for r in utc_days] == [("2026-03-09", 1, 0), ("2026-03-10", 1, 1)]
    assert [(r["key"], r["requests"]) for r in kst_days] == [("2026-03-10", 2)]
    assert per_user == [
        {"key": "pguser", "requests": 2, "tokens_in": 6, "tokens_out": 0, "errors": 1, "avg_latency_ms": 0}
    ]
