"""Database operations for the admin page and the command line: migrate, backup, restore, check, optimize, cleanup.

Everything here blocks on disk (a backup or VACUUM of a large file takes seconds): the admin page runs
it in a worker thread (`asyncio.to_thread`, or `db.run_db` for `cleanup`). No Reflex imports.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from alembic.command import stamp, upgrade
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import func, inspect, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, delete, select

from fabrix_chat import i18n
from fabrix_chat.config import PROJECT_ROOT, Settings
from fabrix_chat.db import BUSY_TIMEOUT_MS, make_engine
from fabrix_chat.models import Conversation, Message, utcnow
from fabrix_chat.repo.conversations import old_conversations

log = logging.getLogger(__name__)

BACKUP_DIR_NAME = "backups"
BACKUP_PREFIX = "fabrix_chat-"
PRE_RESTORE_PREFIX = "pre-restore-"
# The revision every database made before migrations existed matches (the initial schema).
INITIAL_REVISION = "0001"
# Tables whose presence makes a SQLite file "one of ours" for restore.
REQUIRED_TABLES = ("alembic_version", "users")
_SQLITE_HEADER = b"SQLite format 3\x00"
_SIDE_FILES = ("-wal", "-shm", "-journal")
# IN (...) lists are cut to this size: old SQLite builds allow only 999 bound parameters.
_DELETE_CHUNK = 500
RUN_LOCK_NAME = "fabrix-chat.running"


# --- "the app is running" ------------------------------------------------------------------------
# Every process of the running app holds data_dir/fabrix-chat.running open (on POSIX with a shared
# flock). Restore needs it exclusively, so it cannot swap the database under a running app, and an
# app starting during a restore waits for it.


def hold_run_lock(settings: Settings):
    """Called once by each app process at start-up; the returned file stays open until it exits."""
    path = settings.data_path / RUN_LOCK_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")  # noqa: SIM115 (held for the life of the process)
    if os.name != "nt":
        import fcntl

        fcntl.flock(handle, fcntl.LOCK_SH)
    return handle


@contextmanager
def app_stopped(settings: Settings) -> Iterator[None]:
    """Run the block only while no process of the app runs on this data folder."""
    path = settings.data_path / RUN_LOCK_NAME
    running = MaintenanceError("maint_app_running", path=path)
    if os.name == "nt":
        # Windows refuses to delete a file another process has open: that is the lock.
        try:
            path.unlink(missing_ok=True)
        except PermissionError:
            raise running from None
        yield
        return
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise running from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class MaintenanceError(i18n.KeyedError):
    """An operation cannot be done; its text (an i18n key and its values) says why and what to do."""


# --- where things are ----------------------------------------------------------------------


def describe_database(settings: Settings) -> str:
    """The database for humans: the SQLite file path, or the PostgreSQL URL without its password."""
    if settings.is_sqlite:
        try:
            return str(sqlite_file(settings))
        except MaintenanceError:
            return settings.database_url
    return make_url(settings.database_url).render_as_string(hide_password=True)


def sqlite_file(settings: Settings) -> Path:
    """The SQLite database file of these settings; MaintenanceError for PostgreSQL or an in-memory database."""
    if not settings.is_sqlite:
        raise MaintenanceError("maint_not_sqlite")
    database = make_url(settings.database_url).database
    if not database or database == ":memory:":
        raise MaintenanceError("maint_in_memory")
    return Path(database)


def backup_dir(settings: Settings) -> Path:
    return settings.data_path / BACKUP_DIR_NAME


def _timestamp() -> str:
    # Local time: operators read these names, and sort order is the same.
    return datetime.now().strftime("%Y%m%d-%H%M%S")


def _free_name(folder: Path, prefix: str) -> Path:
    """folder/prefixYYYYmmdd-HHMMSS.db, with -2, -3 ... when two land in the same second."""
    stem = f"{prefix}{_timestamp()}"
    path = folder / f"{stem}.db"
    n = 2
    while path.exists():
        path = folder / f"{stem}-{n}.db"
        n += 1
    return path


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


def _size_on_disk(db_file: Path) -> int:
    """The database file plus its WAL: what the database really takes."""
    return sum(p.stat().st_size for p in (db_file, Path(f"{db_file}-wal")) if p.exists())


def _connect(path: Path) -> sqlite3.Connection:
    """A plain sqlite3 connection that waits for the app's writers instead of failing at once."""
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    return conn


def _connect_read_only(path: Path) -> sqlite3.Connection:
    """Open a file without ever writing to it (a backup we restore from must stay as it is)."""
    # as_uri() gives file:///C:/... on Windows and percent-encodes spaces and '#', '?' in names.
    uri = f"{path.resolve().as_uri()}?mode=ro"
    return sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)


def _integrity(conn: sqlite3.Connection) -> list[str]:
    """PRAGMA integrity_check: ["ok"], or up to 100 lines describing the damage."""
    return [str(row[0]) for row in conn.execute("PRAGMA integrity_check").fetchall()]


# --- migrations ----------------------------------------------------------------------------


def alembic_config() -> Config:
    """The project's alembic.ini, set up to be driven from Python."""
    cfg = Config(str(PROJECT_ROOT / "alembic.ini"))
    # alembic.ini has a single prepend_sys_path entry; saying how to split it silences alembic's warning.
    if not cfg.get_main_option("path_separator"):
        cfg.set_main_option("path_separator", "os")
    # env.py would otherwise reload logging from alembic.ini and drop the app's handlers.
    cfg.attributes["configure_logging"] = False
    return cfg


def head_revision() -> str:
    """The newest migration in alembic/versions."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise MaintenanceError("maint_no_migrations", folder=PROJECT_ROOT / "alembic")
    return head


def _current_revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def migrate(settings: Settings) -> str:
    """Apply every migration up to head; returns the revision the database is now at.

    A database made before migrations existed (tables but no alembic_version) is first stamped at
    the initial revision, whose schema it has, so the upgrade does not try to create its tables again.
    """
    engine = make_engine(settings.database_url)
    try:
        with engine.begin() as conn:
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            tables = set(inspect(conn).get_table_names())
            if "users" in tables and "alembic_version" not in tables:
                log.warning("database has tables but no migration record: marking it as revision %s", INITIAL_REVISION)
                stamp(cfg, INITIAL_REVISION)
            before = _current_revision(conn)
            upgrade(cfg, "head")
            after = _current_revision(conn) or ""
    except SQLAlchemyError as exc:
        raise MaintenanceError(
            "maint_migrate_failed", database=describe_database(settings), error=getattr(exc, "orig", None) or exc
        ) from exc
    finally:
        engine.dispose()
    if before != after:
        log.info("database migrated from %s to %s", before or "empty", after)
    return after


def _schema_problems(current: str | None) -> list[str]:
    head = head_revision()
    if current is None:
        return ["the database has no migration record: run `manage migrate`"]
    if current != head:
        return [f"the database schema is at revision {current}, this version needs {head}: run `manage migrate`"]
    return []


# --- backup and restore ----------------------------------------------------------------------


def _backup_destination(settings: Settings, to: Path | None) -> Path:
    if to is None:
        folder = backup_dir(settings)
        folder.mkdir(parents=True, exist_ok=True)
        return _free_name(folder, BACKUP_PREFIX)
    to = Path(to)
    if to.is_dir():
        return _free_name(to, BACKUP_PREFIX)
    return to


def backup(settings: Settings, to: Path | None = None) -> Path:
    """Copy the live SQLite database to `to` (default data_dir/backups/fabrix_chat-YYYYmmdd-HHMMSS.db).

    Safe while the app runs: the copy is one read snapshot taken with SQLite's backup API, and in WAL
    mode a reader does not block the app's writers. The copy is verified with integrity_check; an
    existing file at `to` is replaced only once the new copy is complete and verified.
    """
    if not settings.is_sqlite:
        raise MaintenanceError("maint_backup_postgres")
    source = sqlite_file(settings)
    if not source.exists():
        raise MaintenanceError("maint_backup_nothing", path=source)
    dest = _backup_destination(settings, to)
    if _same_file(dest, source):
        raise MaintenanceError("maint_backup_onto_live", path=dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".partial")
    started = time.monotonic()
    try:
        partial.unlink(missing_ok=True)
        with closing(_connect(source)) as src, closing(sqlite3.connect(partial)) as dst:
            # One step (pages=-1) = one consistent snapshot. A page-by-page copy restarts whenever the
            # app writes, so under steady writes it might never finish.
            src.backup(dst, pages=-1)
            # A backup is one self-contained file, with no -wal beside it.
            dst.execute("PRAGMA journal_mode=DELETE")
            problems = _integrity(dst)
        if problems != ["ok"]:
            raise MaintenanceError("maint_backup_damaged", problems="; ".join(problems[:3]))
        os.replace(partial, dest)
    except (sqlite3.Error, OSError) as exc:
        partial.unlink(missing_ok=True)
        raise MaintenanceError("maint_backup_failed", path=dest, error=exc) from exc
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    log.info("database backed up to %s (%d bytes, %.1f s)", dest, dest.stat().st_size, time.monotonic() - started)
    return dest


def list_backups(settings: Settings) -> list[dict[str, Any]]:
    """The backups in data_dir/backups, newest first: name, path, size (bytes), modified (local datetime)."""
    folder = backup_dir(settings)
    if not folder.is_dir():
        return []
    found = []
    for path in folder.glob("*.db"):
        stat = path.stat()
        found.append(
            {"name": path.name, "path": path, "size": stat.st_size, "modified": datetime.fromtimestamp(stat.st_mtime)}
        )
    return sorted(found, key=lambda b: (b["modified"], b["name"]), reverse=True)


def prune_backups(settings: Settings, keep: int) -> list[Path]:
    """Delete all but the newest `keep` scheduled backups (fabrix_chat-*.db); pre-restore copies are kept."""
    if keep < 1:
        raise ValueError("keep must be at least 1")
    ours = [b["path"] for b in list_backups(settings) if b["name"].startswith(BACKUP_PREFIX)]
    removed = []
    for path in ours[keep:]:
        path.unlink()
        removed.append(path)
    if removed:
        log.info("removed %d old backups, kept the newest %d", len(removed), keep)
    return removed


def _check_restorable(conn: sqlite3.Connection, backup_file: Path) -> None:
    problems = _integrity(conn)
    if problems != ["ok"]:
        raise MaintenanceError("maint_restore_damaged", path=backup_file, problems="; ".join(problems[:3]))
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    missing = [t for t in REQUIRED_TABLES if t not in tables]
    if missing:
        raise MaintenanceError("maint_restore_not_ours", path=backup_file, tables=", ".join(missing))


def _keep_safety_copy(settings: Settings, target: Path) -> Path:
    """Copy the current database aside before it is replaced, even if it is damaged."""
    folder = backup_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    safety = _free_name(folder, PRE_RESTORE_PREFIX)
    try:
        with closing(_connect(target)) as src, closing(sqlite3.connect(safety)) as dst:
            src.backup(dst, pages=-1)
            dst.execute("PRAGMA journal_mode=DELETE")
    except sqlite3.Error as exc:
        # A database too damaged for SQLite to read is still worth keeping byte for byte.
        log.warning("backup API could not read %s (%s): keeping a raw copy instead", target, exc)
        safety.unlink(missing_ok=True)
        shutil.copy2(target, safety)
        for suffix in _SIDE_FILES:
            side = Path(f"{target}{suffix}")
            if side.exists():
                shutil.copy2(side, Path(f"{safety}{suffix}"))
    return safety


def restore(settings: Settings, backup_file: Path) -> Path | None:
    """Replace the SQLite database with `backup_file`; the app must be stopped.

    The file is checked first (SQLite, integrity ok, has our tables) and never modified. The current
    database is kept as data_dir/backups/pre-restore-YYYYmmdd-HHMMSS.db, whose path is returned
    (None when there was no database). Stale -wal/-shm files are removed so they cannot be replayed
    onto the restored file. Run `migrate` afterwards for a backup made by an older version.
    """
    if not settings.is_sqlite:
        raise MaintenanceError("maint_restore_postgres")
    with app_stopped(settings):
        return _install_backup(settings, Path(backup_file))


def _install_backup(settings: Settings, backup_file: Path) -> Path | None:
    target = sqlite_file(settings)
    if not backup_file.is_file():
        raise MaintenanceError("maint_restore_missing", path=backup_file)
    if _same_file(backup_file, target):
        raise MaintenanceError("maint_restore_live", path=backup_file)
    with open(backup_file, "rb") as fh:
        if fh.read(len(_SQLITE_HEADER)) != _SQLITE_HEADER:
            raise MaintenanceError("maint_restore_not_sqlite", path=backup_file)

    target.parent.mkdir(parents=True, exist_ok=True)
    staged = target.with_name(target.name + ".restoring")
    try:
        staged.unlink(missing_ok=True)
        # Copy first, then check the copy: what gets checked is exactly what gets installed.
        with closing(_connect_read_only(backup_file)) as src, closing(sqlite3.connect(staged)) as dst:
            src.backup(dst, pages=-1)
            dst.execute("PRAGMA journal_mode=DELETE")
            _check_restorable(dst, backup_file)
    except sqlite3.Error as exc:
        staged.unlink(missing_ok=True)
        raise MaintenanceError("maint_restore_unreadable", path=backup_file, error=exc) from exc
    except BaseException:
        staged.unlink(missing_ok=True)
        raise

    safety = _keep_safety_copy(settings, target) if target.exists() else None
    try:
        # Side files of the old database would be applied to the new one (WAL replay, hot journal):
        # remove them first. On Windows this fails while the app still has the database open.
        for suffix in _SIDE_FILES:
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        os.replace(staged, target)
    except OSError as exc:
        staged.unlink(missing_ok=True)
        raise MaintenanceError("maint_restore_replace_failed", path=target, error=exc, safety=safety) from exc
    log.warning("database restored from %s; the previous one is kept at %s", backup_file, safety)
    return safety


# --- check and optimize ----------------------------------------------------------------------


def check(settings: Settings) -> list[str]:
    """["ok"] when the database is healthy; otherwise one line per problem (integrity, foreign keys, schema)."""
    if not settings.is_sqlite:
        return _check_server(settings)
    path = sqlite_file(settings)
    if not path.exists():
        return [f"there is no database at {path}: run `manage migrate` to create it"]
    try:
        with closing(_connect(path)) as conn:
            problems = [line for line in _integrity(conn) if line != "ok"]
            problems += [
                f"table {table} row {rowid} refers to a missing row in {parent}"
                for table, rowid, parent, _ in conn.execute("PRAGMA foreign_key_check").fetchall()
            ]
            has_version = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
            ).fetchone()
            current = conn.execute("SELECT version_num FROM alembic_version").fetchone() if has_version else None
    except sqlite3.DatabaseError as exc:
        return [f"the database file {path} cannot be read ({exc}): restore a backup (`manage restore FILE`)"]
    problems += _schema_problems(current[0] if current else None)
    return problems or ["ok"]


def _check_server(settings: Settings) -> list[str]:
    """PostgreSQL: can we connect and run a query, and is the schema current."""
    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            current = _current_revision(conn)
    except SQLAlchemyError as exc:
        return [f"cannot reach the database {describe_database(settings)}: {getattr(exc, 'orig', None) or exc}"]
    finally:
        engine.dispose()
    return _schema_problems(current) or ["ok"]


def optimize(settings: Settings) -> dict[str, Any]:
    """ANALYZE, VACUUM and PRAGMA optimize; returns size_before, size_after (bytes) and seconds.

    VACUUM rewrites the whole file and holds the write lock meanwhile: on a large database run it at
    a quiet time (writers wait up to the busy timeout, then fail).
    """
    started = time.monotonic()
    if not settings.is_sqlite:
        return _optimize_server(settings, started)
    path = sqlite_file(settings)
    if not path.exists():
        raise MaintenanceError("maint_optimize_nothing", path=path)
    before = _size_on_disk(path)
    try:
        with closing(_connect(path)) as conn:
            conn.execute("ANALYZE")
            conn.execute("VACUUM")
            conn.execute("PRAGMA optimize")
            # Best effort: shrinks the WAL now instead of at the next quiet moment; readers may prevent it.
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except sqlite3.Error as exc:
        raise MaintenanceError("maint_optimize_failed", path=path, error=exc) from exc
    result = {"size_before": before, "size_after": _size_on_disk(path), "seconds": round(time.monotonic() - started, 2)}
    log.info("database optimized: %(size_before)d -> %(size_after)d bytes in %(seconds).1f s", result)
    return result


def _optimize_server(settings: Settings, started: float) -> dict[str, Any]:
    engine = make_engine(settings.database_url)
    size = text("SELECT pg_database_size(current_database())")
    try:
        # VACUUM cannot run inside a transaction block.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            before = int(conn.execute(size).scalar_one())
            conn.execute(text("VACUUM (ANALYZE)"))
            after = int(conn.execute(size).scalar_one())
    except SQLAlchemyError as exc:
        raise MaintenanceError("maint_optimize_postgres_failed", error=getattr(exc, "orig", None) or exc) from exc
    finally:
        engine.dispose()
    result = {"size_before": before, "size_after": after, "seconds": round(time.monotonic() - started, 2)}
    log.info("database optimized: %(size_before)d -> %(size_after)d bytes in %(seconds).1f s", result)
    return result


# --- cleanup ---------------------------------------------------------------------------------


def cleanup(*, session: Session, days: int, dry_run: bool, now: datetime | None = None) -> dict[str, Any]:
    """Delete (or with dry_run only count) conversations with no activity for `days` days, and their messages.

    Returns {"days", "cutoff" (aware UTC datetime), "conversations", "messages", "dry_run"}. Works with
    `db.run_db(cleanup, days=90, dry_run=True)`.
    """
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise ValueError(f"days must be a whole number of at least 1, not {days!r}")
    now = now or utcnow()
    ids = [c.id for c in old_conversations(session=session, days=days, now=now) if c.id is not None]
    messages = 0
    for start in range(0, len(ids), _DELETE_CHUNK):
        chunk = ids[start : start + _DELETE_CHUNK]
        messages += session.exec(
            select(func.count()).select_from(Message).where(col(Message.conversation_id).in_(chunk))
        ).one()
        if not dry_run:
            session.exec(delete(Message).where(col(Message.conversation_id).in_(chunk)))
            session.exec(delete(Conversation).where(col(Conversation.id).in_(chunk)))
    result = {
        "days": days,
        "cutoff": now - timedelta(days=days),
        "conversations": len(ids),
        "messages": messages,
        "dry_run": dry_run,
    }
    if not dry_run:
        log.info("cleanup: deleted %d conversations and %d messages older than %d days", len(ids), messages, days)
    return result
