"""A tab left open longer than Reflex keeps its state (an hour on one machine; two seconds here):
the page still shows its conversation, and the next thing the user does must act on it. Asking
goes into that conversation, not a new chat; a file attached first (an upload carries no session
of its own) is not dropped in silence: the page is loaded again and asks for it again.

Not covered here: Redis coming back empty (tests/e2e/test_dependency_failures.py). Asking works
there too, but a file attached first goes nowhere, without a message: Reflex's own record of which
worker holds the tab's connection is gone with Redis, so nothing the server sends reaches the tab
until it sends an event itself."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import sign_up, start_app, stop_app
from tests.e2e.test_chat_experience import ANSWER, QUESTION, ask, wait_until_answered
from tests.e2e.test_files import chip, choose_file

pytestmark = pytest.mark.browser

EXPIRY_SECONDS = 2  # rx.Config.redis_token_expiration, which Reflex's disk state manager uses too


@pytest.fixture(scope="module")
def short_lived(tmp_path_factory, build_lock):
    with pytest.MonkeyPatch.context() as env:
        env.setenv("REFLEX_REDIS_TOKEN_EXPIRATION", str(EXPIRY_SECONDS))
        server = start_app(tmp_path_factory.mktemp("idle"))
    yield server
    stop_app(server.process)


def conversations_of(data_dir: Path) -> list[tuple[int, int]]:
    """(conversation id, its questions) of every conversation."""
    with contextlib.closing(sqlite3.connect(data_dir / "fabrix_chat.db")) as db:
        return db.execute(
            "SELECT conversation_id, COUNT(*) FROM messages WHERE role = 'user' AND current GROUP BY conversation_id"
        ).fetchall()


def answered(page: Page, count: int) -> None:
    expect(page.locator(ANSWER)).to_have_count(count)
    wait_until_answered(page)


def idle_past_expiry(page: Page) -> None:
    """No event for longer than the tab's state is kept (the disk manager purges it then)."""
    page.wait_for_timeout((EXPIRY_SECONDS + 3) * 1000)


def test_asking_after_the_tab_state_expired_goes_into_the_chat_on_the_page(short_lived, page) -> None:
    sign_up(page, short_lived.url)
    ask(page, "Where is the travel policy?")
    answered(page, 1)
    shown_at = page.url
    idle_past_expiry(page)

    ask(page, "And the expense limits?")
    answered(page, 2)
    assert page.url == shown_at
    expect(page.locator(QUESTION)).to_have_count(2)
    assert len(conversations_of(short_lived.data_dir)) == 1


def test_a_file_attached_first_after_the_tab_state_expired_is_asked_for_again(short_lived, page, tmp_path) -> None:
    sign_up(page, short_lived.url)
    ask(page, "Where is the travel policy?")
    answered(page, 1)
    shown_at = page.url
    before = conversations_of(short_lived.data_dir)
    idle_past_expiry(page)
    notes = tmp_path / "notes.txt"
    notes.write_text("Quarterly numbers, line after line.\n" * 100)

    choose_file(page, notes)
    expect(page.get_by_role("alert")).to_contain_text("Attach it again")  # on the page loaded again
    assert page.url == shown_at
    expect(page.locator(QUESTION)).to_have_count(1)  # the conversation is on the page again
    choose_file(page, notes)
    expect(chip(page)).to_contain_text("notes.txt")
    ask(page, "What is in the file?")
    answered(page, 2)
    assert page.url == shown_at
    after = conversations_of(short_lived.data_dir)
    assert len(after) == len(before)  # no new chat
