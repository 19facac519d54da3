"""The SQLite pragmas hold on every connection, and the migrations build the schema."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlalchemy import inspect, text

from fabrix_chat.db import make_engine

ROOT = Path(__file__).resolve().parents[2]


def test_pragmas_on_every_connection(tmp_path):
    engine = make_engine(f"sqlite:///{(tmp_path / 'p.db').as_posix()}")
    for _ in range(3):
        with engine.connect() as connection:
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert connection.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL
            assert connection.execute(text("PRAGMA busy_timeout")).scalar() >= 5000
            assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    engine.dispose()


def test_migrations_create_the_schema_with_its_indexes(tmp_path):
    url = f"sqlite:///{(tmp_path / 'm.db').as_posix()}"
    subprocess.run(
        [sys.executable, "-m", "alembic", "-x", f"url={url}", "upgrade", "head"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    engine = make_engine(url)
    inspector = inspect(engine)
    assert {"users", "auth_sessions", "conversations", "messages", "usage_records"} <= set(inspector.get_table_names())
    conv_indexes = {i["name"]: i["column_names"] for i in inspector.get_indexes("conversations")}
    assert conv_indexes["ix_conversations_user_updated"] == ["user_id", "updated_at"]
    msg_indexes = {i["name"]: i["column_names"] for i in inspector.get_indexes("messages")}
    assert msg_indexes["ix_messages_conversation_seq"] == ["conversation_id", "seq"]
    engine.dispose()


def test_models_match_the_migrations(tmp_path):
    """No model change without a migration: alembic's autogenerate finds nothing to add."""
    url = f"sqlite:///{(tmp_path / 'c.db').as_posix()}"
    subprocess.run(
        [sys.executable, "-m", "alembic", "-x", f"url={url}", "upgrade", "head"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    result = subprocess.run(
        [sys.executable, "-m", "alembic", "-x", f"url={url}", "check"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
