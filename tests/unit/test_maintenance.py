"""Database operations on real SQLite files: migrate, backup under load, restore, check, optimize, cleanup."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel, func, select

from fabrix_chat.config import DatabaseSettings, ServerSettings, Settings
from fabrix_chat.db import make_engine, session_scope
from fabrix_chat.models import Conversation, Message, User, utcnow
from fabrix_chat.repo import conversations, users
from fabrix_chat.services import maintenance
from fabrix_chat.services.maintenance import MaintenanceError


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(server=ServerSettings(data_dir=str(tmp_path / "data")))


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    maintenance.migrate(settings)
    engine = make_engine(settings.database_url)
    yield engine
    engine.dispose()


def add_user(engine: Engine, username: str) -> int:
    with session_scope(engine) as session:
        user = users.create_user(session=session, username=username, email=f"{username}@example.com", password_hash="x")
        assert user.id is not None
        return user.id


def add_conversation(engine: Engine, user_id: int, messages: int, age_days: float = 0, text: str = "hello") -> int:
    """A conversation with `messages` messages whose last activity was `age_days` ago."""
    with session_scope(engine) as session:
        conversation = conversations.create_conversation(session=session, user_id=user_id, title="t")
        assert conversation.id is not None
        for seq in range(messages):
            session.add(Message(conversation_id=conversation.id, seq=seq, role="user", content=text))
        conversation.updated_at = utcnow() - timedelta(days=age_days)
        session.add(conversation)
        return conversation.id


def count(db_file: Path, table: str) -> int:
    with closing(sqlite3.connect(db_file)) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def usernames(db_file: Path) -> set[str]:
    with closing(sqlite3.connect(db_file)) as conn:
        return {row[0] for row in conn.execute("SELECT username FROM users")}


# --- migrate and check -------------------------------------------------------------------------


def test_migrate_creates_the_schema_and_check_says_ok(settings: Settings) -> None:
    (problem,) = maintenance.check(settings)
    assert "there is no database" in problem and "manage migrate" in problem
    assert maintenance.migrate(settings) == maintenance.head_revision()
    assert maintenance.migrate(settings) == maintenance.head_revision()  # twice is harmless
    assert maintenance.check(settings) == ["ok"]


def test_migrate_adopts_a_database_created_before_migrations(settings: Settings) -> None:
    engine = make_engine(settings.database_url)
    SQLModel.metadata.create_all(engine)
    add_user(engine, "early")
    engine.dispose()
    assert any("no migration record" in p for p in maintenance.check(settings))

    assert maintenance.migrate(settings) == maintenance.head_revision()
    assert maintenance.check(settings) == ["ok"]
    assert usernames(maintenance.sqlite_file(settings)) == {"early"}


def test_check_reports_a_damaged_file(settings: Settings, engine: Engine) -> None:
    user_id = add_user(engine, "alice")
    for _ in range(30):
        add_conversation(engine, user_id, messages=20, text="x" * 500)
    engine.dispose()
    db_file = maintenance.sqlite_file(settings)
    with closing(sqlite3.connect(db_file)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    data = bytearray(db_file.read_bytes())
    # Scribble over a few pages in the middle (message data and index pages): integrity_check must notice.
    start = page_size * (len(data) // page_size // 2)
    data[start : start + 3 * page_size] = b"\xa5" * (3 * page_size)
    db_file.write_bytes(bytes(data))

    problems = maintenance.check(settings)
    assert problems != ["ok"]
    assert problems and all(isinstance(p, str) and p for p in problems)


def test_operations_on_postgresql_point_to_its_own_tools(tmp_path: Path) -> None:
    pg = Settings(
        server=ServerSettings(data_dir=str(tmp_path)),
        database=DatabaseSettings(url="postgresql+psycopg://app:s3cret@db.example/fabrix"),
    )
    with pytest.raises(MaintenanceError, match="pg_dump"):
        maintenance.backup(pg)
    with pytest.raises(MaintenanceError, match="pg_restore"):
        maintenance.restore(pg, tmp_path / "x.db")
    assert "s3cret" not in maintenance.describe_database(pg)


# --- backup ----------------------------------------------------------------------------------


def test_backup_goes_to_data_dir_backups_and_passes_integrity_check(settings: Settings, engine: Engine) -> None:
    add_user(engine, "alice")
    path = maintenance.backup(settings)
    assert path.parent == settings.data_path / "backups"
    assert path.name.startswith("fabrix_chat-") and path.suffix == ".db"
    assert not Path(f"{path}-wal").exists()
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    assert usernames(path) == {"alice"}
    second = maintenance.backup(settings)
    assert second != path  # two backups in the same second do not overwrite each other


def test_backup_to_a_chosen_file_replaces_it_but_never_the_live_database(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    add_user(engine, "alice")
    target = tmp_path / "elsewhere" / "copy.db"
    assert maintenance.backup(settings, target) == target
    add_user(engine, "bob")
    maintenance.backup(settings, target)
    assert usernames(target) == {"alice", "bob"}
    with pytest.raises(MaintenanceError, match="live database"):
        maintenance.backup(settings, maintenance.sqlite_file(settings))
    assert usernames(maintenance.sqlite_file(settings)) == {"alice", "bob"}


def test_backup_without_a_database_says_so(settings: Settings) -> None:
    with pytest.raises(MaintenanceError, match="nothing to back up"):
        maintenance.backup(settings)


def test_backup_while_the_app_writes_is_consistent(settings: Settings, engine: Engine) -> None:
    user_id = add_user(engine, "alice")
    conversation_id = add_conversation(engine, user_id, messages=0)
    # A few MB, so the copy takes long enough for writes to land while it runs.
    with session_scope(engine) as session:
        session.add_all(
            Message(conversation_id=conversation_id, seq=i, role="user", content="x" * 2000) for i in range(3000)
        )
    committed = [count(maintenance.sqlite_file(settings), "messages")]
    stop, errors = threading.Event(), []

    def write() -> None:
        seq = committed[0]
        try:
            while not stop.is_set():
                with session_scope(engine) as session:
                    session.add(Message(conversation_id=conversation_id, seq=seq, role="user", content="y" * 2000))
                seq += 1
                committed[0] = seq  # only after the commit returned
        except Exception as exc:  # the test fails below with the writer's error
            errors.append(exc)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        time.sleep(0.2)
        before = committed[0]
        path = maintenance.backup(settings)
        after = committed[0]
        time.sleep(0.1)
    finally:
        stop.set()
        writer.join()

    assert errors == []
    assert after > before  # the app's writes went on while the backup ran: it did not lock them out
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        rows, last = conn.execute("SELECT count(*), max(seq) FROM messages").fetchone()
    # Everything committed before the backup began is in it, and it is one snapshot: seq 0..N with no gap.
    # (+1: the writer may have committed a row it had not yet counted when `after` was read.)
    assert before <= rows <= after + 1
    assert last == rows - 1


def test_prune_keeps_the_newest_scheduled_backups_and_every_pre_restore_copy(
    settings: Settings, engine: Engine
) -> None:
    made = [maintenance.backup(settings) for _ in range(4)]
    pre_restore = settings.data_path / "backups" / "pre-restore-20200101-000000.db"
    pre_restore.write_bytes(made[0].read_bytes())
    for age, path in enumerate(reversed(made)):
        stamp = time.time() - 60 * age
        os.utime(path, (stamp, stamp))
    removed = maintenance.prune_backups(settings, keep=2)
    assert sorted(removed) == sorted(made[:2])
    left = {b["name"] for b in maintenance.list_backups(settings)}
    assert left == {made[2].name, made[3].name, pre_restore.name}


# --- restore ---------------------------------------------------------------------------------


def test_restore_brings_back_the_backup_and_keeps_a_safety_copy(settings: Settings, engine: Engine) -> None:
    add_user(engine, "alice")
    backup = maintenance.backup(settings)
    add_user(engine, "bob")
    engine.dispose()  # the app is stopped

    safety = maintenance.restore(settings, backup)

    db_file = maintenance.sqlite_file(settings)
    assert usernames(db_file) == {"alice"}
    assert safety is not None and safety.name.startswith("pre-restore-")
    assert usernames(safety) == {"alice", "bob"}
    assert not Path(f"{db_file}-wal").exists() and not Path(f"{db_file}-shm").exists()
    assert maintenance.check(settings) == ["ok"]
    assert usernames(backup) == {"alice"}  # the backup itself is untouched


def test_restore_is_refused_while_the_app_runs(settings: Settings, engine: Engine) -> None:
    add_user(engine, "alice")
    backup = maintenance.backup(settings)
    add_user(engine, "bob")
    engine.dispose()
    running = maintenance.hold_run_lock(settings)  # what every app process holds while it runs
    try:
        with pytest.raises(MaintenanceError, match="The app is running"):
            maintenance.restore(settings, backup)
        assert usernames(maintenance.sqlite_file(settings)) == {"alice", "bob"}, "nothing was replaced"
    finally:
        running.close()
    maintenance.restore(settings, backup)  # stopped: it goes ahead
    assert usernames(maintenance.sqlite_file(settings)) == {"alice"}


def test_restore_drops_a_stale_wal_so_it_cannot_be_replayed(settings: Settings, engine: Engine) -> None:
    add_user(engine, "alice")
    backup = maintenance.backup(settings)
    engine.dispose()
    db_file = maintenance.sqlite_file(settings)
    # A handle left open (a hung process) keeps bob's row in a -wal file that nobody checkpoints.
    leftover = sqlite3.connect(db_file)
    leftover.execute("PRAGMA wal_autocheckpoint=0")
    leftover.execute(
        "INSERT INTO users (username, email, password_hash, is_admin, is_active, created_at) "
        "VALUES ('bob', 'bob@example.com', 'x', 0, 1, '2026-01-01 00:00:00')"
    )
    leftover.commit()
    try:
        safety = maintenance.restore(settings, backup)

        assert safety is not None and "bob" in usernames(safety)  # bob was kept aside, not lost
        app = make_engine(settings.database_url)  # the app's own connection settings (WAL mode)
        with session_scope(app) as session:
            assert set(session.exec(select(User.username))) == {"alice"}
        app.dispose()
        assert maintenance.check(settings) == ["ok"]
    finally:
        leftover.close()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"username,email\nalice,a@example.com\n", "not a SQLite database"),
        (None, "not a FabriX Agent Chat database"),
    ],
)
def test_restore_refuses_a_file_that_is_not_our_backup(
    settings: Settings, engine: Engine, tmp_path: Path, content: bytes | None, message: str
) -> None:
    add_user(engine, "alice")
    engine.dispose()
    candidate = tmp_path / "candidate.db"
    if content is None:
        with closing(sqlite3.connect(candidate)) as conn:
            conn.execute("CREATE TABLE notes (text TEXT)")
    else:
        candidate.write_bytes(content)

    with pytest.raises(MaintenanceError, match=message):
        maintenance.restore(settings, candidate)
    assert usernames(maintenance.sqlite_file(settings)) == {"alice"}
    assert not (settings.data_path / "backups").exists() or not list((settings.data_path / "backups").iterdir())


def test_restore_of_a_missing_file_says_so(settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(MaintenanceError, match="does not exist"):
        maintenance.restore(settings, tmp_path / "nope.db")


# --- optimize --------------------------------------------------------------------------------


def test_optimize_gives_back_the_space_of_deleted_rows(settings: Settings, engine: Engine) -> None:
    user_id = add_user(engine, "alice")
    ids = [add_conversation(engine, user_id, messages=50, text="z" * 1000) for _ in range(20)]
    with session_scope(engine) as session:
        for conversation_id in ids:
            conversations.delete_conversation(session=session, user_id=user_id, conversation_id=conversation_id)
    engine.dispose()

    result = maintenance.optimize(settings)

    assert result["size_after"] < result["size_before"] / 2
    assert result["size_after"] == maintenance.sqlite_file(settings).stat().st_size
    assert maintenance.check(settings) == ["ok"]


# --- cleanup ---------------------------------------------------------------------------------


def test_cleanup_dry_run_counts_then_the_real_run_deletes_exactly_those(engine: Engine) -> None:
    alice, bob = add_user(engine, "alice"), add_user(engine, "bob")
    old = [add_conversation(engine, alice, 3, age_days=100), add_conversation(engine, bob, 2, age_days=91)]
    recent = [add_conversation(engine, alice, 4, age_days=89), add_conversation(engine, bob, 1, age_days=0)]
    now = utcnow()

    with session_scope(engine) as session:
        preview = maintenance.cleanup(session=session, days=90, dry_run=True, now=now)
    assert (preview["conversations"], preview["messages"], preview["dry_run"]) == (2, 5, True)
    with session_scope(engine) as session:
        assert session.exec(select(func.count()).select_from(Message)).one() == 10

    with session_scope(engine) as session:
        done = maintenance.cleanup(session=session, days=90, dry_run=False, now=now)
    assert (done["conversations"], done["messages"]) == (2, 5)
    with session_scope(engine) as session:
        left = set(session.exec(select(Conversation.id)))
        assert left == set(recent)
        assert session.exec(select(func.count()).select_from(Message)).one() == 5
        assert session.exec(select(func.count()).select_from(User)).one() == 2  # users stay
    assert not left & set(old)


@pytest.mark.parametrize("days", [0, -5, 1.5, True])
def test_cleanup_needs_at_least_one_whole_day(engine: Engine, days: object) -> None:
    add_conversation(engine, add_user(engine, "alice"), 1, age_days=0)
    with session_scope(engine) as session, pytest.raises(ValueError, match="at least 1"):
        maintenance.cleanup(session=session, days=days, dry_run=False)  # type: ignore[arg-type]
    with session_scope(engine) as session:
        assert session.exec(select(func.count()).select_from(Conversation)).one() == 1
