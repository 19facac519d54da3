"""The command line as an operator or a scheduled task runs it: real processes, a real secrets.toml and SQLite file."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from fabrix_chat.config import PROJECT_ROOT, load_settings
from fabrix_chat.db import make_engine, session_scope
from fabrix_chat.models import Message, User, utcnow
from fabrix_chat.repo import conversations, users
from fabrix_chat.services import auth, maintenance


@dataclass
class Cli:
    """Runs `python -m fabrix_chat.manage` with its own secrets.toml whose data_dir is a temp folder."""

    secrets: Path
    data_dir: Path

    @property
    def db_file(self) -> Path:
        return self.data_dir / "fabrix_chat.db"

    def env(self) -> dict[str, str]:
        return {**os.environ, "FABRIX_CHAT_SECRETS": str(self.secrets)}

    def __call__(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "fabrix_chat.manage", *args],
            cwd=PROJECT_ROOT,
            env=self.env(),
            input=stdin if stdin is not None else "",
            capture_output=True,
            text=True,
            timeout=120,
        )

    def engine(self) -> Engine:
        return make_engine(f"sqlite:///{self.db_file.as_posix()}")


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    data_dir = tmp_path / "data"
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(f'[server]\ndata_dir = "{data_dir.as_posix()}"\n', encoding="utf-8")
    return Cli(secrets=secrets, data_dir=data_dir)


@pytest.fixture
def engine(cli: Cli) -> Iterator[Engine]:
    """The CLI's database, migrated, opened in this process to arrange data and look at results."""
    maintenance.migrate(load_settings(cli.secrets))
    engine = cli.engine()
    yield engine
    engine.dispose()


def get_user(engine: Engine, username: str) -> User | None:
    with session_scope(engine) as session:
        return users.get_user_by_username(session=session, username=username)


def add_user(engine: Engine, username: str, password: str = "old-password", is_admin: bool = False) -> int:
    with session_scope(engine) as session:
        user = users.create_user(
            session=session,
            username=username,
            email=f"{username}@example.com",
            password_hash=auth.hash_password(password),
            is_admin=is_admin,
        )
        assert user.id is not None
        return user.id


# --- configuration and migrations --------------------------------------------------------------


def test_a_bad_config_file_exits_2_naming_the_file(cli: Cli) -> None:
    cli.secrets.write_text('[server]\nport = "eighty"\n', encoding="utf-8")
    result = cli("check")
    assert result.returncode == 2
    assert str(cli.secrets) in result.stderr and "port" in result.stderr


def test_migrate_creates_the_database_and_says_so(cli: Cli) -> None:
    result = cli("migrate")
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout and str(cli.db_file) in result.stdout
    assert maintenance.check(load_settings(cli.secrets)) == ["ok"]


def test_show_bind_prints_host_port_and_data_folder_for_the_launcher(cli: Cli) -> None:
    cli.secrets.write_text(
        cli.secrets.read_text(encoding="utf-8") + 'host = "0.0.0.0"\nport = 8123\n',
        encoding="utf-8",
    )
    result = cli("show-bind")
    assert result.returncode == 0, result.stderr
    bind = json.loads(result.stdout)
    assert (bind["host"], bind["port"]) == ("0.0.0.0", 8123)
    assert Path(bind["data_dir"]) == load_settings(cli.secrets).data_path


# --- accounts ------------------------------------------------------------------------------


def test_create_admin_reads_the_password_from_stdin(cli: Cli) -> None:
    result = cli("create-admin", "--username", "Boss", "--email", "boss@example.com", "--password-stdin",
                 stdin="correct horse battery\n")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "created" in result.stdout
    engine = cli.engine()
    user = get_user(engine, "boss")
    engine.dispose()
    assert user is not None and user.is_admin and user.is_active
    assert user.email == "boss@example.com"
    assert auth.verify_password("correct horse battery", user.password_hash)
    assert "correct horse battery" not in result.stdout + result.stderr


def test_create_admin_on_an_existing_user_promotes_it_and_keeps_its_password(cli: Cli, engine: Engine) -> None:
    add_user(engine, "carol", password="carols-password")
    result = cli("create-admin", "--username", "carol", "--password-stdin", stdin="ignored-password\n")
    assert result.returncode == 0, result.stderr
    assert "already existed" in result.stdout and "administrator" in result.stdout
    user = get_user(engine, "carol")
    assert user is not None and user.is_admin
    assert auth.verify_password("carols-password", user.password_hash)


@pytest.mark.parametrize(
    ("stdin", "message"),
    [("short\n", "at least 8"), ("\n", "No password"), ("é" * 40 + "\n", "at most 72 bytes")],
)
def test_create_admin_refuses_a_bad_password(cli: Cli, stdin: str, message: str) -> None:
    result = cli("create-admin", "--username", "boss", "--password-stdin", stdin=stdin)
    assert result.returncode == 1
    assert message in result.stderr
    engine = cli.engine()
    assert get_user(engine, "boss") is None
    engine.dispose()


@pytest.mark.parametrize(
    ("command", "password_args"),
    [("create-admin", ["--password", "hunter2hunter2"]), ("reset-password", ["--password=hunter2hunter2"])],
)
def test_a_password_is_never_taken_as_an_argument(cli: Cli, command: str, password_args: list[str]) -> None:
    result = cli(command, "--username", "boss", *password_args)
    assert result.returncode == 2
    assert "never taken as an argument" in result.stderr
    assert "hunter2hunter2" not in result.stderr  # not even echoed back
    assert not cli.db_file.exists()


def test_without_a_terminal_the_password_must_come_from_stdin(cli: Cli) -> None:
    result = cli("create-admin", "--username", "boss")
    assert result.returncode == 1
    assert "--password-stdin" in result.stderr


def test_reset_password_changes_it_and_ends_the_sessions(cli: Cli, engine: Engine) -> None:
    user_id = add_user(engine, "dave")
    with session_scope(engine) as session:
        users.create_session(session=session, user_id=user_id, token_hash="a" * 64)

    result = cli("reset-password", "--username", "dave", "--password-stdin", stdin="brand new secret\n")

    assert result.returncode == 0, result.stderr
    assert "1 signed-in session(s) ended" in result.stdout
    user = get_user(engine, "dave")
    assert user is not None
    assert auth.verify_password("brand new secret", user.password_hash)
    assert not auth.verify_password("old-password", user.password_hash)
    assert user.must_change_password, "dave chooses his own at the next sign-in"
    with session_scope(engine) as session:
        assert users.get_session_user(session=session, token_hash="a" * 64, idle_minutes=30) is None
    kept = cli("reset-password", "--username", "dave", "--password-stdin", "--keep", stdin="his own secret\n")
    assert kept.returncode == 0, kept.stderr
    assert not get_user(engine, "dave").must_change_password


def test_reset_password_of_an_unknown_user_fails_clearly(cli: Cli, engine: Engine) -> None:
    result = cli("reset-password", "--username", "nobody", "--password-stdin", stdin="whatever123\n")
    assert result.returncode == 1
    assert "no user 'nobody'" in result.stderr


def test_import_users_creates_the_good_rows_and_reports_the_rest(cli: Cli, engine: Engine, tmp_path: Path) -> None:
    add_user(engine, "existing")
    csv_file = tmp_path / "people.csv"
    csv_file.write_text(
        "\ufeffusername,email,admin\n"  # Excel's "CSV UTF-8" starts with a BOM
        "alice,Alice@Example.com,yes\n"
        "bob,bob@example.com\n"
        "existing,other@example.com,0\n"
        "erin,existing@example.com\n"
        "x,bad@example.com\n"
        "frank,not-an-email\n"
        "alice,alice2@example.com\n"
        "gina,gina@example.com,maybe\n",
        encoding="utf-8",
    )

    result = cli("import-users", str(csv_file))

    assert result.returncode == 1  # some rows need fixing
    lines = {line.split()[0]: line.split() for line in result.stdout.splitlines() if line.startswith("  ")}
    assert set(lines) >= {"alice", "bob"}
    with session_scope(engine) as session:
        created = {u.username: u for u in session.exec(select(User))}
    assert set(created) == {"existing", "alice", "bob"}
    assert created["alice"].is_admin and not created["bob"].is_admin
    assert created["alice"].must_change_password and created["bob"].must_change_password
    assert not created["existing"].must_change_password
    assert created["alice"].email == "alice@example.com"
    # The one-time password printed is the one that works.
    assert auth.verify_password(lines["alice"][1], created["alice"].password_hash)
    assert auth.verify_password(lines["bob"][1], created["bob"].password_hash)
    assert "line 4: user existing already exists" in result.stdout
    assert "line 5: email existing@example.com already belongs to another user" in result.stdout
    for line in (6, 7, 8, 9):
        assert f"line {line}:" in result.stderr

    again = cli("import-users", str(csv_file))  # re-running after a partial import creates no one twice
    assert "No new users created" in again.stdout


# --- backup, restore, check, optimize, cleanup -----------------------------------------------


def test_backup_during_a_stream_of_writes_is_consistent(cli: Cli, engine: Engine, tmp_path: Path) -> None:
    user_id = add_user(engine, "writer")
    with session_scope(engine) as session:
        conversation = conversations.create_conversation(session=session, user_id=user_id, title="busy")
        conversation_id = conversation.id
        session.add_all(
            Message(conversation_id=conversation_id, seq=i, role="user", content="x" * 2000) for i in range(2000)
        )
    committed, stop, errors = [2000], threading.Event(), []

    def write() -> None:
        try:
            while not stop.is_set():
                with session_scope(engine) as session:
                    session.add(
                        Message(conversation_id=conversation_id, seq=committed[0], role="assistant", content="y" * 500)
                    )
                committed[0] += 1
        except Exception as exc:  # reported by the assertion below
            errors.append(exc)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        time.sleep(0.2)
        before = committed[0]
        result = cli("backup", "--to", str(tmp_path / "nightly.db"))
        after = committed[0]
    finally:
        stop.set()
        writer.join()

    assert result.returncode == 0, result.stderr
    assert "Backup written to" in result.stdout and "integrity check ok" in result.stdout
    assert errors == []
    with closing(sqlite3.connect(tmp_path / "nightly.db")) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        rows, last = conn.execute("SELECT count(*), max(seq) FROM messages").fetchone()
    assert before <= rows <= after + 1  # +1: a commit not yet counted when `after` was read
    assert last == rows - 1  # one snapshot: no gap, no half of a write


def test_backup_keep_prunes_old_scheduled_backups(cli: Cli, engine: Engine) -> None:
    for _ in range(3):
        assert cli("backup", "--keep", "2").returncode == 0
    assert len(list((cli.data_dir / "backups").glob("fabrix_chat-*.db"))) == 2


def test_restore_needs_confirmation_then_replaces_the_database(cli: Cli, engine: Engine) -> None:
    add_user(engine, "before")
    assert cli("backup").returncode == 0
    backup = next((cli.data_dir / "backups").glob("fabrix_chat-*.db"))
    add_user(engine, "after")
    engine.dispose()

    refused = cli("restore", str(backup))
    assert refused.returncode == 1
    assert "must be stopped" in refused.stderr and "--yes" in refused.stderr
    assert get_user(engine, "after") is not None
    engine.dispose()

    result = cli("restore", str(backup), "--yes")
    assert result.returncode == 0, result.stderr
    assert "restored" in result.stdout and "pre-restore-" in result.stdout
    assert get_user(engine, "before") is not None and get_user(engine, "after") is None
    assert cli("check").returncode == 0


def test_restore_refuses_a_file_that_is_not_a_backup(cli: Cli, engine: Engine, tmp_path: Path) -> None:
    not_a_db = tmp_path / "notes.txt"
    not_a_db.write_text("hello", encoding="utf-8")
    result = cli("restore", str(not_a_db), "--yes")
    assert result.returncode == 1
    assert "not a SQLite database" in result.stderr


def test_check_and_optimize_report_in_plain_words(cli: Cli, engine: Engine) -> None:
    checked = cli("check")
    assert (checked.returncode, checked.stdout.strip()) == (0, f"Database {cli.db_file}: ok.")
    optimized = cli("optimize")
    assert optimized.returncode == 0, optimized.stderr
    assert "before" in optimized.stdout and "after" in optimized.stdout


def test_check_fails_on_an_unmigrated_database(cli: Cli) -> None:
    cli.data_dir.mkdir()
    with closing(sqlite3.connect(cli.db_file)) as conn:
        conn.execute("CREATE TABLE something (x)")
    result = cli("check")
    assert result.returncode == 1
    assert "manage migrate" in result.stderr


def test_cleanup_dry_run_deletes_nothing_then_the_real_run_deletes_those(cli: Cli, engine: Engine) -> None:
    user_id = add_user(engine, "erin")
    with session_scope(engine) as session:
        for age_days, messages in ((200, 3), (120, 2), (10, 4)):
            conversation = conversations.create_conversation(session=session, user_id=user_id, title=f"{age_days}")
            for seq in range(messages):
                session.add(Message(conversation_id=conversation.id, seq=seq, role="user", content="hi"))
            conversation.updated_at = utcnow() - timedelta(days=age_days)
            session.add(conversation)

    preview = cli("cleanup", "--days", "90", "--dry-run")
    assert preview.returncode == 0, preview.stderr
    assert "would delete 2 conversation(s) with 5 message(s)" in preview.stdout
    with session_scope(engine) as session:
        assert len(conversations.list_conversations(session=session, user_id=user_id)) == 3

    done = cli("cleanup", "--days", "90")
    assert done.returncode == 0, done.stderr
    assert "Deleted 2 conversation(s) with 5 message(s)" in done.stdout
    with session_scope(engine) as session:
        assert [c.title for c in conversations.list_conversations(session=session, user_id=user_id)] == ["10"]

    assert cli("cleanup", "--days", "0").returncode == 2


def test_audit_prints_csv_for_scripts_and_cleanup_drops_records_past_keep_days(cli: Cli, engine: Engine) -> None:
    from fabrix_chat.repo import audit

    cli.secrets.write_text(cli.secrets.read_text(encoding="utf-8") + "[audit]\nkeep_days = 30\n", encoding="utf-8")
    with session_scope(engine) as session:
        for actor, days_ago in (("kim", 0), ("lee", 2), ("old", 40)):
            row = audit.record(session=session, action="sign_in", actor=actor, client="10.0.0.1")
            row.created_at = utcnow() - timedelta(days=days_ago)
    since = (utcnow() - timedelta(days=5)).strftime("%Y-%m-%d")
    out = cli("audit", "--since", since)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "time_utc,actor,action,target,client,detail"
    assert [line.split(",")[1] for line in lines[1:]] == ["lee", "kim"]  # oldest first
    assert [
        line.split(",")[1] for line in cli("audit", "--since", "2000-01-01", "--user", "ki").stdout.splitlines()[1:]
    ] == ["kim"]
    bad = cli("audit", "--since", "yesterday")
    assert bad.returncode == 1 and "--since must be a date" in bad.stderr

    preview = cli("cleanup", "--days", "90", "--dry-run")
    assert "and 1 audit record(s) older than 30 day(s)" in preview.stdout
    done = cli("cleanup", "--days", "90")
    assert done.returncode == 0, done.stderr
    with session_scope(engine) as session:
        left = [(r.actor, r.action) for r in audit.list_records(session=session)]
    # The old one went; the cleanup itself is recorded, by the command line.
    assert left == [("(command line)", "cleanup"), ("kim", "sign_in"), ("lee", "sign_in")]


@pytest.mark.skipif(os.name == "nt", reason="POSIX permissions")
def test_what_the_commands_write_is_readable_by_the_service_account_only(cli: Cli) -> None:
    for command in (["migrate"], ["backup"], ["check"]):
        result = cli(*command)
        assert result.returncode == 0, result.stderr
    files = [p for p in cli.data_dir.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"fabrix_chat.db", "fabrix_chat.log"}
    assert any(p.parent.name == "backups" for p in files)
    for path in [cli.data_dir, *(p for p in cli.data_dir.rglob("*"))]:
        expected = 0o700 if path.is_dir() else 0o600
        assert path.stat().st_mode & 0o777 == expected, path
