"""A server the app depends on failing (the database, Redis) or a full disk, as a user is told it
(outages.py through i18n.error_text), and the page's message for an event that failed
(state/failures.py); the Redis setting a restart forgets (services/redis_watch.py)."""

from __future__ import annotations

import errno
import json
import re
import sqlite3

import pytest
import redis
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from fabrix_chat import i18n, outages
from fabrix_chat.services import redis_watch
from fabrix_chat.state import failures
from tests.reflex_tab import js_of


def wrapped(orig: BaseException) -> OperationalError:
    """The driver's error as SQLAlchemy raises it (`raise ... from orig`)."""
    try:
        try:
            raise orig
        except BaseException as inner:
            raise OperationalError("UPDATE messages SET content=?", {}, inner) from inner
    except OperationalError as outer:
        return outer


@pytest.mark.parametrize(
    "exc",
    [
        wrapped(ConnectionRefusedError(111, "Connection refused")),  # PostgreSQL stopped
        OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly")),
        PoolTimeout("QueuePool limit of size 10 overflow 20 reached"),
        redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused."),
        redis.TimeoutError("Timeout reading from socket"),
        redis.BusyLoadingError("Redis is loading the dataset in memory"),
    ],
)
def test_a_server_not_answering_is_said_plainly(exc) -> None:
    assert outages.text_key(exc) == "error_service_down"
    for lang in i18n.LANGUAGES:
        text = i18n.error_text(exc, lang)
        assert text == i18n.t("error_service_down", lang)
        assert not re.search(r"Error|111|QueuePool|127\.0\.0\.1|SELECT|UPDATE", text)


@pytest.mark.parametrize(
    "exc",
    [
        OSError(errno.ENOSPC, "No space left on device"),
        wrapped(sqlite3.OperationalError("database or disk is full")),
    ],
)
def test_a_full_disk_is_said_plainly(exc) -> None:
    assert outages.is_disk_full(exc)
    assert i18n.error_text(exc) == i18n.t("error_disk_full")


def test_anything_else_stays_the_generic_message() -> None:
    for exc in (ValueError("bug"), DBAPIError("SELECT", {}, Exception("syntax")), OSError(errno.EACCES, "denied")):
        assert outages.text_key(exc) is None
        assert i18n.error_text(exc) == i18n.t("error_generic")
    # A question that happens to contain the words is not a full disk.
    assert not outages.is_disk_full(ValueError("what does 'database or disk is full' mean?"))


def test_a_failed_event_shows_both_languages_and_no_internals(caplog) -> None:
    exc = redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
    failures.show_failure(exc)
    script = failures.problem_script(exc)
    texts = json.loads(re.search(r"fabrixProblem\((\{.*\})\)", script).group(1))
    assert texts == {
        lang: {"text": i18n.t("error_service_down", lang), "dismiss": i18n.t("dismiss", lang)}
        for lang in i18n.LANGUAGES
    }
    assert "127.0.0.1" not in script and "Error 111" not in script
    # One line in the log for an outage; a bug keeps its traceback.
    assert any("error_service_down" in r.getMessage() and r.exc_info is None for r in caplog.records)
    caplog.clear()
    failures.show_failure(ValueError("a bug"))
    assert any(r.exc_info for r in caplog.records)


def test_reflex_accepts_the_handler() -> None:
    """rx.App evaluates the handler's return annotation in its own module at start-up (an
    annotation it cannot resolve there stops the app)."""
    import inspect

    import reflex.app
    from reflex.event import EventSpec

    annotation = inspect.signature(failures.show_failure).return_annotation
    assert eval(annotation, vars(reflex.app)) is EventSpec  # noqa: S307 (what Reflex itself does)


def test_the_keyspace_flags_are_reflexs_own() -> None:
    from reflex.istate.manager.redis import NOTIFY_KEYSPACE_EVENTS

    assert set(redis_watch.NEEDED_FLAGS) == set(NOTIFY_KEYSPACE_EVENTS)


@pytest.mark.parametrize(
    ("current", "missing"),
    [("", "K$sgxe"), ("K$sgxe", ""), ("KA", ""), ("Ex", "K$sge"), ("AKE", ""), ("Kg", "$sxe")],
)
def test_missing_keyspace_flags(current: str, missing: str) -> None:
    assert redis_watch.missing_flags(current) == missing


def test_a_reload_with_a_message_carries_it_in_both_languages() -> None:
    """For a tab whose state the server lost (state/composer.receive_upload): the page reloads and
    then shows the message in its own language (assets/problem.js keeps it in sessionStorage)."""
    event = failures.reload_saying("error_upload_again")
    script = js_of(event)
    assert script.startswith("window.fabrixReloadSaying ? fabrixReloadSaying(")
    assert script.endswith(": location.reload()")
    texts = json.loads(re.search(r"fabrixReloadSaying\((\{.*\})\)", script).group(1))
    assert texts == {
        lang: {"text": i18n.t("error_upload_again", lang), "dismiss": i18n.t("dismiss", lang)}
        for lang in i18n.LANGUAGES
    }
