"""Which failures mean that a server the app depends on is down (the database, Redis) or that the
disk is full, and the key of the plain message a user is told (i18n.error_text asks here).

They are not bugs of the app: each passes once the server is back or space is freed, and the app
needs no restart for it (tests/e2e/test_dependency_failures.py, bench/bench_dependency_failures.py).
"""

from __future__ import annotations

import errno
import logging
import sqlite3

from redis import exceptions as redis_errors
from sqlalchemy import exc as db_errors

DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)})
# SQLite's SQLITE_FULL, as the driver words it.
_SQLITE_FULL = "database or disk is full"


def _chain(exc: BaseException):
    """The exception and those it was raised from (SQLAlchemy wraps the driver's error)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def is_disk_full(exc: BaseException) -> bool:
    """No space left on the disk (a file write, or SQLite's own report of it)."""
    for e in _chain(exc):
        if isinstance(e, OSError) and e.errno in DISK_FULL_ERRNOS:
            return True
        if isinstance(e, sqlite3.Error) and _SQLITE_FULL in str(e):
            return True
    return False


def text_key(exc: BaseException) -> str | None:
    """The i18n key: error_disk_full, error_service_down (the database or Redis not answering), or None."""
    if is_disk_full(exc):
        return "error_disk_full"
    for e in _chain(exc):
        if isinstance(e, (db_errors.OperationalError, db_errors.InterfaceError, db_errors.DisconnectionError)):
            return "error_service_down"
        if isinstance(e, db_errors.TimeoutError):  # no connection free in the pool
            return "error_service_down"
        if isinstance(e, (redis_errors.ConnectionError, redis_errors.TimeoutError)):
            return "error_service_down"
    return None


def describe(exc: BaseException) -> str:
    """One line for the log: the error's type and the first line of its words (no traceback)."""
    words = str(exc).splitlines()[0][:200] if str(exc) else ""
    return f"{type(exc).__name__}: {words}" if words else type(exc).__name__


def log_failure(logger: logging.Logger, what: str, exc: BaseException) -> str | None:
    """Log "<what> failed": one line for an outage (it repeats while the server is away), the
    traceback for anything else (a bug). Returns the outage's key (text_key), or None."""
    key = text_key(exc)
    if key is None:
        logger.error("%s failed", what, exc_info=exc)
    else:
        logger.warning("%s failed: %s", what, describe(exc))
    return key
